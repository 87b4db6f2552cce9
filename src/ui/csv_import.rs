//! The catalogue CSV window: "Export catalogue CSV…" writes every image of the local copy in
//! the columns of `imagedesk export`; "Import CSV…" reads a file in those columns, plans it
//! against the local copy (the same planner as `imagedesk import`:
//! [`crate::sync::catalogue_csv`]) and previews every edit it will queue in plain words —
//! product, picture, "description: “old” becomes “new”" (the font has no arrow), "move to position N", "make thumbnail",
//! "add file X at position N" — or the file's bad rows by line, in which case nothing can be
//! applied. Apply queues exactly the planned edits as ordinary edits of the engine's outbox
//! (sent once, kept across restarts, waiting while offline).
//!
//! Reading, planning, queuing and writing run on the runtime, never on the UI thread; the
//! answers come back as [`CsvReply`] values inside `Message::CatalogueCsv`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::backend::{Backend, Message};
use super::command::Command;
pub use super::csv_reply::{CsvMode, CsvReply, Exported, NotPlanned};
use super::notices::Notice;
use super::plain_table::table_ui;
use super::typed_path;
use crate::durable;
use crate::sync::catalogue_csv::{self, CsvPlan, PlanError, Planned, Problem, Source};
use crate::sync::{Engine, LocalImage, SyncError};

/// What the window is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsvStage {
    /// Waiting for a path.
    Idle,
    Exporting,
    Exported(Exported),
    Planning,
    Preview(CsvPlan),
    /// The file has bad rows: nothing can be applied.
    Problems(Vec<Problem>),
    Applying,
    /// The plan is queued: this many edits.
    Applied(usize),
}

impl CsvStage {
    /// The stage in a word: "idle", "exporting", "exported", "planning", "preview",
    /// "problems", "applying", "applied".
    pub fn name(&self) -> &'static str {
        match self {
            CsvStage::Idle => "idle",
            CsvStage::Exporting => "exporting",
            CsvStage::Exported(_) => "exported",
            CsvStage::Planning => "planning",
            CsvStage::Preview(_) => "preview",
            CsvStage::Problems(_) => "problems",
            CsvStage::Applying => "applying",
            CsvStage::Applied(_) => "applied",
        }
    }

    fn busy(&self) -> bool {
        matches!(
            self,
            CsvStage::Exporting | CsvStage::Planning | CsvStage::Applying
        )
    }
}

/// One planned edit in words, as the preview lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRow {
    pub product: String,
    pub picture: String,
    pub change: String,
}

/// The window.
pub struct CatalogueCsv {
    open: bool,
    mode: CsvMode,
    /// The file typed (from home, like the app's other path fields).
    pub path: String,
    stage: CsvStage,
    problem: Option<String>,
}

impl Default for CatalogueCsv {
    fn default() -> Self {
        CatalogueCsv {
            open: false,
            mode: CsvMode::Import,
            path: String::new(),
            stage: CsvStage::Idle,
            problem: None,
        }
    }
}

impl CatalogueCsv {
    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn stage(&self) -> &CsvStage {
        &self.stage
    }

    pub fn mode(&self) -> CsvMode {
        self.mode
    }

    /// Opens the window for `mode`; a plan shown or work under way stays.
    pub fn open(&mut self, mode: CsvMode) {
        self.open = true;
        if self.mode != mode && !self.stage.busy() {
            self.stage = CsvStage::Idle;
            self.problem = None;
        }
        self.mode = mode;
    }

    /// Hides the window and drops a plan not applied (an export or apply under way finishes).
    pub fn close(&mut self) {
        self.open = false;
        if matches!(self.stage, CsvStage::Preview(_) | CsvStage::Problems(_)) {
            self.stage = CsvStage::Idle;
        }
    }

    /// The typed path, or `None` when nothing is typed (the dialog is asked for instead).
    pub fn typed(&self) -> Option<PathBuf> {
        let text = self.path.trim();
        (!text.is_empty()).then(|| typed_path::resolve(text))
    }

    /// Exports to, or plans, `path` (typed or chosen in the dialog), as the mode says.
    pub fn submit(&mut self, backend: &Backend, path: PathBuf) {
        if self.stage.busy() {
            return;
        }
        self.open = true;
        self.problem = None;
        self.path = path.display().to_string();
        match self.mode {
            CsvMode::Export => {
                self.stage = CsvStage::Exporting;
                backend.run_with_engine(|engine, send| async move {
                    let result = export(&engine, path).await;
                    send(Message::CatalogueCsv(CsvReply::Exported(result)));
                });
            }
            CsvMode::Import => {
                self.stage = CsvStage::Planning;
                backend.run_with_engine(|engine, send| async move {
                    let result = plan(&engine, &path).await;
                    send(Message::CatalogueCsv(CsvReply::Planned(result)));
                });
            }
        }
    }

    /// "Apply": queues the previewed plan.
    pub fn apply(&mut self, backend: &Backend) {
        let CsvStage::Preview(plan) = &self.stage else {
            return;
        };
        if plan.edits.is_empty() {
            return;
        }
        let plan = plan.clone();
        self.stage = CsvStage::Applying;
        backend.run_with_engine(|engine, send| async move {
            let result = catalogue_csv::queue(&engine, &plan.edits, &plan.images)
                .await
                .map(|_| plan.edits.len())
                .map_err(|err| format!("Nothing was queued: {err}"));
            send(Message::CatalogueCsv(CsvReply::Applied(result)));
        });
    }

    /// An answer of the runtime (no I/O); a notice for the corner, when it merits one.
    pub fn receive(&mut self, reply: CsvReply) -> Option<Notice> {
        match reply {
            CsvReply::Exported(Ok(done)) => {
                let notice = Notice::success(exported_words(&done));
                self.stage = CsvStage::Exported(done);
                Some(notice)
            }
            CsvReply::Exported(Err(why)) => {
                self.stage = CsvStage::Idle;
                self.problem = Some(why.clone());
                Some(Notice::error(why))
            }
            CsvReply::Planned(Ok(plan)) => {
                self.stage = CsvStage::Preview(plan);
                None
            }
            CsvReply::Planned(Err(NotPlanned::Problems(problems))) => {
                self.stage = CsvStage::Problems(problems);
                None
            }
            CsvReply::Planned(Err(NotPlanned::Failed(why))) => {
                self.stage = CsvStage::Idle;
                self.problem = Some(why);
                None
            }
            CsvReply::Applied(Ok(count)) => {
                self.stage = CsvStage::Applied(count);
                Some(Notice::success(applied_words(count)))
            }
            CsvReply::Applied(Err(why)) => {
                self.stage = CsvStage::Idle;
                self.problem = Some(why.clone());
                Some(Notice::error(why))
            }
        }
    }

    /// The previewed edits in words (tests read them).
    pub fn preview(&self) -> Option<Vec<PreviewRow>> {
        match &self.stage {
            CsvStage::Preview(plan) => Some(preview_rows(plan)),
            _ => None,
        }
    }

    /// Draws the window.
    pub fn catalogue_csv_ui(&mut self, ctx: &egui::Context, commands: &mut Vec<Command>) {
        let mut open = self.open;
        let title = match self.mode {
            CsvMode::Export => "Export catalogue CSV",
            CsvMode::Import => "Import CSV",
        };
        egui::Window::new(title)
            .id(egui::Id::unique("catalogue-csv"))
            .open(&mut open)
            .default_size([720.0, 420.0])
            .resizable(true)
            .collapsible(false)
            .show(ctx, |ui| {
                self.path_field_ui(ui, commands);
                if let Some(problem) = &self.problem {
                    ui.colored_label(ui.visuals().warn_fg_color, problem);
                }
                ui.separator();
                match &self.stage {
                    CsvStage::Idle => {
                        ui.label(match self.mode {
                            CsvMode::Export => {
                                "Every image of the store's local copy, one row each: \
                                 product_id, sku, image_id, sort_order, is_thumbnail, \
                                 description, source (the original's address)."
                            }
                            CsvMode::Import => {
                                "A file in the export's columns: what differs from the store \
                                 is changed (description, order, thumbnail), rows without an \
                                 image_id add the picture in source; nothing is deleted. You \
                                 see every change before anything is queued."
                            }
                        });
                    }
                    CsvStage::Exporting => busy_ui(ui, "Writing the catalogue…"),
                    CsvStage::Planning => busy_ui(ui, "Reading the file…"),
                    CsvStage::Applying => busy_ui(ui, "Queuing the edits…"),
                    CsvStage::Exported(done) => {
                        ui.label(exported_words(done));
                    }
                    CsvStage::Applied(count) => {
                        ui.label(applied_words(*count));
                    }
                    CsvStage::Problems(problems) => problems_ui(ui, problems),
                    CsvStage::Preview(plan) => preview_ui(ui, plan, commands),
                }
            });
        let escape = ctx.input(|i| i.key_pressed(egui::Key::Escape));
        if !open || escape {
            commands.push(Command::CloseCatalogueCsv);
        }
    }

    fn path_field_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let busy = self.stage.busy();
        ui.horizontal(|ui| {
            let label = ui.label("CSV file");
            let field = ui
                .add_enabled(
                    !busy,
                    egui::TextEdit::singleline(&mut self.path)
                        .hint_text("~/catalogue.csv")
                        .desired_width(340.0),
                )
                .labelled_by(label.id)
                .on_hover_text("A path from your home folder, or an absolute one");
            let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if ui
                .add_enabled(!busy, egui::Button::new("Choose…"))
                .on_hover_text("Pick the file in a file dialog")
                .clicked()
            {
                commands.push(Command::ChooseCatalogueCsv);
            }
            let (button, hint) = match self.mode {
                CsvMode::Export => ("Export", "Write every image of the store to this file"),
                CsvMode::Import => (
                    "Read and preview",
                    "Read the file and list the edits it asks for; nothing is queued yet",
                ),
            };
            if ui
                .add_enabled(!busy, egui::Button::new(button))
                .on_hover_text(hint)
                .clicked()
                || (entered && !busy)
            {
                commands.push(Command::SubmitCatalogueCsv);
            }
        });
    }
}

fn busy_ui(ui: &mut egui::Ui, words: &str) {
    ui.horizontal(|ui| {
        ui.spinner();
        ui.label(words);
    });
}

fn exported_words(done: &Exported) -> String {
    let mut words = format!(
        "Exported {} images of {} products to {}.",
        done.images,
        done.products,
        done.path.display()
    );
    if done.unsent > 0 {
        words.push_str(&format!(
            " {} pictures not in the store yet are left out (they have no id).",
            done.unsent
        ));
    }
    words
}

fn applied_words(count: usize) -> String {
    format!(
        "Queued {count} {}; they are sent in the background (Pending changes lists those waiting).",
        if count == 1 { "edit" } else { "edits" }
    )
}

fn problems_ui(ui: &mut egui::Ui, problems: &[Problem]) {
    ui.colored_label(
        ui.visuals().warn_fg_color,
        format!(
            "This file cannot be imported: {} {}. Nothing will be queued; fix the file and read it again.",
            problems.len(),
            if problems.len() == 1 {
                "row is wrong"
            } else {
                "rows are wrong"
            }
        ),
    );
    let rows: Vec<[String; 2]> = problems
        .iter()
        .map(|p| {
            [
                p.line
                    .map_or_else(|| "—".to_owned(), |l| format!("line {l}")),
                p.reason.clone(),
            ]
        })
        .collect();
    egui::ScrollArea::vertical()
        .max_height((ui.available_height() - 8.0).max(80.0))
        .show(ui, |ui| {
            table_ui(ui, "problems", &["Line", "Problem"], &rows)
        });
}

fn preview_ui(ui: &mut egui::Ui, plan: &CsvPlan, commands: &mut Vec<Command>) {
    ui.label(summary_words(plan));
    let rows: Vec<[String; 3]> = preview_rows(plan)
        .into_iter()
        .map(|r| [r.product, r.picture, r.change])
        .collect();
    egui::ScrollArea::vertical()
        .max_height((ui.available_height() - 40.0).max(80.0))
        .show(ui, |ui| {
            if !rows.is_empty() {
                table_ui(ui, "planned", &["Product", "Picture", "Change"], &rows);
            }
        });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!plan.edits.is_empty(), egui::Button::new("Apply"))
            .on_hover_text("Queue these edits; they are sent in the background")
            .on_disabled_hover_text("The file asks for no change")
            .clicked()
        {
            commands.push(Command::ApplyCsvImport);
        }
        if ui
            .button("Cancel")
            .on_hover_text("Queue nothing (Esc)")
            .clicked()
        {
            commands.push(Command::CloseCatalogueCsv);
        }
    });
}

/// "3 edits from 12 rows: 1 description, 1 new order, 1 new picture."
pub fn summary_words(plan: &CsvPlan) -> String {
    if plan.edits.is_empty() {
        return format!(
            "No change: the {} rows say what the store has already.",
            plan.rows
        );
    }
    let count = |kind: fn(&Planned) -> bool| plan.edits.iter().filter(|e| kind(e)).count();
    let parts = [
        (
            count(|e| matches!(e, Planned::Describe { .. })),
            "description",
            "descriptions",
        ),
        (
            count(|e| matches!(e, Planned::Thumbnail { .. })),
            "thumbnail",
            "thumbnails",
        ),
        (
            count(|e| matches!(e, Planned::Reorder { .. })),
            "new order",
            "new orders",
        ),
        (
            count(|e| matches!(e, Planned::Add { .. })),
            "new picture",
            "new pictures",
        ),
    ];
    let parts: Vec<String> = parts
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if *n == 1 { one } else { many }))
        .collect();
    format!(
        "{} {} from {} rows: {}.",
        plan.edits.len(),
        if plan.edits.len() == 1 {
            "edit"
        } else {
            "edits"
        },
        plan.rows,
        parts.join(", ")
    )
}

/// Every planned edit in words: one row per description, thumbnail and new picture, and one
/// per picture a new order moves.
pub fn preview_rows(plan: &CsvPlan) -> Vec<PreviewRow> {
    let product = |id: i64| {
        plan.products.get(&id).map_or_else(
            || format!("product {id}"),
            |p| {
                if p.sku.trim().is_empty() {
                    p.name.clone()
                } else {
                    format!("{} ({})", p.name, p.sku)
                }
            },
        )
    };
    let images = |id: i64| plan.images.get(&id).map_or(&[][..], Vec::as_slice);
    let picture = |product_id: i64, image: crate::sync::ImageId| {
        let images = images(product_id);
        match images.iter().position(|i| i.id == image) {
            Some(at) => picture_words(at + 1, &images[at]),
            None => "a picture".to_owned(),
        }
    };
    let mut added: BTreeMap<i64, usize> = BTreeMap::new();
    let mut rows = Vec::new();
    for edit in &plan.edits {
        match edit {
            Planned::Describe {
                product_id,
                image,
                old,
                text,
                ..
            } => rows.push(PreviewRow {
                product: product(*product_id),
                picture: picture(*product_id, *image),
                change: format!("description: {} becomes {}", quoted(old), quoted(text)),
            }),
            Planned::Thumbnail {
                product_id, image, ..
            } => rows.push(PreviewRow {
                product: product(*product_id),
                picture: picture(*product_id, *image),
                change: "make thumbnail".to_owned(),
            }),
            Planned::Reorder {
                product_id, order, ..
            } => {
                let now = images(*product_id);
                for (to, id) in order.iter().enumerate() {
                    let from = now.iter().position(|i| i.id == *id);
                    if from != Some(to) {
                        rows.push(PreviewRow {
                            product: product(*product_id),
                            picture: picture(*product_id, *id),
                            change: format!("move to position {}", to + 1),
                        });
                    }
                }
            }
            Planned::Add {
                product_id,
                source,
                description,
                thumbnail,
            } => {
                let before = added.entry(*product_id).or_insert(0);
                *before += 1;
                let position = images(*product_id).len() + *before;
                let what = match source {
                    Source::File(path) => format!("add file {}", file_name(path)),
                    Source::Url(url) => format!("add the picture at {url}"),
                };
                let mut change = format!("{what} at position {position}");
                if !description.is_empty() {
                    change.push_str(&format!(", description {}", quoted(description)));
                }
                if *thumbnail {
                    change.push_str(", make thumbnail");
                }
                rows.push(PreviewRow {
                    product: product(*product_id),
                    picture: "new".to_owned(),
                    change,
                });
            }
        }
    }
    rows
}

/// "picture 2 (image 123)": the place a person sees, and the store's id the file names.
fn picture_words(position: usize, image: &LocalImage) -> String {
    match image.server_id {
        Some(id) => format!("picture {position} (image {id})"),
        None => format!("picture {position}"),
    }
}

fn quoted(text: &str) -> String {
    if text.is_empty() {
        "(none)".to_owned()
    } else {
        format!("“{text}”")
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Writes every image of the local copy to `path` (on the runtime; the file durably).
async fn export(engine: &Engine, path: PathBuf) -> Result<Exported, String> {
    let unreadable = |err: SyncError| format!("Could not read the local copy of the store: {err}");
    let products = engine.products().await.map_err(unreadable)?;
    let mut images: BTreeMap<i64, Vec<LocalImage>> = BTreeMap::new();
    for image in engine.catalogue_images().await.map_err(unreadable)? {
        images.entry(image.product_id).or_default().push(image);
    }
    let count = products.len();
    let shown = path.display().to_string();
    let written = tokio::task::spawn_blocking(move || {
        let export = catalogue_csv::export(&products, &images)?;
        durable::write(&path, &export.bytes)?;
        Ok::<_, std::io::Error>(Exported {
            path,
            images: export.images,
            products: count,
            unsent: export.unsent,
        })
    })
    .await
    .unwrap_or_else(|stopped| Err(std::io::Error::other(stopped)));
    written.map_err(|err| format!("Could not write {shown}: {err}"))
}

/// Reads and plans the file against the local copy (on the runtime).
async fn plan(engine: &Engine, path: &Path) -> Result<CsvPlan, NotPlanned> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|err| NotPlanned::Failed(format!("Could not read {}: {err}", path.display())))?;
    let folder = path.parent().unwrap_or(Path::new("."));
    catalogue_csv::plan_in_replica(engine, &bytes, folder)
        .await
        .map_err(|err| match err {
            PlanError::Problems(problems) => NotPlanned::Problems(problems),
            PlanError::Sync(err) => {
                NotPlanned::Failed(format!("Could not read the local copy of the store: {err}"))
            }
        })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::sync::{ImageId, ProductSummary};

    fn plan(edits: Vec<Planned>) -> CsvPlan {
        let images = (1..=3)
            .map(|i| LocalImage {
                description: format!("d{i}"),
                ..LocalImage::example(i, 7)
            })
            .collect();
        CsvPlan {
            rows: 3,
            edits,
            products: HashMap::from([(
                7,
                ProductSummary {
                    id: 7,
                    name: "Lamp".into(),
                    sku: "LAMP".into(),
                    image_count: 3,
                    has_thumbnail: false,
                    pending_edits: 0,
                },
            )]),
            images: HashMap::from([(7, images)]),
        }
    }

    #[test]
    fn each_edit_reads_as_product_picture_and_change() {
        let plan = plan(vec![
            Planned::Describe {
                product_id: 7,
                image: ImageId(2),
                image_id: 102,
                old: "d2".into(),
                text: "Red".into(),
            },
            Planned::Thumbnail {
                product_id: 7,
                image: ImageId(3),
                image_id: 103,
            },
            Planned::Reorder {
                product_id: 7,
                order: vec![ImageId(3), ImageId(2), ImageId(1)],
                shown: vec![103, 102, 101],
            },
            Planned::Add {
                product_id: 7,
                source: Source::File(PathBuf::from("/tmp/x/new.jpg")),
                description: String::new(),
                thumbnail: false,
            },
        ]);
        let rows: Vec<(String, String)> = preview_rows(&plan)
            .into_iter()
            .map(|r| (r.picture, r.change))
            .collect();
        let expected = [
            ("picture 2 (image 102)", "description: “d2” becomes “Red”"),
            ("picture 3 (image 103)", "make thumbnail"),
            ("picture 3 (image 103)", "move to position 1"),
            ("picture 1 (image 101)", "move to position 3"),
            ("new", "add file new.jpg at position 4"),
        ];
        assert_eq!(
            rows,
            expected.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
        );
        assert!(
            preview_rows(&plan)
                .iter()
                .all(|r| r.product == "Lamp (LAMP)")
        );
        assert_eq!(
            summary_words(&plan),
            "4 edits from 3 rows: 1 description, 1 thumbnail, 1 new order, 1 new picture."
        );
    }

    #[test]
    fn a_file_with_problems_cannot_be_applied_and_closing_drops_a_plan() {
        let mut window = CatalogueCsv::default();
        window.open(CsvMode::Import);
        window.receive(CsvReply::Planned(Err(NotPlanned::Problems(vec![
            Problem::at(3, "image 9 is not an image of product 7 on the store"),
        ]))));
        assert!(window.preview().is_none(), "no plan, so no Apply");
        window.receive(CsvReply::Planned(Ok(plan(vec![]))));
        assert_eq!(window.preview(), Some(vec![]));
        window.close();
        assert_eq!(window.stage(), &CsvStage::Idle);
    }
}
