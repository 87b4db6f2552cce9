//! The app's state and its frame: it reads what the backend sent, draws, and turns gestures
//! into edits. It never waits: edits return at once and their effect comes back as events.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::Key;

use super::backend::{Backend, Message, Pick};
use super::counts::{CountsAction, CountsView, StoreCount, to_csv};
use super::grid::{GridAction, grid_ui};
use super::history::{Change, DELETE_GRACE, HeldDelete, History};
use super::panels::{DetailsAction, details_ui, products_ui, status_ui};
use super::preview::{Preview, PreviewAction};
use super::profiles::{self, ConnectionAction, ConnectionForm, Profile};
use super::tiles::{Tile, TileCache};
use crate::sync::{Conflict, ConflictField, Event, ImageId, LocalImage, ProductSummary, Status};

/// Texture memory the grid may hold (decoded RGBA tiles).
const TILE_BUDGET_BYTES: usize = 192 * 1024 * 1024;

/// The store-wide count is asked again after changes, but not more often than this.
const RECOUNT_EVERY: Duration = Duration::from_secs(3);

/// What the centre of the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Images,
    Counts,
}

/// "Delete all images" waiting for the user's yes.
struct ConfirmDeleteAll {
    product: i64,
    name: String,
    count: usize,
}

pub struct ImageDeskApp {
    backend: Backend,
    started: bool,
    view: View,
    products: Vec<ProductSummary>,
    product_filter: String,
    product: Option<i64>,
    /// The product's images as the engine has them.
    all_images: Vec<LocalImage>,
    /// What the grid shows: `all_images` less the deletes held for Undo.
    images: Vec<LocalImage>,
    selection: BTreeSet<ImageId>,
    focus: Option<ImageId>,
    draft: String,
    add_path: String,
    add_url: String,
    replace_path: String,
    status: Status,
    store_count: StoreCount,
    store_count_asked: Option<Instant>,
    /// A recount was skipped to keep to [`RECOUNT_EVERY`]; it is owed.
    recount_owed: bool,
    tiles: TileCache,
    uploads: HashMap<ImageId, (u64, u64)>,
    notices: Vec<String>,
    conflicts: Vec<Conflict>,
    history: History,
    held: Vec<HeldDelete>,
    delete_grace: Duration,
    confirm_delete_all: Option<ConfirmDeleteAll>,
    preview: Option<Preview>,
    counts: CountsView,
    profiles: Vec<Profile>,
    connection: ConnectionForm,
}

impl ImageDeskApp {
    pub fn new(backend: Backend) -> ImageDeskApp {
        ImageDeskApp {
            backend,
            started: false,
            view: View::Images,
            products: Vec::new(),
            product_filter: String::new(),
            product: None,
            all_images: Vec::new(),
            images: Vec::new(),
            selection: BTreeSet::new(),
            focus: None,
            draft: String::new(),
            add_path: String::new(),
            add_url: String::new(),
            replace_path: String::new(),
            status: Status::default(),
            store_count: StoreCount::NotAsked,
            store_count_asked: None,
            recount_owed: false,
            tiles: TileCache::new(TILE_BUDGET_BYTES),
            uploads: HashMap::new(),
            notices: Vec::new(),
            conflicts: Vec::new(),
            history: History::default(),
            held: Vec::new(),
            delete_grace: DELETE_GRACE,
            confirm_delete_all: None,
            preview: None,
            counts: CountsView::default(),
            profiles: Vec::new(),
            connection: ConnectionForm::default(),
        }
    }

    /// The saved store profiles (from eframe's storage).
    pub fn with_profiles(mut self, profiles: Vec<Profile>) -> ImageDeskApp {
        self.profiles = profiles;
        self
    }

    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    /// Writes the profile list to eframe's storage (eframe calls this through `App::save`).
    pub fn save_profiles(&self, storage: &mut dyn eframe::Storage) {
        profiles::save(storage, &self.profiles);
    }

    /// How long deletes wait for Undo before they go to the engine (tests shorten it).
    pub fn with_delete_grace(mut self, grace: Duration) -> ImageDeskApp {
        self.delete_grace = grace;
        self
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The images shown, in order (for tests and the status bar).
    pub fn images(&self) -> &[LocalImage] {
        &self.images
    }

    pub fn selected_product(&self) -> Option<i64> {
        self.product
    }

    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// The image the preview shows, if it is open.
    pub fn previewing(&self) -> Option<ImageId> {
        self.preview.as_ref().map(|p| p.id)
    }

    /// Texture memory the grid holds now.
    pub fn texture_bytes(&self) -> usize {
        self.tiles.texture_bytes()
    }

    /// Grid tiles with a texture, and tiles still being fetched or decoded.
    pub fn tiles_ready_and_loading(&self) -> (usize, usize) {
        (self.tiles.ready(), self.tiles.loading())
    }

    /// Draws one frame. `eframe::App::ui` calls this; tests call it through egui_kittest.
    pub fn show_ui(&mut self, ui: &mut egui::Ui) {
        if !self.started {
            self.started = true;
            self.backend.attach(ui.ctx());
            self.backend.load_products();
            self.recount_store(true);
        }
        for message in self.backend.poll() {
            self.handle(ui.ctx(), message);
        }
        self.commit_due_deletes(ui.ctx());
        if self.recount_owed
            && let Some(asked) = self.store_count_asked
        {
            let wait = RECOUNT_EVERY.saturating_sub(asked.elapsed());
            if wait.is_zero() {
                self.recount_store(true);
            } else {
                ui.ctx().request_repaint_after(wait);
            }
        }
        if self.preview.is_none() && self.confirm_delete_all.is_none() {
            self.shortcuts(ui);
        }
        self.dropped_files(ui);

        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| {
            let total = match self.store_count {
                StoreCount::Known(n) => n,
                _ => self.products.iter().map(|p| p.image_count).sum(),
            };
            status_ui(ui, &self.status, Some(total));
        });
        egui::Panel::left("products")
            .default_size(240.0)
            .show(ui, |ui| {
                let picked =
                    products_ui(ui, &self.products, &mut self.product_filter, self.product);
                if let Some(product) = picked {
                    self.view = View::Images;
                    self.select_product(product);
                }
            });
        match self.view {
            View::Images => {
                egui::Panel::right("details")
                    .default_size(280.0)
                    .show(ui, |ui| self.details_panel_ui(ui));
                egui::CentralPanel::default().show(ui, |ui| self.images_ui(ui));
            }
            View::Counts => {
                egui::CentralPanel::default().show(ui, |ui| self.counts_view_ui(ui));
            }
        }
        self.messages_ui(ui);
        self.preview_ui(ui);
        self.confirm_delete_all_ui(ui);
        self.connection_dialog_ui(ui);
    }

    fn connection_dialog_ui(&mut self, ui: &mut egui::Ui) {
        if !self.connection.open {
            return;
        }
        match self.connection.connection_ui(ui.ctx(), &self.profiles) {
            ConnectionAction::None => {}
            ConnectionAction::Save(profile, token) => {
                self.remember(profile.clone(), token);
                self.notices
                    .push(format!("Saved the store \"{}\".", profile.name));
            }
            ConnectionAction::Connect(profile, token) => {
                self.remember(profile.clone(), token.clone());
                self.backend.connect(profile, Some(token));
            }
            ConnectionAction::ConnectSaved(profile) => {
                self.connection.open = false;
                self.backend.connect(profile, None);
            }
            ConnectionAction::Forget(profile) => {
                self.profiles.retain(|p| p.api_url != profile.api_url);
                self.backend.forget_token(&profile);
            }
        }
    }

    /// Adds or updates a profile (keyed by its API URL) and saves its token if one was typed.
    fn remember(&mut self, profile: Profile, token: String) {
        match self
            .profiles
            .iter_mut()
            .find(|p| p.api_url == profile.api_url)
        {
            Some(existing) => *existing = profile.clone(),
            None => self.profiles.push(profile.clone()),
        }
        if !token.trim().is_empty() {
            self.backend.save_token(&profile, token.trim().to_owned());
        }
    }

    /// Switches the window to another store's backend: held deletes go to the old store's
    /// queue first, then everything shown is reset.
    fn connected(&mut self, ctx: &egui::Context, backend: Backend, title: String) {
        self.flush_held_deletes();
        self.backend = backend;
        self.backend.attach(ctx);
        self.backend.load_products();
        self.products.clear();
        self.product = None;
        self.all_images.clear();
        self.images.clear();
        self.selection.clear();
        self.focus = None;
        self.preview = None;
        self.confirm_delete_all = None;
        self.tiles = TileCache::new(TILE_BUDGET_BYTES);
        self.uploads.clear();
        self.conflicts.clear();
        self.history = History::default();
        self.store_count = StoreCount::NotAsked;
        self.recount_store(true);
        self.notices.push(format!("Connected to {title}."));
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!("imagedesk — {title}")));
    }

    fn images_ui(&mut self, ui: &mut egui::Ui) {
        if self.product.is_none() {
            ui.label("Choose a product on the left.");
            return;
        }
        if self.images.is_empty() {
            ui.label(
                "This product has no images yet. Add files or a URL above, or drop files here.",
            );
            return;
        }
        let action = grid_ui(
            ui,
            &self.images,
            &self.selection,
            &mut self.tiles,
            &self.backend,
        );
        self.grid_action(action);
    }

    fn handle(&mut self, ctx: &egui::Context, message: Message) {
        match message {
            Message::Products(products) => {
                self.products = products;
                if self.product.is_none()
                    && let Some(first) = self.products.first().map(|p| p.id)
                {
                    self.select_product(first);
                }
            }
            Message::Images { product_id, images } => {
                if Some(product_id) == self.product {
                    self.all_images = images;
                    self.refilter();
                }
            }
            Message::Tile { id, key, image } => self.tiles.insert(ctx, id, &key, image),
            Message::Preview { id, image } => {
                if let Some(preview) = &mut self.preview {
                    preview.loaded(ctx, id, image);
                }
            }
            Message::StoreCount(count) => {
                self.store_count = match count {
                    Ok(n) => StoreCount::Known(n),
                    Err(why) => StoreCount::Failed(why),
                };
            }
            Message::Picked { purpose, paths } => self.picked(purpose, paths),
            Message::NoDialog(purpose) => self.notices.push(no_dialog_advice(purpose).into()),
            Message::TokenSaved(name) => self.notices.push(format!(
                "Saved the token of \"{name}\" in a file only you can read."
            )),
            Message::Connected { backend, title } => self.connected(ctx, *backend, title),
            Message::Saved(path) => self
                .notices
                .push(format!("Saved the counts to {}.", path.display())),
            Message::Status(status) => self.status = status,
            Message::Event(event) => self.event(event),
            Message::Error(text) => self.notices.push(text),
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::ProductsChanged => {
                self.backend.load_products();
                self.recount_store(false);
            }
            Event::ImagesChanged { product_id } => {
                self.backend.load_products();
                if Some(product_id) == self.product {
                    self.backend.load_images(product_id);
                }
                self.recount_store(false);
            }
            Event::Conflict(conflict) => self.conflicts.push(conflict),
            Event::EditsDropped {
                image,
                edits,
                reason,
                ..
            } => self.notices.push(format!(
                "{edits} edit(s) of image {image} were dropped: {reason}."
            )),
            Event::EditFailed { kind, message, .. } => {
                self.notices
                    .push(format!("The store refused \"{kind}\": {message}"));
            }
            Event::EditUnreadable { seq, reason, .. } => {
                self.notices.push(format!(
                    "Queued edit #{seq} cannot be read by this version of imagedesk ({reason}); \
                     it will not be sent."
                ));
            }
            Event::UploadProgress { image, sent, total } => {
                self.uploads.insert(image, (sent, total));
            }
            Event::StatusChanged => {}
        }
    }

    /// Asks the store for its total, at most every few seconds unless `now`.
    fn recount_store(&mut self, now: bool) {
        let recent = self
            .store_count_asked
            .is_some_and(|at| at.elapsed() < RECOUNT_EVERY);
        if recent && !now {
            self.recount_owed = true;
            return;
        }
        self.recount_owed = false;
        self.store_count_asked = Some(Instant::now());
        if !matches!(self.store_count, StoreCount::Known(_)) {
            self.store_count = StoreCount::Asking;
        }
        self.backend.load_store_count();
    }

    /// Recomputes what the grid shows after the images or the held deletes changed.
    fn refilter(&mut self) {
        let hidden: HashSet<ImageId> = self
            .held
            .iter()
            .flat_map(|h| h.ids.iter().copied())
            .collect();
        self.images = self
            .all_images
            .iter()
            .filter(|i| !hidden.contains(&i.id))
            .cloned()
            .collect();
        let shown = |id: &ImageId| self.images.iter().any(|i| i.id == *id);
        self.selection.retain(|id| shown(id));
        if self.focus.is_some_and(|f| !shown(&f)) {
            self.focus = None;
        }
        if self.preview.as_ref().is_some_and(|p| !shown(&p.id)) {
            self.preview = None;
        }
    }

    fn select_product(&mut self, product: i64) {
        if self.product != Some(product) {
            self.product = Some(product);
            self.all_images.clear();
            self.images.clear();
            self.selection.clear();
            self.focus = None;
            self.preview = None;
        }
        self.backend.load_images(product);
    }

    fn product_name(&self, product: i64) -> String {
        self.products
            .iter()
            .find(|p| p.id == product)
            .map_or_else(|| format!("product {product}"), |p| p.name.clone())
    }

    fn focused_image(&self) -> Option<&LocalImage> {
        let focus = self.focus?;
        self.images.iter().find(|i| i.id == focus)
    }

    fn toolbar_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
            ui.selectable_value(&mut self.view, View::Images, "Images");
            if ui
                .selectable_value(&mut self.view, View::Counts, "Counts")
                .clicked()
            {
                self.recount_store(true);
            }
            ui.separator();
            if ui
                .button("Stores…")
                .on_hover_text("Connect to another store; save store profiles")
                .clicked()
            {
                self.connection.open = true;
            }
            if ui
                .button("Refresh")
                .on_hover_text("Pull the store now (F5)")
                .clicked()
            {
                self.backend.engine().refresh();
                self.recount_store(true);
            }
            let undo_hint = self
                .history
                .next_undo()
                .map_or("Nothing to undo".to_owned(), |c| {
                    format!("Undo the last {} (Ctrl+Z)", c.name())
                });
            if ui
                .add_enabled(self.history.can_undo(), egui::Button::new("Undo"))
                .on_hover_text(undo_hint)
                .clicked()
            {
                self.undo();
            }
            if ui
                .add_enabled(self.history.can_redo(), egui::Button::new("Redo"))
                .on_hover_text("Redo (Ctrl+Shift+Z)")
                .clicked()
            {
                self.redo();
            }
            ui.separator();
            let any = !self.selection.is_empty();
            if ui
                .add_enabled(any, egui::Button::new("Delete selected"))
                .on_hover_text("Delete the selected images (Delete)")
                .clicked()
            {
                self.delete_selection();
            }
            if ui
                .add_enabled(
                    !self.images.is_empty(),
                    egui::Button::new("Delete all images…"),
                )
                .on_hover_text("Delete every image of this product, after asking")
                .clicked()
            {
                self.ask_delete_all();
            }
            ui.separator();
            if ui
                .add_enabled(self.product.is_some(), egui::Button::new("Choose files…"))
                .on_hover_text("Pick images to upload (Ctrl+O)")
                .clicked()
            {
                self.choose_files();
            }
            let label = ui.label("File path");
            ui.add(egui::TextEdit::singleline(&mut self.add_path).desired_width(200.0))
                .labelled_by(label.id);
            if ui.button("Add file").clicked() {
                self.add_from_path();
            }
            ui.separator();
            let label = ui.label("Image URL");
            ui.add(egui::TextEdit::singleline(&mut self.add_url).desired_width(200.0))
                .labelled_by(label.id);
            if ui.button("Add from URL").clicked() {
                self.add_from_url();
            }
        });
        self.progress_ui(ui);
    }

    /// Toasts, conflicts and notices float above the bottom-right corner, so that they never
    /// move what is under the pointer.
    fn messages_ui(&mut self, ui: &mut egui::Ui) {
        if self.held.is_empty() && self.conflicts.is_empty() && self.notices.is_empty() {
            return;
        }
        egui::Area::new(egui::Id::unique("messages"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ui.ctx(), |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_max_width(560.0);
                    self.held_deletes_ui(ui);
                    self.conflicts_ui(ui);
                    self.notices_ui(ui);
                });
            });
    }

    fn progress_ui(&self, ui: &mut egui::Ui) {
        for image in self.images.iter().filter(|i| i.server_id.is_none()) {
            if let Some((sent, total)) = self.uploads.get(&image.id) {
                ui.add(
                    egui::ProgressBar::new(*sent as f32 / (*total).max(1) as f32)
                        .show_percentage()
                        .text(format!("Uploading {} KiB", total / 1024)),
                );
            }
        }
    }

    /// The Undo toasts of deletes that have not gone to the engine yet.
    fn held_deletes_ui(&mut self, ui: &mut egui::Ui) {
        let mut undo = None;
        for (n, held) in self.held.iter().enumerate() {
            ui.horizontal(|ui| {
                let count = held.ids.len();
                ui.label(format!(
                    "Deleted {count} image{} of \"{}\".",
                    if count == 1 { "" } else { "s" },
                    held.product_name
                ));
                let left = held.until.saturating_duration_since(Instant::now());
                if ui
                    .button("Undo delete")
                    .on_hover_text(format!("{} s left to undo (Ctrl+Z)", left.as_secs() + 1))
                    .clicked()
                {
                    undo = Some(n);
                }
            });
        }
        if let Some(n) = undo {
            let held = self.held.remove(n);
            self.history.forget_delete(&held.ids);
            self.refilter();
        }
    }

    fn conflicts_ui(&mut self, ui: &mut egui::Ui) {
        let mut settled = None;
        for (n, conflict) in self.conflicts.iter().enumerate() {
            ui.horizontal_wrapped(|ui| {
                let (what, choice) = match conflict.field {
                    ConflictField::Description => ("description", true),
                    ConflictField::Thumbnail => ("thumbnail", true),
                    // The store's earlier picture is gone once yours replaced it.
                    ConflictField::Picture => ("picture", false),
                };
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "Image {} of \"{}\": the store changed its {what} to \"{}\" while you changed it to \"{}\". Yours was kept.",
                        conflict.image,
                        self.product_name(conflict.product_id),
                        conflict.server,
                        conflict.local
                    ),
                );
                if ui.small_button("Keep mine").clicked() {
                    settled = Some((n, false));
                }
                if choice && ui.small_button("Use the store's").clicked() {
                    settled = Some((n, true));
                }
            });
        }
        if let Some((n, take_store)) = settled {
            let conflict = self.conflicts.remove(n);
            if take_store {
                self.take_store_value(conflict);
            }
        }
    }

    fn take_store_value(&mut self, conflict: Conflict) {
        match conflict.field {
            ConflictField::Description => {
                let (id, text) = (conflict.image, conflict.server);
                self.backend
                    .edit("use the store's description", move |e| async move {
                        e.describe(id, &text).await
                    });
            }
            ConflictField::Thumbnail => {
                let Some(id) = parse_image_id(&conflict.server) else {
                    return;
                };
                self.backend
                    .edit("use the store's thumbnail", move |e| async move {
                        e.set_thumbnail(id).await
                    });
            }
            ConflictField::Picture => {}
        }
    }

    fn notices_ui(&mut self, ui: &mut egui::Ui) {
        let mut dismissed = None;
        for (n, notice) in self.notices.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.colored_label(ui.visuals().warn_fg_color, notice);
                if ui.small_button("Dismiss").clicked() {
                    dismissed = Some(n);
                }
            });
        }
        if let Some(n) = dismissed {
            self.notices.remove(n);
        }
    }

    fn details_panel_ui(&mut self, ui: &mut egui::Ui) {
        let Some(image) = self.focused_image().cloned() else {
            ui.label("Click an image to see its details.");
            return;
        };
        // The grid's texture, drawn as large as the panel allows; the zoomed preview loads
        // the full picture. The box is reserved before the texture arrives, so nothing below
        // it moves when it does.
        let width = ui.available_width();
        let (rect, response) =
            ui.allocate_exact_size(egui::vec2(width, width * 0.75), egui::Sense::click());
        if let Tile::Ready(texture) = self.tiles.get(&image, &self.backend) {
            let size = texture.size_vec2();
            let scale = (rect.width() / size.x).min(rect.height() / size.y);
            egui::Image::new(texture).paint_at(
                ui,
                egui::Rect::from_center_size(rect.center(), size * scale),
            );
        }
        let response = response.on_hover_text("Double-click to zoom");
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Image, true, "Picture of the image")
        });
        if response.double_clicked() {
            self.open_preview(image.id);
        }
        match details_ui(ui, &image, &mut self.draft, &mut self.replace_path) {
            DetailsAction::None => {}
            DetailsAction::SaveDescription(text) => {
                self.history.record(Change::Describe {
                    id: image.id,
                    before: image.description.clone(),
                    after: text.clone(),
                });
                self.describe(image.id, text);
            }
            DetailsAction::SetThumbnail => {
                let before = self.images.iter().find(|i| i.is_thumbnail).map(|i| i.id);
                self.history.record(Change::Thumbnail {
                    product: image.product_id,
                    before,
                    after: image.id,
                });
                self.set_thumbnail(image.id);
            }
            DetailsAction::Preview => self.open_preview(image.id),
            DetailsAction::Replace(path) => self.replace(image.id, PathBuf::from(path)),
            DetailsAction::ReplaceDialog => self.backend.pick(Pick::Replace { image: image.id }),
        }
    }

    fn counts_view_ui(&mut self, ui: &mut egui::Ui) {
        match self.counts.counts_ui(ui, &self.products, &self.store_count) {
            CountsAction::None => {}
            CountsAction::RecountStore => self.recount_store(true),
            CountsAction::Export(path) => self.export_counts(PathBuf::from(path)),
            CountsAction::ExportDialog => self.backend.pick(Pick::ExportCsv),
            CountsAction::Open(product) => {
                self.view = View::Images;
                self.select_product(product);
            }
        }
    }

    fn export_counts(&mut self, path: PathBuf) {
        let csv = to_csv(&self.counts.sorted(&self.products));
        self.backend.write_file(path, csv);
    }

    fn preview_ui(&mut self, ui: &mut egui::Ui) {
        let Some(preview) = &mut self.preview else {
            return;
        };
        match preview.preview_ui(ui, &self.images) {
            PreviewAction::None => {}
            PreviewAction::Close => self.preview = None,
            PreviewAction::Show(id) => {
                self.click(id, false, false);
                self.open_preview(id);
            }
        }
    }

    fn open_preview(&mut self, id: ImageId) {
        self.preview = Some(Preview::new(id));
        self.backend.load_preview(id);
    }

    fn confirm_delete_all_ui(&mut self, ui: &mut egui::Ui) {
        let Some(confirm) = &self.confirm_delete_all else {
            return;
        };
        let mut decided = None;
        let modal = egui::Modal::new(egui::Id::unique("confirm-delete-all")).show(ui.ctx(), |ui| {
            ui.heading("Delete all images?");
            ui.label(format!(
                "This deletes all {} images of \"{}\" from the store. You can undo it for {} seconds; after that they are gone.",
                confirm.count,
                confirm.name,
                self.delete_grace.as_secs()
            ));
            ui.horizontal(|ui| {
                if ui
                    .button(format!("Delete all {} images", confirm.count))
                    .clicked()
                {
                    decided = Some(true);
                }
                if ui.button("Cancel").clicked() {
                    decided = Some(false);
                }
            });
        });
        if modal.should_close() {
            decided = Some(false);
        }
        match decided {
            Some(true) => {
                if let Some(confirm) = self.confirm_delete_all.take() {
                    self.hold_delete(confirm.product, true);
                }
            }
            Some(false) => self.confirm_delete_all = None,
            None => {}
        }
    }

    fn ask_delete_all(&mut self) {
        let Some(product) = self.product else { return };
        if self.images.is_empty() {
            return;
        }
        self.confirm_delete_all = Some(ConfirmDeleteAll {
            product,
            name: self.product_name(product),
            count: self.images.len(),
        });
    }

    fn grid_action(&mut self, action: GridAction) {
        match action {
            GridAction::None => {}
            GridAction::Select { id, add, extend } => self.click(id, add, extend),
            GridAction::Open(id) => {
                self.click(id, false, false);
                self.open_preview(id);
            }
            GridAction::Move { dragged, onto } => self.move_onto(dragged, onto),
        }
    }

    fn click(&mut self, id: ImageId, add: bool, extend: bool) {
        if extend && let Some(anchor) = self.focus {
            let position = |x: ImageId| self.images.iter().position(|i| i.id == x);
            if let (Some(a), Some(b)) = (position(anchor), position(id)) {
                let (lo, hi) = (a.min(b), a.max(b));
                self.selection
                    .extend(self.images[lo..=hi].iter().map(|i| i.id));
            }
        } else if add {
            if !self.selection.remove(&id) {
                self.selection.insert(id);
            }
        } else {
            self.selection.clear();
            self.selection.insert(id);
        }
        if self.focus != Some(id) {
            self.focus = Some(id);
            self.draft = self
                .focused_image()
                .map(|i| i.description.clone())
                .unwrap_or_default();
        }
    }

    /// Drops the dragged tile (with the rest of the selection, if it is part of it) onto
    /// another: moving forward lands after the target, moving back lands before it.
    fn move_onto(&mut self, dragged: ImageId, onto: ImageId) {
        let Some(product) = self.product else { return };
        let order: Vec<ImageId> = self.images.iter().map(|i| i.id).collect();
        let moving: Vec<ImageId> = if self.selection.contains(&dragged) {
            order
                .iter()
                .copied()
                .filter(|id| self.selection.contains(id))
                .collect()
        } else {
            vec![dragged]
        };
        if moving.contains(&onto) {
            return;
        }
        let from = order.iter().position(|id| *id == dragged).unwrap_or(0);
        let target = order.iter().position(|id| *id == onto).unwrap_or(0);
        let rest: Vec<ImageId> = order
            .iter()
            .copied()
            .filter(|id| !moving.contains(id))
            .collect();
        let Some(at) = rest.iter().position(|id| *id == onto) else {
            return;
        };
        let index = if target > from { at + 1 } else { at };
        let mut after = rest;
        for (k, id) in moving.iter().enumerate() {
            after.insert(index + k, *id);
        }
        self.history.record(Change::Order {
            product,
            before: self.all_images.iter().map(|i| i.id).collect(),
            after: after.clone(),
        });
        self.backend.edit("move the images", move |e| async move {
            e.move_images(product, &moving, index).await
        });
    }

    fn describe(&mut self, id: ImageId, text: String) {
        if self.focus == Some(id) {
            self.draft = text.clone();
        }
        self.backend
            .edit("save the description", move |e| async move {
                e.describe(id, &text).await
            });
    }

    fn set_thumbnail(&self, id: ImageId) {
        self.backend.edit("set the thumbnail", move |e| async move {
            e.set_thumbnail(id).await
        });
    }

    /// Puts the product's images in `order`, as far as they still exist: images added since
    /// keep their places at the end.
    fn restore_order(&self, product: i64, order: Vec<ImageId>) {
        self.backend.edit("restore the order", move |e| async move {
            let now: Vec<ImageId> = e.images(product).await?.iter().map(|i| i.id).collect();
            let mut desired: Vec<ImageId> =
                order.into_iter().filter(|id| now.contains(id)).collect();
            let rest: Vec<ImageId> = now.into_iter().filter(|id| !desired.contains(id)).collect();
            desired.extend(rest);
            e.reorder(product, &desired).await
        });
    }

    fn undo(&mut self) {
        let Some(change) = self.history.take_undo() else {
            return;
        };
        match &change {
            Change::Describe { id, before, .. } => self.describe(*id, before.clone()),
            Change::Thumbnail { before: None, .. } => {
                self.notices.push(
                    "There was no thumbnail before that change; choose the one you want with \"Set as thumbnail\".".into(),
                );
                return;
            }
            Change::Thumbnail {
                before: Some(id), ..
            } => self.set_thumbnail(*id),
            Change::Order {
                product, before, ..
            } => self.restore_order(*product, before.clone()),
            Change::Delete(held) => {
                // Only a delete still held can be undone (sent ones leave the history).
                self.held.retain(|h| h.ids != held.ids);
                self.refilter();
            }
        }
        self.history.undone(change);
    }

    fn redo(&mut self) {
        let Some(change) = self.history.take_redo() else {
            return;
        };
        match &change {
            Change::Describe { id, after, .. } => self.describe(*id, after.clone()),
            Change::Thumbnail { after, .. } => self.set_thumbnail(*after),
            Change::Order { product, after, .. } => self.restore_order(*product, after.clone()),
            Change::Delete(held) => {
                let mut again = held.clone();
                again.until = Instant::now() + self.delete_grace;
                self.held.push(again.clone());
                self.refilter();
                self.history.redone(Change::Delete(again));
                return;
            }
        }
        self.history.redone(change);
    }

    fn delete_selection(&mut self) {
        let Some(product) = self.product else { return };
        if self.selection.is_empty() {
            return;
        }
        self.hold_delete(product, false);
    }

    /// Hides the images at once and hands the delete to the engine when its grace period ends.
    fn hold_delete(&mut self, product: i64, all: bool) {
        let ids: Vec<ImageId> = if all {
            self.images.iter().map(|i| i.id).collect()
        } else {
            self.images
                .iter()
                .map(|i| i.id)
                .filter(|id| self.selection.contains(id))
                .collect()
        };
        if ids.is_empty() {
            return;
        }
        let held = HeldDelete {
            product,
            product_name: self.product_name(product),
            ids,
            all,
            until: Instant::now() + self.delete_grace,
        };
        self.history.record(Change::Delete(held.clone()));
        self.held.push(held);
        self.selection.clear();
        self.refilter();
    }

    fn commit_due_deletes(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        let (due, waiting): (Vec<HeldDelete>, Vec<HeldDelete>) =
            self.held.drain(..).partition(|h| h.until <= now);
        self.held = waiting;
        if let Some(next) = self.held.iter().map(|h| h.until).min() {
            ctx.request_repaint_after(next.saturating_duration_since(now));
        }
        for held in due {
            self.history.forget_delete(&held.ids);
            self.backend
                .edit("delete the images", move |e| commit_delete(e, held));
        }
    }

    fn choose_files(&mut self) {
        match self.product {
            Some(product) => self.backend.pick(Pick::AddFiles { product }),
            None => self
                .notices
                .push("Choose a product before adding images.".into()),
        }
    }

    fn picked(&mut self, purpose: Pick, paths: Vec<PathBuf>) {
        match purpose {
            Pick::AddFiles { product } => self.backend.add_files(product, paths),
            Pick::Replace { image } => {
                if let Some(path) = paths.into_iter().next() {
                    self.replace(image, path);
                }
            }
            Pick::ExportCsv => {
                if let Some(path) = paths.into_iter().next() {
                    self.export_counts(path);
                }
            }
        }
    }

    fn replace(&mut self, id: ImageId, path: PathBuf) {
        self.replace_path.clear();
        self.backend
            .edit("replace the picture", move |e| async move {
                e.replace_file(id, &path).await
            });
    }

    fn add_from_path(&mut self) {
        let Some(product) = self.product else { return };
        let path = self.add_path.trim();
        if path.is_empty() {
            self.notices
                .push("Type the path of an image file first.".into());
            return;
        }
        self.backend.add_files(product, vec![PathBuf::from(path)]);
        self.add_path.clear();
    }

    fn add_from_url(&mut self) {
        let Some(product) = self.product else { return };
        let url = self.add_url.trim().to_owned();
        if url.is_empty() {
            self.notices.push("Type the URL of an image first.".into());
            return;
        }
        self.backend
            .edit("add the image from its URL", move |e| async move {
                e.add_url(product, &url, "").await.map(drop)
            });
        self.add_url.clear();
    }

    fn shortcuts(&mut self, ui: &mut egui::Ui) {
        // Keys typed into a text field belong to the field.
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let pressed = |ui: &egui::Ui, key: Key| ui.input(|i| i.key_pressed(key));
        let (command, shift) = ui.input(|i| (i.modifiers.command, i.modifiers.shift));
        if pressed(ui, Key::F5) {
            self.backend.engine().refresh();
            self.recount_store(true);
        }
        if pressed(ui, Key::Delete) {
            self.delete_selection();
        }
        if command && pressed(ui, Key::A) {
            self.selection = self.images.iter().map(|i| i.id).collect();
        }
        if pressed(ui, Key::Escape) {
            self.selection.clear();
        }
        if command && pressed(ui, Key::Q) {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if command && pressed(ui, Key::O) {
            self.choose_files();
        }
        if (command && shift && pressed(ui, Key::Z)) || (command && pressed(ui, Key::Y)) {
            self.redo();
        } else if command && pressed(ui, Key::Z) {
            self.undo();
        }
        if (pressed(ui, Key::Enter) || pressed(ui, Key::Space))
            && let Some(id) = self.focus
        {
            self.open_preview(id);
        }
    }

    fn dropped_files(&mut self, ui: &mut egui::Ui) {
        let paths: Vec<PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if paths.is_empty() {
            return;
        }
        match self.product {
            Some(product) => self.backend.add_files(product, paths),
            None => self
                .notices
                .push("Choose a product before dropping files.".into()),
        }
    }

    /// The window is closing: deletes still held for Undo go to the engine now, so that what
    /// the user saw deleted stays deleted (the engine sends them on the next start if needed).
    pub fn flush_held_deletes(&mut self) {
        for held in std::mem::take(&mut self.held) {
            let product = held.product;
            if let Err(err) = self
                .backend
                .edit_before_exit(move |e| commit_delete(e, held))
            {
                tracing::error!("could not queue the delete of product {product}'s images: {err}");
            }
        }
    }
}

async fn commit_delete(
    engine: std::sync::Arc<crate::sync::Engine>,
    held: HeldDelete,
) -> Result<(), crate::sync::SyncError> {
    if held.all {
        // One request for the lot, unless images were added since the user confirmed.
        let now: Vec<ImageId> = engine
            .images(held.product)
            .await?
            .iter()
            .map(|i| i.id)
            .collect();
        if now.iter().all(|id| held.ids.contains(id)) {
            return engine.delete_all(held.product).await;
        }
    }
    engine.delete(&held.ids).await
}

fn parse_image_id(text: &str) -> Option<ImageId> {
    text.trim_start_matches('#').parse().ok().map(ImageId)
}

fn no_dialog_advice(purpose: Pick) -> &'static str {
    match purpose {
        Pick::AddFiles { .. } => {
            "No file dialog appeared: this desktop has no file chooser service (XDG portal). Type the file's path in \"File path\" and press \"Add file\", or drop files on the window."
        }
        Pick::Replace { .. } => {
            "No file dialog appeared: this desktop has no file chooser service (XDG portal). Type the new file's path under \"Replacement file path\" and press \"Replace picture\"."
        }
        Pick::ExportCsv => {
            "No file dialog appeared: this desktop has no file chooser service (XDG portal). Type where to save it in \"CSV path\" and press \"Export CSV\"."
        }
    }
}

impl eframe::App for ImageDeskApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        self.save_profiles(storage);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.flush_held_deletes();
    }
}
