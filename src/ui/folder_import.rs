//! The "Import folder…" window: the pictures of a folder (or files dropped on the window while
//! no product is shown) that are named by a product's SKU (`SKU.jpg`, `SKU-2.jpg`, `sku_3.png`,
//! read by [`crate::sync::sku_files`]) are previewed as "file → product, position", with the
//! files left alone and why; "Apply" queues them as ordinary adds, in order. Each add is a
//! durable create in the engine's outbox, so an import cut short by a restart goes on by
//! itself; the window shows each file's state and how many are in the store, and "Cancel"
//! takes back the adds not sent yet (their outbox entries are discarded, which leaves no trace:
//! a delete would list them under "Recently deleted").
//!
//! The folder is read and matched on the runtime, never on the UI thread; answers come back as
//! [`Reply`] values inside `Message::FolderImport`.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::backend::{Backend, Message};
use super::command::Command;
pub use super::folder_plan::{Plan, PlannedFile, Reply, Source};
use super::plain_table::table_ui;
use super::typed_path;
use crate::sync::sku_files::{self, file_name, matches};
use crate::sync::{EditKind, Engine, Event, ImageId, SyncError};

/// Where one file of an applied import is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    /// Not handed to the engine yet.
    Queued,
    /// In the outbox, waiting its turn.
    Waiting(ImageId),
    Uploading {
        id: ImageId,
        sent: u64,
        total: u64,
    },
    InStore(ImageId),
    /// The engine or the store would not take it; the words say why.
    Refused(String),
    /// Taken back by Cancel before it was sent.
    Cancelled,
}

impl FileState {
    fn image(&self) -> Option<ImageId> {
        match self {
            FileState::Waiting(id) | FileState::InStore(id) => Some(*id),
            FileState::Uploading { id, .. } => Some(*id),
            _ => None,
        }
    }

    /// Still on its way: Cancel may take it back, and the store's answer is awaited.
    fn on_its_way(&self) -> bool {
        matches!(
            self,
            FileState::Queued | FileState::Waiting(_) | FileState::Uploading { .. }
        )
    }

    fn words(&self) -> String {
        match self {
            FileState::Queued => "queued".to_owned(),
            FileState::Waiting(_) => "waiting to be sent".to_owned(),
            FileState::Uploading { sent, total, .. } => {
                format!(
                    "uploading ({} of {})",
                    bytes_words(*sent),
                    bytes_words(*total)
                )
            }
            FileState::InStore(_) => "in the store".to_owned(),
            FileState::Refused(why) => format!("refused: {why}"),
            FileState::Cancelled => "cancelled (not sent)".to_owned(),
        }
    }
}

fn bytes_words(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// What the window is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for a folder.
    Choosing,
    Reading,
    Preview(Plan),
    /// Applied: each planned file's state, in the plan's order.
    Importing {
        plan: Plan,
        states: Vec<FileState>,
        /// Cancel was asked: adds that come back from now on are taken back too.
        cancelling: bool,
    },
}

/// Work the window asks of the runtime after a change of its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Read which of these images the store has.
    ReadStates(Vec<ImageId>),
    /// Take back the creates of these images, if not sent yet.
    Discard(Vec<ImageId>),
}

/// The window and its import.
#[derive(Default)]
pub struct FolderImport {
    open: bool,
    /// The folder typed (from home, like the app's other path fields).
    pub path: String,
    stage: Option<Stage>,
    /// The dropped files the plan was made of, when it was.
    dropped: Option<usize>,
    /// Set by Cancel, read by the task that hands the files to the engine.
    stop: Arc<AtomicBool>,
    problem: Option<String>,
}

impl FolderImport {
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn open(&mut self) {
        self.open = true;
    }

    /// Hides the window; an import under way goes on (the outbox sends it).
    pub fn close(&mut self) {
        self.open = false;
    }

    pub fn stage(&self) -> &Stage {
        self.stage.as_ref().unwrap_or(&Stage::Choosing)
    }

    fn importing(&self) -> bool {
        matches!(&self.stage, Some(Stage::Importing { states, .. })
            if states.iter().any(FileState::on_its_way))
    }

    /// How many of the applied files are in the store, of how many.
    pub fn progress(&self) -> Option<(usize, usize)> {
        match &self.stage {
            Some(Stage::Importing { states, .. }) => Some((
                states
                    .iter()
                    .filter(|s| matches!(s, FileState::InStore(_)))
                    .count(),
                states.len(),
            )),
            _ => None,
        }
    }

    /// Reads the typed folder (or the dropped files) and matches it on the runtime.
    pub fn read(&mut self, backend: &Backend, source: Source) {
        if self.importing() {
            self.problem = Some("Wait for the import under way, or cancel it, first.".to_owned());
            return;
        }
        self.open = true;
        self.problem = None;
        self.dropped = match &source {
            Source::Dropped(files) | Source::DroppedOn { files, .. } => Some(files.len()),
            Source::Folder(_) => None,
        };
        self.stage = Some(Stage::Reading);
        backend.run_with_engine(|engine, send| async move {
            let plan = plan(&engine, source).await;
            send(Message::FolderImport(Reply::Planned(plan)));
        });
    }

    /// Files dropped on the window while `shown` is shown. The rule: if any of them is named by
    /// the SKU of another product, the preview opens with all of them (those named by a SKU go
    /// to that product, those named by none to the product shown, after its images); if none
    /// is, they are added to the product shown as any drop is ([`Reply::AddToShown`]).
    pub fn read_drop(&mut self, backend: &Backend, files: Vec<PathBuf>, shown: i64) {
        backend.run_with_engine(|engine, send| async move {
            let source = Source::DroppedOn {
                files: files.clone(),
                shown,
            };
            let reply = match plan(&engine, source).await {
                Ok(plan) if plan.files.iter().any(|f| f.product_id != shown) => {
                    Reply::DropPlanned(plan)
                }
                // Nothing for another product (or the local copy unreadable): as before.
                _ => Reply::AddToShown {
                    product: shown,
                    files,
                },
            };
            send(Message::FolderImport(reply));
        });
    }

    /// Whether a drop cannot open a preview now: an import is under way or a folder is read.
    pub fn busy(&self) -> bool {
        self.importing() || matches!(self.stage(), Stage::Reading)
    }

    /// Reads the folder typed in the field.
    pub fn read_typed(&mut self, backend: &Backend) {
        if self.path.trim().is_empty() {
            self.problem = Some("Type the folder's path first.".to_owned());
            return;
        }
        let dir = typed_path::resolve(&self.path);
        self.read(backend, Source::Folder(dir));
    }

    /// "Apply": hands the planned files to the engine, in order, one after the other.
    pub fn apply(&mut self, backend: &Backend) {
        let Some(Stage::Preview(plan)) = self.stage.take() else {
            return;
        };
        let files: Vec<(i64, PathBuf)> = plan
            .files
            .iter()
            .map(|f| (f.product_id, f.file.clone()))
            .collect();
        self.stage = Some(Stage::Importing {
            states: vec![FileState::Queued; plan.files.len()],
            plan,
            cancelling: false,
        });
        self.stop = Arc::new(AtomicBool::new(false));
        let stop = self.stop.clone();
        backend.run_with_engine(|engine, send| async move {
            for (index, (product, file)) in files.into_iter().enumerate() {
                if stop.load(Ordering::SeqCst) {
                    send(Message::FolderImport(Reply::Stopped { index }));
                    return;
                }
                let result = engine
                    .add_file(product, &file, "")
                    .await
                    .map_err(|err| err.to_string());
                send(Message::FolderImport(Reply::Queued { index, result }));
            }
        });
    }

    /// "Cancel": no more files go to the engine, and those queued but not sent are taken back.
    pub fn cancel(&mut self, backend: &Backend) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(want) = self.cancel_state() {
            self.run(backend, want);
        }
    }

    /// Marks the import as cancelling; the creates to take back now.
    pub fn cancel_state(&mut self) -> Option<Want> {
        let Some(Stage::Importing {
            states, cancelling, ..
        }) = &mut self.stage
        else {
            return None;
        };
        *cancelling = true;
        // The one uploading is already going out: it is left to land.
        let waiting: Vec<ImageId> = states
            .iter()
            .filter_map(|s| match s {
                FileState::Waiting(id) => Some(*id),
                _ => None,
            })
            .collect();
        (!waiting.is_empty()).then_some(Want::Discard(waiting))
    }

    /// An answer of the runtime; asks for the follow-up work.
    pub fn receive(&mut self, backend: &Backend, reply: Reply) {
        if let Some(want) = self.take_reply(reply) {
            self.run(backend, want);
        }
    }

    /// An engine event: upload bytes, refusals, and changes of the import's products (after
    /// which the store's ids are read again).
    pub fn event(&mut self, backend: &Backend, event: &Event) {
        if let Some(want) = self.take_event(event) {
            self.run(backend, want);
        }
    }

    fn run(&self, backend: &Backend, want: Want) {
        match want {
            Want::ReadStates(ids) => backend.run_with_engine(|engine, send| async move {
                let reply = match in_store(&engine, &ids).await {
                    Ok(ids) => Reply::InStore(ids),
                    Err(err) => {
                        Reply::Error(format!("Could not read the local copy of the store: {err}"))
                    }
                };
                send(Message::FolderImport(reply));
            }),
            Want::Discard(ids) => backend.run_with_engine(|engine, send| async move {
                let reply = match discard_creates(&engine, &ids).await {
                    Ok(ids) => Reply::Cancelled(ids),
                    Err(err) => Reply::Error(format!("Could not cancel the import: {err}")),
                };
                send(Message::FolderImport(reply));
            }),
        }
    }

    /// The state change of an answer (no I/O); the follow-up work it asks for.
    pub fn take_reply(&mut self, reply: Reply) -> Option<Want> {
        match reply {
            Reply::Planned(Ok(plan)) => {
                self.stage = Some(Stage::Preview(plan));
                None
            }
            Reply::Planned(Err(why)) => {
                self.stage = Some(Stage::Choosing);
                self.problem = Some(why);
                None
            }
            Reply::Error(why) => {
                self.problem = Some(why);
                None
            }
            Reply::DropPlanned(plan) => {
                self.open = true;
                self.problem = None;
                self.dropped = Some(plan.files.len() + plan.left_alone.len());
                self.stage = Some(Stage::Preview(plan));
                None
            }
            // The window handles it (`ImageDeskApp::receive` adds the files).
            Reply::AddToShown { .. } => None,
            Reply::Queued { index, result } => {
                let Some(Stage::Importing {
                    states, cancelling, ..
                }) = &mut self.stage
                else {
                    return None;
                };
                let state = states.get_mut(index)?;
                match result {
                    Ok(id) => {
                        *state = FileState::Waiting(id);
                        if *cancelling {
                            return Some(Want::Discard(vec![id]));
                        }
                        // It may have gone out before this answer came: look.
                        Some(Want::ReadStates(vec![id]))
                    }
                    Err(why) => {
                        *state = FileState::Refused(why);
                        None
                    }
                }
            }
            Reply::Stopped { index } => {
                if let Some(Stage::Importing { states, .. }) = &mut self.stage {
                    for state in states.iter_mut().skip(index) {
                        if *state == FileState::Queued {
                            *state = FileState::Cancelled;
                        }
                    }
                }
                None
            }
            Reply::InStore(ids) => {
                self.each_state(|state| {
                    if state.on_its_way()
                        && let Some(id) = state.image()
                        && ids.contains(&id)
                    {
                        *state = FileState::InStore(id);
                    }
                });
                None
            }
            Reply::Cancelled(ids) => {
                self.each_state(|state| {
                    if state.on_its_way() && state.image().is_some_and(|id| ids.contains(&id)) {
                        *state = FileState::Cancelled;
                    }
                });
                None
            }
        }
    }

    /// The state change of an engine event (no I/O); the follow-up work it asks for.
    pub fn take_event(&mut self, event: &Event) -> Option<Want> {
        let Some(Stage::Importing { plan, states, .. }) = &mut self.stage else {
            return None;
        };
        match event {
            Event::UploadProgress { image, sent, total } => {
                for state in states.iter_mut() {
                    if state.on_its_way() && state.image() == Some(*image) {
                        *state = FileState::Uploading {
                            id: *image,
                            sent: *sent,
                            total: *total,
                        };
                    }
                }
                None
            }
            Event::EditFailed {
                kind: EditKind::Create,
                image: Some(image),
                message,
                ..
            } => {
                for state in states.iter_mut() {
                    if state.on_its_way() && state.image() == Some(*image) {
                        *state = FileState::Refused(message.clone());
                    }
                }
                None
            }
            Event::ImagesChanged { product_id } => {
                let awaited: Vec<ImageId> = plan
                    .files
                    .iter()
                    .zip(states.iter())
                    .filter(|(file, state)| file.product_id == *product_id && state.on_its_way())
                    .filter_map(|(_, state)| state.image())
                    .collect();
                (!awaited.is_empty()).then_some(Want::ReadStates(awaited))
            }
            Event::ProductsChanged => {
                let awaited: Vec<ImageId> = states
                    .iter()
                    .filter(|s| s.on_its_way())
                    .filter_map(FileState::image)
                    .collect();
                (!awaited.is_empty()).then_some(Want::ReadStates(awaited))
            }
            _ => None,
        }
    }

    fn each_state(&mut self, mut change: impl FnMut(&mut FileState)) {
        if let Some(Stage::Importing { states, .. }) = &mut self.stage {
            states.iter_mut().for_each(&mut change);
        }
    }

    /// Draws the window.
    pub fn folder_import_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) {
        let mut open = self.open;
        egui::Window::new("Import folder")
            .open(&mut open)
            .default_size([640.0, 420.0])
            .resizable(true)
            .collapsible(false)
            .show(ctx, |ui| {
                self.folder_field_ui(ui, commands);
                if let Some(problem) = &self.problem {
                    ui.colored_label(ui.visuals().warn_fg_color, problem);
                }
                ui.separator();
                match self.stage() {
                    Stage::Choosing => {
                        ui.label(
                            "Pictures named by a product's SKU (SKU.jpg, SKU-2.jpg, sku_3.png) \
                             are added after that product's images, in number order.",
                        );
                    }
                    Stage::Reading => {
                        ui.horizontal(|ui| {
                            ui.spinner();
                            ui.label("Reading the folder…");
                        });
                    }
                    Stage::Preview(plan) => preview_ui(ui, plan, commands),
                    Stage::Importing { plan, states, .. } => {
                        importing_ui(ui, plan, states, commands);
                    }
                }
            });
        if !open {
            commands.push(Command::CloseFolderImport);
        }
    }

    fn folder_field_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let busy = self.importing() || matches!(self.stage(), Stage::Reading);
        ui.horizontal(|ui| {
            let label = ui.label("Folder");
            let field = ui
                .add_enabled(
                    !busy,
                    egui::TextEdit::singleline(&mut self.path)
                        .hint_text("~/Pictures/new")
                        .desired_width(360.0),
                )
                .labelled_by(label.id);
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui
                .add_enabled(!busy, egui::Button::new("Read folder"))
                .on_hover_text("List the folder's pictures and the products they go to")
                .clicked()
                || (entered && !busy)
            {
                commands.push(Command::ReadImportFolder);
            }
        });
        if let Some(count) = self.dropped {
            ui.label(format!("{count} dropped files are shown below."));
        }
    }
}

fn preview_ui(ui: &mut egui::Ui, plan: &Plan, commands: &mut Vec<Command>) {
    if plan.files.is_empty() {
        ui.label("No file here is named by a product's SKU.");
    } else {
        ui.label(format!(
            "{} pictures to add, {} files left alone.",
            plan.files.len(),
            plan.left_alone.len()
        ));
    }
    if let Some(shown) = plan.files.iter().find(|f| !f.named_by_sku) {
        let count = plan.files.iter().filter(|f| !f.named_by_sku).count();
        ui.label(format!(
            "Dropped files named by a product's SKU go to that product; the {count} named by none \
             go to {}, the product shown, after its images.",
            shown.product_name
        ));
    }
    let rows: Vec<[String; 4]> = plan
        .files
        .iter()
        .map(|f| {
            [
                file_name(&f.file),
                f.product_name.clone(),
                if f.named_by_sku {
                    f.sku.clone()
                } else {
                    "(dropped here, no SKU)".to_owned()
                },
                f.position.to_string(),
            ]
        })
        .collect();
    egui::ScrollArea::vertical()
        .max_height((ui.available_height() - 40.0).max(80.0))
        .show(ui, |ui| {
            if !rows.is_empty() {
                table_ui(
                    ui,
                    "planned",
                    &["File", "Product", "SKU", "Position"],
                    &rows,
                );
            }
            if !plan.left_alone.is_empty() {
                ui.add_space(8.0);
                ui.strong("Left alone");
                let rows: Vec<[String; 2]> = plan
                    .left_alone
                    .iter()
                    .map(|(file, why)| [file_name(file), why.words()])
                    .collect();
                table_ui(ui, "left alone", &["File", "Why"], &rows);
            }
        });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!plan.files.is_empty(), egui::Button::new("Apply"))
            .on_hover_text("Add these pictures; they upload in the background")
            .clicked()
        {
            commands.push(Command::ApplyFolderImport);
        }
    });
}

fn importing_ui(ui: &mut egui::Ui, plan: &Plan, states: &[FileState], commands: &mut Vec<Command>) {
    let in_store = states
        .iter()
        .filter(|s| matches!(s, FileState::InStore(_)))
        .count();
    let total = states.len();
    let fraction = if total == 0 {
        1.0
    } else {
        in_store as f32 / total as f32
    };
    ui.add(
        egui::ProgressBar::new(fraction)
            .text(format!("{in_store} of {total} pictures in the store")),
    );
    let rows: Vec<[String; 4]> = plan
        .files
        .iter()
        .zip(states)
        .map(|(f, state)| {
            [
                file_name(&f.file),
                f.product_name.clone(),
                f.position.to_string(),
                state.words(),
            ]
        })
        .collect();
    egui::ScrollArea::vertical()
        .max_height((ui.available_height() - 40.0).max(80.0))
        .show(ui, |ui| {
            table_ui(
                ui,
                "importing",
                &["File", "Product", "Position", "State"],
                &rows,
            );
        });
    let going = states.iter().any(FileState::on_its_way);
    ui.horizontal(|ui| {
        if ui
            .add_enabled(going, egui::Button::new("Cancel"))
            .on_hover_text("Take back the pictures not sent yet; those in the store stay")
            .clicked()
        {
            commands.push(Command::CancelFolderImport);
        }
        if !going {
            ui.label("Done.");
        }
    });
}

/// Reads and matches the files (on the runtime).
async fn plan(engine: &Engine, source: Source) -> Result<Plan, String> {
    let mut shown = None;
    let files = match source {
        Source::DroppedOn {
            mut files,
            shown: product,
        } => {
            shown = Some(product);
            files.sort();
            files
        }
        Source::Folder(dir) => {
            let shown = dir.display().to_string();
            tokio::task::spawn_blocking(move || sku_files::folder_files(&dir))
                .await
                .map_err(|err| format!("Could not read the folder {shown}: {err}"))?
                .map_err(|err| format!("Could not read the folder {shown}: {err}"))?
        }
        Source::Dropped(mut files) => {
            files.sort();
            files
        }
    };
    let unreadable = |err: SyncError| format!("Could not read the local copy of the store: {err}");
    let products = engine.products().await.map_err(unreadable)?;
    // The products named are counted as the replica has them now (pending adds included), so
    // the positions shown are where the pictures will go.
    let (first, _) = matches(&files, &products, &HashMap::new());
    let mut counts = HashMap::new();
    let named = first.iter().map(|m| m.product_id);
    for id in named.chain(shown).collect::<BTreeSet<_>>() {
        counts.insert(id, engine.images(id).await.map_err(unreadable)?.len());
    }
    let (matched, left_alone) = matches(&files, &products, &counts);
    Ok(plan_files(&products, &counts, matched, left_alone, shown))
}

/// The plan of matched files; with `shown` (a drop on the product shown), the files named by
/// no SKU go to that product, after its images and the files named by its own SKU.
fn plan_files(
    products: &[crate::sync::ProductSummary],
    counts: &HashMap<i64, usize>,
    matched: Vec<sku_files::Match>,
    left_alone: Vec<(PathBuf, sku_files::Unmatched)>,
    shown: Option<i64>,
) -> Plan {
    let name = |id: i64| {
        products
            .iter()
            .find(|p| p.id == id)
            .map(|p| (p.name.clone(), p.sku.clone()))
            .unwrap_or_default()
    };
    let mut files: Vec<PlannedFile> = matched
        .into_iter()
        .map(|m| PlannedFile {
            product_name: name(m.product_id).0,
            file: m.file,
            product_id: m.product_id,
            sku: m.sku,
            position: m.position,
            named_by_sku: true,
        })
        .collect();
    let Some(shown) = shown else {
        return Plan { files, left_alone };
    };
    let (to_shown, left_alone): (Vec<_>, Vec<_>) = left_alone
        .into_iter()
        .partition(|(_, why)| *why == sku_files::Unmatched::NoSuchSku);
    let (product_name, sku) = name(shown);
    let before = counts.get(&shown).copied().unwrap_or(0)
        + files.iter().filter(|f| f.product_id == shown).count();
    for (index, (file, _)) in to_shown.into_iter().enumerate() {
        files.push(PlannedFile {
            file,
            product_id: shown,
            product_name: product_name.clone(),
            sku: sku.clone(),
            position: before + index + 1,
            named_by_sku: false,
        });
    }
    // Each product's files together, the shown one's named files before the others (stable).
    files.sort_by_key(|f| f.product_id);
    Plan { files, left_alone }
}

/// Which of `ids` the store has (their create was sent).
async fn in_store(engine: &Engine, ids: &[ImageId]) -> Result<Vec<ImageId>, SyncError> {
    let mut found = Vec::new();
    for &id in ids {
        if engine
            .image(id)
            .await?
            .is_some_and(|i| i.server_id.is_some())
        {
            found.push(id);
        }
    }
    Ok(found)
}

/// Discards the outbox creates of `ids` that were not sent; returns the images taken back.
/// An entry sent meanwhile is gone from the outbox, so it stays in the store.
pub async fn discard_creates(engine: &Engine, ids: &[ImageId]) -> Result<Vec<ImageId>, SyncError> {
    let mut taken_back = Vec::new();
    for entry in engine.outbox().await? {
        let Some(image) = entry.image else { continue };
        if entry.kind != Some(EditKind::Create) || !ids.contains(&image) {
            continue;
        }
        match engine.discard(entry.seq).await {
            Ok(()) => taken_back.push(image),
            Err(SyncError::UnknownEdit(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(taken_back)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::sku_files::Unmatched;

    fn planned(n: usize) -> Plan {
        Plan {
            files: (0..n)
                .map(|i| PlannedFile {
                    file: PathBuf::from(format!("SKU-{}.jpg", i + 1)),
                    product_id: 7,
                    product_name: "Lamp".to_owned(),
                    sku: "SKU".to_owned(),
                    position: i + 1,
                    named_by_sku: true,
                })
                .collect(),
            left_alone: vec![(PathBuf::from("other.jpg"), Unmatched::NoSuchSku)],
        }
    }

    fn importing(n: usize) -> FolderImport {
        let mut window = FolderImport::default();
        assert_eq!(window.take_reply(Reply::Planned(Ok(planned(n)))), None);
        let Some(Stage::Preview(plan)) = window.stage.take() else {
            panic!("no preview");
        };
        window.stage = Some(Stage::Importing {
            states: vec![FileState::Queued; plan.files.len()],
            plan,
            cancelling: false,
        });
        window
    }

    fn states(window: &FolderImport) -> Vec<FileState> {
        match window.stage() {
            Stage::Importing { states, .. } => states.clone(),
            other => panic!("not importing: {other:?}"),
        }
    }

    #[test]
    fn a_file_goes_from_queued_to_uploading_to_in_the_store() {
        let mut window = importing(2);
        let id = ImageId(-5);
        let want = window.take_reply(Reply::Queued {
            index: 0,
            result: Ok(id),
        });
        assert_eq!(want, Some(Want::ReadStates(vec![id])));
        window.take_event(&Event::UploadProgress {
            image: id,
            sent: 10,
            total: 40,
        });
        assert_eq!(
            states(&window)[0],
            FileState::Uploading {
                id,
                sent: 10,
                total: 40
            }
        );
        assert_eq!(
            window.take_event(&Event::ImagesChanged { product_id: 7 }),
            Some(Want::ReadStates(vec![id]))
        );
        window.take_reply(Reply::InStore(vec![id]));
        assert_eq!(states(&window)[0], FileState::InStore(id));
        assert_eq!(window.progress(), Some((1, 2)));
        // Another product's change asks nothing.
        assert_eq!(
            window.take_event(&Event::ImagesChanged { product_id: 8 }),
            None
        );
    }

    #[test]
    fn a_refused_create_and_a_refused_add_are_shown_with_their_reasons() {
        let mut window = importing(2);
        window.take_reply(Reply::Queued {
            index: 0,
            result: Err("not a picture".to_owned()),
        });
        window.take_reply(Reply::Queued {
            index: 1,
            result: Ok(ImageId(-2)),
        });
        window.take_event(&Event::EditFailed {
            seq: 3,
            kind: EditKind::Create,
            image: Some(ImageId(-2)),
            message: "too large".to_owned(),
        });
        assert_eq!(
            states(&window),
            vec![
                FileState::Refused("not a picture".to_owned()),
                FileState::Refused("too large".to_owned())
            ]
        );
        assert!(!window.importing(), "nothing is on its way");
    }

    #[test]
    fn cancel_takes_back_the_waiting_ones_and_those_queued_after_it_and_keeps_the_rest() {
        let mut window = importing(4);
        window.take_reply(Reply::Queued {
            index: 0,
            result: Ok(ImageId(-1)),
        });
        window.take_reply(Reply::InStore(vec![ImageId(-1)]));
        window.take_reply(Reply::Queued {
            index: 1,
            result: Ok(ImageId(-2)),
        });
        assert_eq!(
            window.cancel_state(),
            Some(Want::Discard(vec![ImageId(-2)]))
        );
        // The add under way when Cancel was pressed comes back: it is taken back too.
        assert_eq!(
            window.take_reply(Reply::Queued {
                index: 2,
                result: Ok(ImageId(-3)),
            }),
            Some(Want::Discard(vec![ImageId(-3)]))
        );
        window.take_reply(Reply::Stopped { index: 3 });
        window.take_reply(Reply::Cancelled(vec![ImageId(-2), ImageId(-3)]));
        assert_eq!(
            states(&window),
            vec![
                FileState::InStore(ImageId(-1)),
                FileState::Cancelled,
                FileState::Cancelled,
                FileState::Cancelled,
            ]
        );
        assert_eq!(window.progress(), Some((1, 4)));
    }

    fn product(id: i64, name: &str, sku: &str) -> crate::sync::ProductSummary {
        crate::sync::ProductSummary {
            id,
            name: name.to_owned(),
            sku: sku.to_owned(),
            image_count: 0,
            has_thumbnail: false,
            pending_edits: 0,
        }
    }

    #[test]
    fn files_dropped_on_the_product_shown_and_named_by_no_sku_go_to_it_after_the_others() {
        let products = [product(1, "Lamp", "LAMP"), product(2, "Mug", "MUG")];
        let files: Vec<PathBuf> = ["MUG.jpg", "holiday.jpg", "LAMP-2.jpg", "notes.txt"]
            .iter()
            .map(PathBuf::from)
            .collect();
        let counts = HashMap::from([(1, 3), (2, 1)]);
        let (matched, left_alone) = matches(&files, &products, &counts);
        let plan = plan_files(&products, &counts, matched, left_alone, Some(1));
        let rows: Vec<(String, i64, usize, bool)> = plan
            .files
            .iter()
            .map(|f| (file_name(&f.file), f.product_id, f.position, f.named_by_sku))
            .collect();
        assert_eq!(
            rows,
            [
                ("LAMP-2.jpg".to_owned(), 1, 4, true),
                ("holiday.jpg".to_owned(), 1, 5, false),
                ("MUG.jpg".to_owned(), 2, 2, true),
            ]
            .to_vec()
        );
        assert_eq!(
            plan.left_alone,
            [(PathBuf::from("notes.txt"), Unmatched::NotAPicture)]
        );
    }

    #[test]
    fn a_drop_that_names_another_product_opens_the_preview() {
        let mut window = FolderImport::default();
        assert!(!window.is_open());
        window.take_reply(Reply::DropPlanned(planned(2)));
        assert!(window.is_open());
        assert!(matches!(window.stage(), Stage::Preview(plan) if plan.files.len() == 2));
    }

    #[test]
    fn a_folder_that_cannot_be_read_goes_back_to_choosing_with_the_reason() {
        let mut window = FolderImport::default();
        window.take_reply(Reply::Planned(Err("Could not read the folder".to_owned())));
        assert_eq!(window.stage(), &Stage::Choosing);
        assert_eq!(window.problem.as_deref(), Some("Could not read the folder"));
    }
}
