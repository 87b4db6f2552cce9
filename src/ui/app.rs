//! The window: its layout, tool bar, shortcuts, notices and the Stores dialog, around the
//! [`StoreSession`] of the store it shows. Drawing code pushes [`Command`]s; [`ImageDeskApp`]
//! applies them in one place ([`ImageDeskApp::apply`]). It never waits: edits return at once
//! and their effect comes back as messages.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui::Key;

use super::alt_text::alt_text_ui;
use super::backend::{Backend, Message, Pick};
use super::bulk_products::{BulkProducts, BulkPurpose, delete_plan, describe_changes};
use super::catalogue::VisibleRows;
use super::command::{Command, GridFilter, MoveStep, View};
use super::copy_picker::{CopyPicker, copied_words};
use super::counts::{CountsView, StoreCount};
use super::csv_import::{CatalogueCsv, CsvMode};
use super::folder_import::{FolderImport, Source};
use super::grid::{grid_ui, lacks_alt_text};
use super::history::{DELETE_GRACE, SavedHistories};
use super::notices::{Notice, Notices};
use super::overlays::{confirm_delete_all_ui, messages_ui, unreadable_ui};
use super::panels::{Detailed, Highlighted, StoreTotal, details_ui, products_ui, status_ui};
use super::pending::pending_ui;
use super::product_header::{alt_text_filter_ui, product_header_ui};
use super::product_selection::ProductSelection;
use super::profiles::{self, CurrentStore, Profile};
use super::recently_deleted::{RecentlyDeleted, restored_words};
use super::reports::{ReportState, ReportsView};
use super::session::StoreSession;
use super::stores_dialog::ConnectionForm;
use super::tiles::Tile;
use crate::sync::{ImageId, LocalImage};

/// The details panel's width (fixed, see `panels_ui`).
const DETAILS_WIDTH: f32 = 300.0;
/// The upload bar's width in the status bar.
const PROGRESS_WIDTH: f32 = 260.0;

pub struct ImageDeskApp {
    /// The store shown; replaced whole when the user switches stores.
    session: StoreSession,
    view: View,
    product_filter: String,
    add_path: String,
    add_url: String,
    replace_path: String,
    /// Messages for the user; they outlive a store switch ("Connected to …").
    notices: Notices,
    counts: CountsView,
    /// The Reports view: its report (made on the first visit) and its filters.
    reports: ReportsView,
    /// The pattern of the details panel's bulk alt text (several images selected).
    bulk_pattern: String,
    profiles: Vec<Profile>,
    connection: ConnectionForm,
    /// How long deletes wait for Undo; each new session gets it.
    delete_grace: Duration,
    /// The list of records the store sent that could not be read is open.
    unreadable_open: bool,
    /// The list of pending and failed edits is open.
    pending_open: bool,
    /// The "Recently deleted" window (open or not) and what it last read.
    recently_deleted: RecentlyDeleted,
    /// The "Import folder…" window and its import.
    folder_import: FolderImport,
    /// The catalogue CSV window: export, and import with a preview.
    catalogue_csv: CatalogueCsv,
    /// The undo histories a previous run saved, and those of stores left in this run: the
    /// current store's is in its session until [`ImageDeskApp::save_history`].
    histories: SavedHistories,
    /// Which images the grid shows (all, or those without alt text).
    grid_filter: GridFilter,
    /// Products Ctrl/Shift-clicked in the list, and the bulk panel shown for two or more.
    products_selected: ProductSelection,
    bulk: BulkProducts,
    /// The "Copy to other products…" window.
    copy_picker: CopyPicker,
}

/// The history key of a window whose backend was not told its store (tests).
const UNNAMED_STORE: &str = "unnamed";

impl ImageDeskApp {
    pub fn new(backend: Backend) -> ImageDeskApp {
        let counts = CountsView::default();
        let mut session = StoreSession::new(backend, DELETE_GRACE);
        session.set_counts_query(counts.query());
        ImageDeskApp {
            session,
            view: View::Images,
            product_filter: String::new(),
            add_path: String::new(),
            add_url: String::new(),
            replace_path: String::new(),
            notices: Notices::default(),
            counts,
            reports: ReportsView::default(),
            bulk_pattern: DEFAULT_PATTERN.to_owned(),
            profiles: Vec::new(),
            connection: ConnectionForm::default(),
            delete_grace: DELETE_GRACE,
            unreadable_open: false,
            pending_open: false,
            recently_deleted: RecentlyDeleted::default(),
            folder_import: FolderImport::default(),
            catalogue_csv: CatalogueCsv::default(),
            histories: SavedHistories::default(),
            grid_filter: GridFilter::All,
            products_selected: ProductSelection::default(),
            bulk: BulkProducts::default(),
            copy_picker: CopyPicker::default(),
        }
    }

    /// Brings back the undo history a previous run saved for this store (eframe's storage).
    pub fn with_saved_history(mut self, storage: &dyn eframe::Storage) -> ImageDeskApp {
        self.histories = SavedHistories::load(storage);
        let history = self.histories.get(&self.history_key());
        self.session.restore_history(history);
        self
    }

    /// Writes every store's undo history to eframe's storage (through `App::save`).
    pub fn save_history(&mut self, storage: &mut dyn eframe::Storage) {
        let key = self.history_key();
        self.histories.set(key, self.session.history());
        self.histories.save(storage);
    }

    /// The store shown, when the window knows it.
    pub fn current_store(&self) -> Option<&CurrentStore> {
        self.session.store()
    }

    fn history_key(&self) -> String {
        self.session
            .store()
            .map_or_else(|| UNNAMED_STORE.to_owned(), CurrentStore::key)
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

    /// How long deletes wait for Undo before they go to the engine (tests shorten it). Call it
    /// before the first frame: it rebuilds the session.
    pub fn with_delete_grace(mut self, grace: Duration) -> ImageDeskApp {
        self.delete_grace = grace;
        self.session = self.session.with_delete_grace(grace);
        self.session.set_counts_query(self.counts.query());
        let history = self.histories.get(&self.history_key());
        self.session.restore_history(history);
        self
    }

    /// The images shown, in order (for tests and the status bar).
    pub fn images(&self) -> &[LocalImage] {
        self.session.images()
    }

    pub fn selected_product(&self) -> Option<i64> {
        self.session.product()
    }

    /// Products the list's search matches (`None` until the engine answered), and the rows
    /// the list and the counts table hold: bounded however large the store is.
    pub fn listed(&self) -> (Option<u64>, usize, usize) {
        (
            self.session.list().total(),
            self.session.list().held(),
            self.session.counts().held(),
        )
    }

    /// The products in the counts table's rows `range` that are held (for tests).
    pub fn counts_rows(&self, range: std::ops::Range<u64>) -> Vec<crate::sync::ProductSummary> {
        range
            .filter_map(|i| self.session.counts().row(i).cloned())
            .collect()
    }

    /// The notices' texts, oldest first (for tests).
    pub fn notices(&self) -> Vec<String> {
        self.notices.list().iter().map(|n| n.text.clone()).collect()
    }

    /// The notices on screen, with their severity and details.
    pub fn notice_list(&self) -> &[Notice] {
        self.notices.list()
    }

    /// How long information and successes stay on screen (tests shorten it).
    pub fn with_notice_lifetime(mut self, lifetime: Duration) -> ImageDeskApp {
        self.notices = Notices::new(lifetime);
        self
    }

    pub fn view(&self) -> View {
        self.view
    }

    /// The image the preview shows, if it is open.
    pub fn previewing(&self) -> Option<ImageId> {
        self.session.previewing()
    }

    /// Whether the preview is open and shows its picture.
    pub fn preview_ready(&self) -> bool {
        self.session.preview_ready()
    }

    /// Texture memory the grid holds now.
    pub fn texture_bytes(&self) -> usize {
        self.session.tiles().texture_bytes()
    }

    /// Grid tiles with a texture, and tiles still being fetched or decoded.
    pub fn tiles_ready_and_loading(&self) -> (usize, usize) {
        let tiles = self.session.tiles();
        (tiles.ready(), tiles.loading())
    }

    /// Grid tiles that could not be fetched (shown as "could not load").
    pub fn tiles_failed(&self) -> usize {
        self.session.tiles().failed()
    }

    /// The "Import folder…" window's import: pictures in the store, of how many (tests).
    pub fn folder_import_progress(&self) -> Option<(usize, usize)> {
        self.folder_import.progress()
    }

    /// The catalogue CSV window's previewed edits, as (product, picture, change) in words.
    pub fn csv_preview(&self) -> Option<Vec<(String, String, String)>> {
        self.catalogue_csv.preview().map(|rows| {
            rows.into_iter()
                .map(|r| (r.product, r.picture, r.change))
                .collect()
        })
    }

    /// The catalogue CSV window's current work, in a word (tests wait on it).
    pub fn csv_stage(&self) -> &'static str {
        self.catalogue_csv.stage().name()
    }

    /// Whether the store is known to take pictures only by URL (file uploads are refused).
    pub fn files_refused(&self) -> bool {
        self.session.files_refused().is_some()
    }

    /// Draws one frame. `eframe::App::ui` calls this; tests call it through egui_kittest.
    pub fn show_ui(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.session.start(&ctx);
        // Gestures read before drawing take effect in this frame, as answers do.
        let mut commands = Vec::new();
        for message in self.session.poll() {
            self.receive(&ctx, message, &mut commands);
        }
        self.session.tick(&ctx);
        if let Some(next) = self.notices.expire(Instant::now()) {
            ctx.request_repaint_after(next);
        }
        if self.session.previewing().is_none()
            && self.session.confirm_delete_all().is_none()
            && self.bulk.confirm.is_none()
        {
            self.shortcuts(ui, &mut commands);
        }
        self.dropped_files(ui, &mut commands);
        self.apply_all(&ctx, commands);

        let mut commands = Vec::new();
        let (list, counts) = self.panels_ui(ui, &mut commands);
        self.overlays_ui(ui, &mut commands);
        // The rows drawn belong to the queries drawn: recorded before a new search or order
        // in `commands` replaces them.
        self.session.rows_shown(list, counts);
        self.apply_all(&ctx, commands);
        self.session.load_wanted_tiles();
        self.session.load_wanted_pages();
    }

    /// Draws the panels; returns the rows drawn of the product list and of the counts table.
    fn panels_ui(
        &mut self,
        ui: &mut egui::Ui,
        commands: &mut Vec<Command>,
    ) -> (Option<VisibleRows>, Option<VisibleRows>) {
        egui::Panel::top("toolbar").show(ui, |ui| self.toolbar_ui(ui, commands));
        egui::Panel::bottom("status").show(ui, |ui| {
            let total = match self.session.store_count() {
                StoreCount::Known(n) => Some(StoreTotal::Store(*n)),
                _ => self.session.totals().map(|t| StoreTotal::Local(t.images)),
            };
            ui.horizontal(|ui| {
                // As tall as a button always, so that neither "Retry now" nor the upload bar
                // changes the bar's height when they come and go.
                ui.set_min_height(ui.spacing().interact_size.y);
                status_ui(
                    ui,
                    self.session.status(),
                    total,
                    self.session.unreadable().len(),
                    commands,
                );
                self.progress_ui(ui);
            });
        });
        let list = egui::Panel::left("products")
            .default_size(240.0)
            .show(ui, |ui| {
                let session = &self.session;
                products_ui(
                    ui,
                    session.list(),
                    &mut self.product_filter,
                    if self.products_selected.is_bulk() {
                        Highlighted::Several(self.products_selected.ids())
                    } else {
                        Highlighted::Shown(session.product())
                    },
                    |product| session.failed_edits(product),
                    |product| session.held_images(product),
                    commands,
                )
            })
            .inner;
        let counts = match self.view {
            View::Images => {
                // A fixed width: a panel that grew with what it shows would take a column
                // from the grid when an image is selected, moving every tile under the pointer.
                egui::Panel::right("details")
                    .resizable(false)
                    .exact_size(DETAILS_WIDTH)
                    .show(ui, |ui| self.details_panel_ui(ui, commands));
                egui::CentralPanel::default().show(ui, |ui| self.images_ui(ui, commands));
                None
            }
            View::Reports => {
                egui::CentralPanel::default().show(ui, |ui| {
                    let session = &mut self.session;
                    self.reports
                        .reports_ui(ui, &mut |image| session.tile_texture(image), commands);
                });
                None
            }
            View::Counts => Some(
                egui::CentralPanel::default()
                    .show(ui, |ui| {
                        self.counts.counts_ui(
                            ui,
                            self.session.counts(),
                            self.session.totals(),
                            self.session.store_count(),
                            commands,
                        )
                    })
                    .inner,
            ),
        };
        (Some(list), counts)
    }

    fn overlays_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let pictures = self.session.conflict_pictures();
        let session = &self.session;
        messages_ui(
            ui,
            session.held(),
            &session.conflicts(),
            &pictures,
            self.notices.list(),
            |product| session.product_name(product),
            commands,
        );
        if let Some((preview, images)) = self.session.preview_parts() {
            preview.preview_ui(ui, images, commands);
        }
        if let Some(confirm) = self.session.confirm_delete_all() {
            confirm_delete_all_ui(ui, confirm, self.session.delete_grace(), commands);
        }
        if self.connection.open {
            self.connection
                .connection_ui(ui.ctx(), &self.profiles, self.session.store(), commands);
        }
        if self.pending_open {
            let session = &self.session;
            pending_ui(
                ui.ctx(),
                session.outbox(),
                &pictures,
                |product| session.product_name(product),
                |image| session.image_name(image),
                commands,
            );
        }
        if self.recently_deleted.is_open() {
            let session = &self.session;
            self.recently_deleted.recently_deleted_ui(
                ui.ctx(),
                |product| session.product_name(product),
                commands,
            );
            for id in self.recently_deleted.take_wanted() {
                self.session.backend().load_deleted_picture(id);
            }
        }
        if self.folder_import.is_open() {
            self.folder_import.folder_import_ui(ui.ctx(), commands);
        }
        if self.catalogue_csv.is_open() {
            self.catalogue_csv.catalogue_csv_ui(ui.ctx(), commands);
        }
        if self.bulk.confirm.is_some() {
            let grace = self.session.delete_grace().as_secs();
            self.bulk
                .confirm_delete_products_ui(ui.ctx(), grace, commands);
        }
        if self.copy_picker.is_open() {
            self.copy_picker.copy_picker_ui(ui.ctx(), commands);
        }
        if self.unreadable_open {
            let session = &self.session;
            unreadable_ui(
                ui.ctx(),
                session.unreadable(),
                |product| session.product_name(product),
                commands,
            );
        }
    }

    /// The tool bar wraps by groups: each group (a label with its field and button, the
    /// undo pair, …) is one item of the wrapping layout, so a label never ends one line while
    /// its field starts the next.
    fn toolbar_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        ui.horizontal_wrapped(|ui| {
            toolbar_group_ui(ui, 1, |ui| {
                for (view, name) in [
                    (View::Images, "Images"),
                    (View::Counts, "Counts"),
                    (View::Reports, "Reports"),
                ] {
                    if ui.selectable_label(self.view == view, name).clicked() {
                        commands.push(Command::ShowView(view));
                    }
                }
            });
            ui.separator();
            toolbar_group_ui(ui, 2, |ui| {
                if ui
                    .button("Stores…")
                    .on_hover_text("Connect to another store; save store profiles")
                    .clicked()
                {
                    commands.push(Command::OpenStoresDialog);
                }
                if ui
                    .button("Refresh")
                    .on_hover_text("Pull the store now (F5)")
                    .clicked()
                {
                    commands.push(Command::Refresh);
                }
            });
            toolbar_group_ui(ui, 3, |ui| self.history_buttons_ui(ui, commands));
            ui.separator();
            // The image actions act on the product shown in the Images view: in the Counts
            // view no product is shown, so they rest rather than act on one out of sight.
            let images_shown = self.view == View::Images && self.session.product().is_some();
            let not_shown = "Open a product in the Images view first";
            toolbar_group_ui(ui, 4, |ui| {
                if ui
                    .add_enabled(
                        images_shown && !self.session.selection().is_empty(),
                        egui::Button::new("Delete selected"),
                    )
                    .on_hover_text("Delete the selected images (Delete)")
                    .clicked()
                {
                    commands.push(Command::DeleteSelection);
                }
                if ui
                    .add_enabled(
                        images_shown && !self.session.images().is_empty(),
                        egui::Button::new("Delete all images…"),
                    )
                    .on_hover_text("Delete every image of this product, after asking")
                    .clicked()
                {
                    commands.push(Command::AskDeleteAll);
                }
                // Not about the product shown: deletes of every product are listed.
                if ui
                    .button("Recently deleted…")
                    .on_hover_text(
                        "Deleted pictures of the last 30 days, to restore (Ctrl+Shift+D)",
                    )
                    .clicked()
                {
                    commands.push(Command::ShowRecentlyDeleted);
                }
            });
            ui.separator();
            // A store that takes pictures only by URL says so before the user picks files.
            let refused = self.session.files_refused();
            let files_ok = refused.is_none() && images_shown;
            let refused = refused.or((!images_shown).then_some(not_shown));
            toolbar_group_ui(ui, 5, |ui| {
                if ui
                    .add_enabled(files_ok, egui::Button::new("Choose files…"))
                    .on_hover_text("Pick images to upload (Ctrl+O)")
                    .on_disabled_hover_text(refused.unwrap_or("Choose a product first"))
                    .clicked()
                {
                    commands.push(Command::ChooseFiles);
                }
            });
            toolbar_group_ui(ui, 6, |ui| {
                let label = ui.label("File path");
                let field = ui
                    .add_enabled(
                        files_ok,
                        egui::TextEdit::singleline(&mut self.add_path).desired_width(200.0),
                    )
                    .labelled_by(label.id)
                    .on_disabled_hover_text(refused.unwrap_or_default());
                if ui
                    .add_enabled(files_ok, egui::Button::new("Add file"))
                    .on_hover_text("Upload the file at this path (Enter in the field)")
                    .on_disabled_hover_text(refused.unwrap_or_default())
                    .clicked()
                    || entered(ui, &field)
                {
                    commands.push(Command::AddFromPath);
                }
            });
            ui.separator();
            toolbar_group_ui(ui, 7, |ui| {
                let label = ui.label("Image URL");
                let field = ui
                    .add_enabled(
                        images_shown,
                        egui::TextEdit::singleline(&mut self.add_url).desired_width(200.0),
                    )
                    .labelled_by(label.id)
                    .on_disabled_hover_text(not_shown);
                if ui
                    .add_enabled(images_shown, egui::Button::new("Add from URL"))
                    .on_hover_text("Have the store download the picture (Enter in the field)")
                    .on_disabled_hover_text(not_shown)
                    .clicked()
                    || entered(ui, &field)
                {
                    commands.push(Command::AddFromUrl);
                }
            });
            ui.separator();
            toolbar_group_ui(ui, 8, |ui| {
                if ui
                    .button("Import folder…")
                    .on_hover_text(
                        "Add a folder's pictures named by SKU (SKU.jpg, SKU-2.jpg) to their products",
                    )
                    .clicked()
                {
                    commands.push(Command::ShowFolderImport);
                }
            });
            toolbar_group_ui(ui, 9, |ui| {
                if ui
                    .button("Export catalogue CSV…")
                    .on_hover_text("Write every image of the store to a CSV file")
                    .clicked()
                {
                    commands.push(Command::ShowCatalogueCsv(CsvMode::Export));
                }
                if ui
                    .button("Import CSV…")
                    .on_hover_text(
                        "Change descriptions, order and thumbnails, or add pictures, from a CSV file; previewed first",
                    )
                    .clicked()
                {
                    commands.push(Command::ShowCatalogueCsv(CsvMode::Import));
                }
            });
        });
    }

    fn history_buttons_ui(&self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let history = self.session.history();
        let undo_hint = history
            .next_undo()
            .map_or("Nothing to undo".to_owned(), |c| {
                format!("Undo the last {} (Ctrl+Z)", c.name())
            });
        if ui
            .add_enabled(history.can_undo(), egui::Button::new("Undo"))
            .on_hover_text(undo_hint)
            .clicked()
        {
            commands.push(Command::Undo);
        }
        if ui
            .add_enabled(history.can_redo(), egui::Button::new("Redo"))
            .on_hover_text("Redo (Ctrl+Shift+Z)")
            .clicked()
        {
            commands.push(Command::Redo);
        }
    }

    /// The uploads in flight as one bar in the status bar (drawn above the grid it pushed the
    /// whole window down while it showed).
    fn progress_ui(&self, ui: &mut egui::Ui) {
        let uploads = self.session.uploads();
        let (files, sent, total) = self
            .session
            .images()
            .iter()
            .filter(|i| i.server_id.is_none())
            .filter_map(|image| uploads.get(&image.id))
            .fold((0usize, 0u64, 0u64), |(n, s, t), (sent, total)| {
                (n + 1, s + sent, t + total)
            });
        if files == 0 {
            return;
        }
        ui.separator();
        let text = match files {
            1 => format!("Uploading {} KiB", total / 1024),
            n => format!("Uploading {n} files, {} KiB", total / 1024),
        };
        ui.add(
            egui::ProgressBar::new(sent as f32 / total.max(1) as f32)
                .desired_width(PROGRESS_WIDTH)
                .show_percentage()
                .text(text),
        );
    }

    fn images_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        // Docked under the grid (never over it), whichever product is shown.
        let (prompt, images, tiles) = self.session.alt_text_parts();
        alt_text_ui(ui, prompt, images, tiles, commands);
        if self.products_selected.is_bulk() {
            let selected = self.products_selected.ids();
            let names: Vec<String> = self
                .session
                .list()
                .rows()
                .filter(|p| selected.contains(&p.id))
                .map(|p| p.name.clone())
                .collect();
            self.bulk
                .bulk_products_ui(ui, &names, selected.len(), commands);
            return;
        }
        if self.session.product().is_none() {
            ui.label("Choose a product on the left.");
            return;
        }
        if self.session.images().is_empty() {
            product_header_ui(ui, self.session.shown_product(), 0, 0);
            drop_zone_ui(ui, self.session.files_refused(), commands);
            return;
        }
        product_header_ui(
            ui,
            self.session.shown_product(),
            self.session.images().len(),
            self.session.selection().len(),
        );
        let missing = self
            .session
            .images()
            .iter()
            .filter(|i| lacks_alt_text(i))
            .count();
        alt_text_filter_ui(ui, self.grid_filter, missing, commands);
        let (images, selection, tiles) = self.session.grid_parts();
        grid_ui(ui, images, self.grid_filter, selection, tiles, commands);
    }

    fn details_panel_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<Command>) {
        let selected = self.session.selection().len();
        if selected > 1 {
            bulk_alt_text_ui(ui, selected, &mut self.bulk_pattern, commands);
            ui.separator();
        }
        let files_refused = self.session.files_refused();
        let first = self.session.images().first().map(|i| i.id);
        let Some((image, draft, tiles, failed)) = self.session.details_parts() else {
            ui.label("Click an image to see its details.");
            return;
        };
        // The grid's texture, drawn as large as the panel allows; the zoomed preview loads
        // the full picture. The box is reserved before the texture arrives, so nothing below
        // it moves when it does.
        let width = ui.available_width();
        let (rect, response) =
            ui.allocate_exact_size(egui::vec2(width, width * 0.75), egui::Sense::click());
        match tiles.get(&image) {
            Tile::Ready(texture) => {
                let size = texture.size_vec2();
                let scale = (rect.width() / size.x).min(rect.height() / size.y);
                egui::Image::new(texture).paint_at(
                    ui,
                    egui::Rect::from_center_size(rect.center(), size * scale),
                );
            }
            // As the grid says it: the picture exists, the store did not answer.
            Tile::Failed => {
                ui.painter().text(
                    rect.center(),
                    egui::Align2::CENTER_CENTER,
                    "could not load",
                    egui::FontId::proportional(13.0),
                    ui.visuals().warn_fg_color,
                );
            }
            Tile::Loading | Tile::Missing => {}
        }
        let response = response.on_hover_text("Double-click to zoom");
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Image, true, "Picture of the image")
        });
        if response.double_clicked() {
            commands.push(Command::Preview(image.id));
        }
        details_ui(
            ui,
            Detailed {
                image: &image,
                is_first: first == Some(image.id),
            },
            draft,
            failed.as_ref(),
            &mut self.replace_path,
            files_refused,
            commands,
        );
    }

    /// Carries out what the frame's gestures and answers asked for, in order.
    fn apply_all(&mut self, ctx: &egui::Context, commands: Vec<Command>) {
        for command in commands {
            self.apply(ctx, command);
        }
    }

    /// The one place where a [`Command`] changes the app or reaches the store.
    fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::ShowView(view) => {
                self.view = view;
                if view == View::Counts {
                    self.session.recount_store(true);
                }
                // The first visit makes the report; later ones show it until asked again.
                if view == View::Reports && matches!(self.reports.state, ReportState::NotRun) {
                    self.apply(ctx, Command::RunReport);
                }
            }
            Command::RunReport => {
                self.reports.state = ReportState::Running { done: 0, total: 0 };
                self.session.backend().run_report();
            }
            Command::OpenStoresDialog => self.connection.open = true,
            Command::SaveStore { profile, token } => {
                let name = profile.name.clone();
                self.remember(profile, token);
                self.notices
                    .push(Notice::success(format!("Saved the store \"{name}\".")));
            }
            Command::SaveAndConnect { profile, token } => {
                self.remember(profile.clone(), token.clone());
                self.session.connect(profile, Some(token));
            }
            Command::ConnectSaved(profile) => self.session.connect(profile, None),
            Command::ForgetStore(profile) => {
                self.profiles.retain(|p| p.api_url != profile.api_url);
                self.session.forget_token(&profile);
            }
            Command::DismissNotice(index) => self.notices.dismiss(index),
            Command::Quit => ctx.send_viewport_cmd(egui::ViewportCommand::Close),
            Command::Refresh => self.session.refresh(),
            Command::RetryNow => self.session.retry_now(),
            Command::RetryEdit(seq) => self.session.retry_edit(seq),
            Command::DiscardEdit(seq) => self.session.discard_edit(seq),
            Command::ShowUnreadable => self.unreadable_open = true,
            Command::ShowPending => {
                self.pending_open = true;
                self.session.load_outbox();
            }
            Command::ClosePending => self.pending_open = false,
            Command::ShowRecentlyDeleted => {
                self.recently_deleted.open();
                self.session.backend().load_recently_deleted();
            }
            Command::CloseRecentlyDeleted => self.recently_deleted.close(),
            Command::RestoreDeleted(id) => {
                let entry = self
                    .recently_deleted
                    .entries()
                    .iter()
                    .find(|e| e.id == id)
                    .cloned();
                if let Some(entry) = entry {
                    self.recently_deleted.mark_busy(id);
                    self.session.backend().restore_deleted(entry);
                }
            }
            Command::ForgetDeleted(id) => {
                self.recently_deleted.mark_busy(id);
                self.session.backend().forget_deleted(id);
            }
            Command::CloseUnreadable => self.unreadable_open = false,
            Command::RecountStore => self.session.recount_store(true),
            Command::SelectProduct(product) => {
                self.products_selected.opened(product, None);
                self.view = View::Images;
                self.session.select_product(product);
            }
            Command::SearchProducts(text) => self.session.search_products(&text),
            Command::SortCounts(column) => {
                self.counts.sort(column);
                self.session.set_counts_query(self.counts.query());
            }
            Command::Click { id, add, extend } => self.session.click(id, add, extend),
            Command::SelectAll => self.session.select_all(),
            Command::ClearSelection => self.session.clear_selection(),
            Command::Open(id) => {
                self.session.click(id, false, false);
                self.session.open_preview(id);
            }
            Command::Preview(id) => self.session.open_preview(id),
            Command::ClosePreview => self.session.close_preview(),
            Command::MoveTo { dragged, slot } => self.session.move_to_slot(dragged, slot),
            Command::MoveSelection(step) => self.session.move_selection(step),
            Command::SaveDescription { id, text } => self.session.describe(id, text),
            Command::SetThumbnail(id) => self.session.set_thumbnail(id),
            Command::SaveAltText => self.session.save_alt_text(),
            Command::SkipAltText => self.session.skip_alt_text(),
            Command::SetGridFilter(filter) => self.grid_filter = filter,
            Command::CommitDescription => self.session.commit_description(),
            Command::DescribeSelection { pattern } => {
                let changed = self.session.describe_selection(&pattern);
                self.notices.push(Notice::info(match changed {
                    0 => "The selected images already have these descriptions.".to_owned(),
                    1 => "Described 1 image; Ctrl+Z undoes it.".to_owned(),
                    n => format!("Described {n} images; Ctrl+Z undoes them one by one."),
                }));
            }
            Command::RevertDescription => self.session.revert_description(),
            Command::Undo => self
                .notices
                .extend(self.session.undo().map(Notice::warning)),
            Command::Redo => self.session.redo(),
            Command::DeleteSelection => self.session.delete_selection(),
            Command::AskDeleteAll => self.session.ask_delete_all(),
            Command::ConfirmDeleteAll => self.session.confirm_delete_all_images(),
            Command::CancelDeleteAll => self.session.cancel_delete_all(),
            Command::UndoHeldDelete(ids) => self.session.release_held(&ids),
            Command::KeepMine(seq) => self.session.keep_mine(seq),
            Command::UseTheirs(seq) => self.session.use_theirs(seq),
            Command::ConflictLater(seq) => self.session.conflict_later(seq),
            Command::ChooseFiles => match (self.session.product(), self.session.files_refused()) {
                (_, Some(why)) => self.notices.push(Notice::warning(why)),
                (Some(product), None) => self.session.pick(Pick::AddFiles { product }),
                (None, None) => self
                    .notices
                    .push(Notice::info("Choose a product before adding images.")),
            },
            Command::AddFromPath => self.add_from_path(),
            Command::AddFromUrl => self.add_from_url(),
            Command::DropFiles(paths) => match self.session.product() {
                // Those named by another product's SKU open the preview (`read_drop`'s rule);
                // otherwise they come back as `Reply::AddToShown` and are added here.
                Some(product)
                    if self.session.files_refused().is_none() && !self.folder_import.busy() =>
                {
                    self.folder_import
                        .read_drop(self.session.backend(), paths, product);
                }
                Some(product) => {
                    self.add_files(product, paths);
                }
                // No product to add them to: those named by a SKU may go to theirs.
                None => self
                    .folder_import
                    .read(self.session.backend(), Source::Dropped(paths)),
            },
            Command::AddFiles { product, paths } => {
                self.add_files(product, paths);
            }
            Command::Replace { id, path } => match self.session.replace(id, path) {
                Ok(()) => self.replace_path.clear(),
                Err(why) => self.notices.push(Notice::warning(why)),
            },
            Command::ChooseReplacement(image) => match self.session.files_refused() {
                Some(why) => self.notices.push(Notice::warning(why)),
                None => self.session.pick(Pick::Replace { image }),
            },
            Command::ExportCsv(path) => self.session.export_csv(path),
            Command::ChooseCsvPath => self.session.pick(Pick::ExportCsv),
            Command::ShowFolderImport => self.folder_import.open(),
            Command::CloseFolderImport => self.folder_import.close(),
            Command::ReadImportFolder => self.folder_import.read_typed(self.session.backend()),
            Command::ApplyFolderImport => self.folder_import.apply(self.session.backend()),
            Command::CancelFolderImport => self.folder_import.cancel(self.session.backend()),
            Command::ShowCatalogueCsv(mode) => self.catalogue_csv.open(mode),
            Command::CloseCatalogueCsv => self.catalogue_csv.close(),
            Command::SubmitCatalogueCsv => match self.catalogue_csv.typed() {
                Some(path) => self.catalogue_csv.submit(self.session.backend(), path),
                None => self.apply(ctx, Command::ChooseCatalogueCsv),
            },
            Command::ChooseCatalogueCsv => self
                .session
                .pick(Pick::CatalogueCsv(self.catalogue_csv.mode())),
            Command::CatalogueCsvChosen(path) => {
                self.catalogue_csv.submit(self.session.backend(), path);
            }
            Command::ApplyCsvImport => self.catalogue_csv.apply(self.session.backend()),
            command @ (Command::ClickProduct { .. }
            | Command::ClearProductSelection
            | Command::DescribeProducts { .. }
            | Command::AskDeleteProducts
            | Command::ConfirmDeleteProducts
            | Command::CancelDeleteProducts
            | Command::ShowCopyPicker(_)
            | Command::SearchCopyTargets(_)
            | Command::ToggleCopyTarget(_)
            | Command::CopyToChosen
            | Command::CloseCopyPicker) => self.apply_bulk(command),
        }
    }

    /// The commands of bulk edits of several products and of copies to other products.
    fn apply_bulk(&mut self, command: Command) {
        match command {
            Command::ClickProduct {
                id,
                index,
                add,
                extend,
            } => {
                self.view = View::Images;
                if !add && !extend {
                    self.products_selected.opened(id, Some(index));
                    self.session.select_product(id);
                    return;
                }
                let list = self.session.list();
                self.products_selected
                    .click(id, index, extend, self.session.product(), |i| {
                        list.row(i).map(|p| p.id)
                    });
                // One left: it is simply the product shown.
                if self.products_selected.len() == 1 {
                    let only = self.products_selected.ids().iter().next().copied();
                    self.products_selected.clear();
                    if let Some(only) = only
                        && self.session.product() != Some(only)
                    {
                        self.session.select_product(only);
                    }
                }
            }
            Command::ClearProductSelection => self.products_selected.clear(),
            Command::DescribeProducts {
                pattern,
                only_missing,
            } => self.load_selected_products(BulkPurpose::Describe {
                pattern,
                only_missing,
            }),
            Command::AskDeleteProducts => self.load_selected_products(BulkPurpose::AskDelete),
            Command::ConfirmDeleteProducts => {
                if let Some(plan) = self.bulk.confirm.take() {
                    let what = super::bulk_products::pictures_of_products(&plan);
                    self.session.delete_products(plan);
                    self.notices.push(Notice::info(format!(
                        "Deleting {what}: Undo (Ctrl+Z) brings them back for {} s; then \"Recently deleted\" keeps them for 30 days.",
                        self.session.delete_grace().as_secs()
                    )));
                }
            }
            Command::CancelDeleteProducts => self.bulk.confirm = None,
            Command::ShowCopyPicker(image) => {
                let sources = self.session.copy_sources(image);
                if sources.is_empty() {
                    self.notices.push(Notice::info(
                        "Select the images to copy first (click a tile; Ctrl+click adds more).",
                    ));
                    return;
                }
                let (serial, search) = self.copy_picker.open(sources, self.session.product());
                self.session.backend().search_copy_targets(serial, search);
            }
            Command::SearchCopyTargets(text) => {
                self.copy_picker.search = text;
                let (serial, search) = self.copy_picker.next_search();
                self.session.backend().search_copy_targets(serial, search);
            }
            Command::ToggleCopyTarget(product) => self.copy_picker.toggle(product),
            Command::CopyToChosen => {
                let images = self.copy_picker.images().to_vec();
                let targets = self.copy_picker.chosen();
                if self.copy_picker.is_copying() || images.is_empty() || targets.is_empty() {
                    return;
                }
                self.copy_picker.started(images.len() * (1 + targets.len()));
                self.session.backend().copy_images(images, targets);
            }
            Command::CloseCopyPicker => self.copy_picker.close(),
            // `apply` sends only the commands above here.
            _ => {}
        }
    }

    /// Reads every image of the selected products for a bulk edit (`Message::ProductsImages`).
    fn load_selected_products(&mut self, purpose: BulkPurpose) {
        let products: Vec<i64> = self.products_selected.ids().iter().copied().collect();
        if products.is_empty() {
            return;
        }
        self.bulk.busy = true;
        self.session
            .backend()
            .load_products_images(products, purpose);
    }

    /// The selected products' images arrived: describe them, or ask before deleting them.
    fn products_images_arrived(
        &mut self,
        purpose: BulkPurpose,
        result: Result<Vec<super::bulk_products::ProductImages>, String>,
    ) {
        self.bulk.busy = false;
        let products = match result {
            Ok(products) => products,
            Err(why) => {
                self.notices.push(Notice::error(why));
                return;
            }
        };
        let held = self.session.held_ids();
        match purpose {
            BulkPurpose::Describe {
                pattern,
                only_missing,
            } => {
                let changes = describe_changes(&products, &pattern, only_missing, &held);
                let count = self.session.describe_images(changes);
                let of = products.len();
                self.notices.push(Notice::info(match (count, only_missing) {
                    (0, true) => "Every image of these products has alt text already; untick \"Only images without alt text\" to replace it.".to_owned(),
                    (0, false) => "Every image of these products has this alt text already.".to_owned(),
                    (1, _) => format!("Described 1 image of {of} products; Ctrl+Z undoes it."),
                    (n, _) => format!(
                        "Described {n} images of {of} products; Ctrl+Z undoes them one by one."
                    ),
                }));
            }
            BulkPurpose::AskDelete => {
                let plan = delete_plan(&products, &held);
                if plan.is_empty() {
                    self.notices
                        .push(Notice::info("These products have no images to delete."));
                } else {
                    self.bulk.confirm = Some(plan);
                }
            }
        }
    }

    /// What came back from the backend: answers for the session, the rest for the window.
    fn receive(&mut self, ctx: &egui::Context, message: Message, commands: &mut Vec<Command>) {
        match message {
            Message::Page {
                table,
                generation,
                page,
                rows,
            } => self.session.page_arrived(table, generation, page, rows),
            Message::Totals(totals) => self.session.set_totals(totals),
            Message::ReportProgress { done, total } => {
                if matches!(self.reports.state, ReportState::Running { .. }) {
                    self.reports.state = ReportState::Running { done, total };
                }
            }
            // Only the report asked for in this store (a switch starts the view afresh).
            Message::Report(result)
                if matches!(self.reports.state, ReportState::Running { .. }) =>
            {
                self.reports.state = match result {
                    Ok(report) => ReportState::Ready(report.into()),
                    Err(why) => ReportState::Failed(why),
                };
            }
            Message::Report(_) => {}
            Message::ShownProduct(product) => self.session.set_shown_summary(product),
            Message::Images { product_id, images } => self.session.set_images(product_id, images),
            Message::Tile { id, key, tile } => self.session.tile_arrived(ctx, id, &key, tile),
            Message::Preview { id, picture } => self.session.preview_arrived(ctx, id, picture),
            Message::UploadRoute(route) => self.session.set_upload_route(route),
            Message::Unreadable(records) => self.session.set_unreadable(records),
            Message::StoreCount(count) => self.session.set_store_count(count),
            Message::Status(status) => self.session.set_status(status),
            Message::Outbox(outbox) => self.session.set_outbox(outbox),
            Message::Event(event) => {
                // A delete that went out has its copy now: the open list shows it.
                if self.recently_deleted.is_open()
                    && matches!(event, crate::sync::Event::ImagesChanged { .. })
                {
                    self.session.backend().load_recently_deleted();
                }
                self.folder_import.event(self.session.backend(), &event);
                self.notices.extend(self.session.on_event(event));
            }
            Message::RecentlyDeleted(entries) => self.recently_deleted.set_entries(entries),
            Message::DeletedPicture { id, picture } => {
                self.recently_deleted.picture_arrived(ctx, id, picture);
            }
            Message::Restored(entry) => {
                let product = entry
                    .product_name
                    .clone()
                    .unwrap_or_else(|| self.session.product_name(entry.product_id));
                self.notices.push(Notice::success(restored_words(
                    &entry.description,
                    &product,
                    entry.position,
                )));
            }
            Message::Added { product, pictures } => self.session.ask_alt_text(product, pictures),
            Message::Picked { purpose, paths } => commands.extend(picked(purpose, paths)),
            Message::NoDialog(purpose) => self
                .notices
                .push(Notice::warning(no_dialog_advice(purpose))),
            Message::TokenSaved(name) => self.notices.push(Notice::success(format!(
                "Saved the token of \"{name}\" in a file only you can read."
            ))),
            Message::Connected { backend, title } => self.connected(ctx, *backend, title),
            Message::Saved(path) => self.notices.push(Notice::success(format!(
                "Saved the counts to {}.",
                path.display()
            ))),
            Message::FolderImport(super::folder_plan::Reply::AddToShown { product, files }) => {
                commands.push(Command::AddFiles {
                    product,
                    paths: files,
                });
            }
            Message::FolderImport(reply) => {
                self.folder_import.receive(self.session.backend(), reply);
            }
            Message::CatalogueCsv(reply) => {
                self.notices.extend(self.catalogue_csv.receive(reply));
            }
            Message::ProductsImages { purpose, result } => {
                self.products_images_arrived(purpose, result);
            }
            Message::CopyTargets { serial, rows } => {
                self.copy_picker.matches_arrived(serial, rows);
            }
            Message::CopyProgress { done, total } => self.copy_picker.progressed(done, total),
            Message::Copied(result) => match result {
                Ok(report) => {
                    self.copy_picker.finished(true);
                    self.notices.push(Notice::success(copied_words(&report)));
                }
                Err(why) => {
                    self.copy_picker.finished(false);
                    self.notices.push(Notice::error(why));
                }
            },
            Message::Error(text) => self.notices.push(Notice::error(text)),
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
            self.session.save_token(&profile, token.trim().to_owned());
        }
    }

    /// Switches the window to another store: held deletes go to the old store's queue, and a
    /// new session replaces the old one.
    fn connected(&mut self, ctx: &egui::Context, backend: Backend, title: String) {
        self.session.hand_over_held_deletes();
        let key = self.history_key();
        self.histories.set(key, self.session.history());
        self.session = StoreSession::new(backend, self.delete_grace);
        let history = self.histories.get(&self.history_key());
        self.session.restore_history(history);
        self.session.set_counts_query(self.counts.query());
        self.product_filter.clear();
        // The other store's deleted pictures are its own.
        self.recently_deleted = RecentlyDeleted::default();
        // An import under way goes on in the other store's outbox; its window starts afresh.
        self.folder_import = FolderImport::default();
        self.catalogue_csv = CatalogueCsv::default();
        self.reports = ReportsView::default();
        self.session.start(ctx);
        self.notices
            .push(Notice::success(format!("Connected to {title}.")));
        ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!("imagedesk — {title}")));
    }

    fn add_from_path(&mut self) {
        let Some(product) = self.session.product() else {
            return;
        };
        let path = self.add_path.trim();
        if path.is_empty() {
            self.notices
                .push(Notice::info("Type the path of an image file first."));
            return;
        }
        let path = super::typed_path::resolve(path);
        if self.add_files(product, vec![path]) {
            self.add_path.clear();
        }
    }

    /// Queues files for upload, or says why the store cannot take them; whether they queued.
    fn add_files(&mut self, product: i64, paths: Vec<PathBuf>) -> bool {
        match self.session.add_files(product, paths) {
            Ok(()) => true,
            Err(why) => {
                self.notices.push(Notice::warning(why));
                false
            }
        }
    }

    fn add_from_url(&mut self) {
        let Some(product) = self.session.product() else {
            return;
        };
        let url = self.add_url.trim().to_owned();
        if url.is_empty() {
            self.notices
                .push(Notice::info("Type the URL of an image first."));
            return;
        }
        self.session.add_url(product, url);
        self.add_url.clear();
    }

    fn shortcuts(&self, ui: &egui::Ui, commands: &mut Vec<Command>) {
        // Keys typed into a text field belong to the field.
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let pressed = |key: Key| ui.input(|i| i.key_pressed(key));
        let (command, shift) = ui.input(|i| (i.modifiers.command, i.modifiers.shift));
        if pressed(Key::F5) {
            commands.push(Command::Refresh);
        }
        // Ctrl+R, as panels::RETRY_SHORTCUT names it in the button's hover text.
        if command && pressed(Key::R) {
            commands.push(Command::RetryNow);
        }
        // Alt with the arrows moves the selection (plain arrows are the preview's); Home (or
        // Alt+Home, as before) puts it first, the picture shoppers see.
        let (alt, plain) = ui.input(|i| (i.modifiers.alt, i.modifiers.is_none()));
        if alt && pressed(Key::ArrowLeft) {
            commands.push(Command::MoveSelection(MoveStep::Back));
        }
        if alt && pressed(Key::ArrowRight) {
            commands.push(Command::MoveSelection(MoveStep::On));
        }
        // Keys that act on the shown product's images rest in the Counts view.
        let images_shown = self.view == View::Images;
        if (alt || (plain && images_shown)) && pressed(Key::Home) {
            commands.push(Command::MoveSelection(MoveStep::First));
        }
        if images_shown && pressed(Key::Delete) {
            commands.push(Command::DeleteSelection);
        }
        if images_shown && command && pressed(Key::A) {
            commands.push(Command::SelectAll);
        }
        if pressed(Key::Escape) {
            commands.push(Command::ClearSelection);
        }
        if images_shown && command && shift && pressed(Key::C) {
            commands.push(Command::ShowCopyPicker(None));
        }
        if command && shift && pressed(Key::D) {
            commands.push(Command::ShowRecentlyDeleted);
        }
        if command && pressed(Key::Q) {
            commands.push(Command::Quit);
        }
        if images_shown && command && pressed(Key::O) {
            commands.push(Command::ChooseFiles);
        }
        if (command && shift && pressed(Key::Z)) || (command && pressed(Key::Y)) {
            commands.push(Command::Redo);
        } else if command && pressed(Key::Z) {
            commands.push(Command::Undo);
        }
        if (pressed(Key::Enter) || pressed(Key::Space))
            && let Some(id) = self.session.focus()
        {
            commands.push(Command::Preview(id));
        }
    }

    fn dropped_files(&self, ui: &egui::Ui, commands: &mut Vec<Command>) {
        let paths: Vec<PathBuf> = ui.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if !paths.is_empty() {
            commands.push(Command::DropFiles(paths));
        }
    }

    /// The window is closing: deletes still held for Undo go to the engine now, so that what
    /// the user saw deleted stays deleted (the engine sends them on the next start if needed).
    pub fn flush_held_deletes(&mut self) {
        self.session.flush_held_deletes();
    }
}

/// One group of the tool bar, kept on one line: it starts a new line when the width it took
/// last frame does not fit in what is left of this one (egui's wrapping layout wraps single
/// widgets, not groups).
fn toolbar_group_ui(ui: &mut egui::Ui, salt: u8, add: impl FnOnce(&mut egui::Ui)) {
    let id = ui.scope_id().with(("toolbar-group", salt));
    let width: Option<f32> = ui.data(|d| d.get_temp(id));
    let at_line_start = ui.cursor().min.x <= ui.max_rect().left() + 1.0;
    if let Some(width) = width
        && !at_line_start
        && ui.available_size_before_wrap().x < width
    {
        ui.end_row();
    }
    let drawn = ui.horizontal(add);
    ui.data_mut(|d| d.insert_temp(id, drawn.response.rect.width()));
}

/// What an empty product shows: a large target for dropped files, with a button for those who
/// do not drag (the tool bar's "Choose files…", where it is easy to miss).
fn drop_zone_ui(
    ui: &mut egui::Ui,
    files_refused: Option<&'static str>,
    commands: &mut Vec<Command>,
) {
    let stroke = egui::Stroke::new(2.0, ui.visuals().weak_text_color());
    egui::Frame::new()
        .stroke(stroke)
        .corner_radius(8.0)
        .inner_margin(24.0)
        .show(ui, |ui| {
            ui.set_min_size(egui::vec2(ui.available_width(), 160.0));
            ui.vertical_centered(|ui| {
                ui.add_space(32.0);
                ui.horizontal(|ui| {
                    ui.label("Drop pictures here or");
                    if ui
                        .add_enabled(files_refused.is_none(), egui::Button::new("Choose files…"))
                        .on_hover_text("Pick images to upload (Ctrl+O)")
                        .on_disabled_hover_text(files_refused.unwrap_or_default())
                        .clicked()
                    {
                        commands.push(Command::ChooseFiles);
                    }
                });
                if files_refused.is_some() {
                    ui.label("This store takes pictures by URL only: use \"Image URL\" above.");
                }
            });
        });
}

/// Enter pressed in a one-line field: it submits, as the button beside it does.
fn entered(ui: &egui::Ui, field: &egui::Response) -> bool {
    field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// What a file dialog's answer asks for.
fn picked(purpose: Pick, paths: Vec<PathBuf>) -> Option<Command> {
    match purpose {
        Pick::AddFiles { product } => Some(Command::AddFiles { product, paths }),
        Pick::Replace { image } => paths
            .into_iter()
            .next()
            .map(|path| Command::Replace { id: image, path }),
        Pick::ExportCsv => paths.into_iter().next().map(Command::ExportCsv),
        Pick::CatalogueCsv(_) => paths.into_iter().next().map(Command::CatalogueCsvChosen),
    }
}

fn no_dialog_advice(purpose: Pick) -> &'static str {
    match purpose {
        Pick::AddFiles { .. } => {
            "No file dialog appeared: this desktop has no file chooser service (XDG portal). Type the file's path in \"File path\" and press \"Add file\", or drop files on the window."
        }
        Pick::Replace { .. } => {
            "No file dialog appeared: this desktop has no file chooser service (XDG portal). Type the new file's path under \"Replacement file path\" and press \"Replace picture\"."
        }
        Pick::CatalogueCsv(_) => {
            "No file dialog appeared: this desktop has no file chooser service (XDG portal). Type the file's path in \"CSV file\" and press Enter."
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
        self.save_history(storage);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.flush_held_deletes();
    }
}

/// What the bulk alt-text field starts with.
const DEFAULT_PATTERN: &str = "{product} — view {n}";

/// Several images selected: one alt text for all of them, from a pattern.
fn bulk_alt_text_ui(
    ui: &mut egui::Ui,
    selected: usize,
    pattern: &mut String,
    commands: &mut Vec<Command>,
) {
    ui.strong(format!("{selected} images selected"));
    let label = ui.label("Alt text for all of them");
    let field = ui
        .add(egui::TextEdit::singleline(pattern).desired_width(f32::INFINITY))
        .labelled_by(label.id)
        .on_hover_text(super::controller::PATTERN_HELP);
    let entered = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
    let apply = ui
        .add_enabled(
            !pattern.trim().is_empty(),
            egui::Button::new("Describe the selected"),
        )
        .on_hover_text(super::controller::PATTERN_HELP);
    if (apply.clicked() || entered) && !pattern.trim().is_empty() {
        commands.push(Command::DescribeSelection {
            pattern: pattern.clone(),
        });
    }
    if ui
        .button("Copy to other products…")
        .on_hover_text("Add copies of the selected pictures to other products (Ctrl+Shift+C)")
        .clicked()
    {
        commands.push(Command::ShowCopyPicker(None));
    }
}
