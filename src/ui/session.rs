//! Everything the window knows about one store: its products, the product shown, its images,
//! selection, held deletes and undo history (in the [`Controller`]), tiles, the preview,
//! conflicts, the sync status and the store-wide count. Switching stores builds a new session
//! instead of resetting fields one by one.
//!
//! The session is the app's only way to the store: it hands the controller's [`Edit`]s and its
//! own reads to the [`Backend`], which runs them on the tokio runtime.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::alt_text::{AltTextPrompt, NewPicture};
use super::backend::{Backend, Message, Pick};
use super::catalogue::{ProductPages, Table, VisibleRows};
use super::controller::{Controller, Edit, MoveStep, parse_image_id};
use super::counts::StoreCount;
use super::history::{HeldDelete, History};
use super::notices::{Notice, Severity};
use super::preview::Preview;
use super::profiles::{CurrentStore, Profile};
use super::tiles::{Loaded, Tile, TileCache};
use super::words;
use crate::sync::{
    CatalogueTotals, ConflictField, Connection, EditKind, Event, HeldConflict, ImageId, LocalImage,
    OutboxEntry, ProductPage, ProductQuery, ProductSummary, Status, UnreadableRecord, UploadRoute,
};

/// What the app says when a store that takes pictures only by URL is handed files.
pub const URL_ONLY: &str = "This store takes pictures only by URL: use Add from URL.";

/// What the session knows of how the store takes local files (asked once per store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKnowledge {
    NotAsked,
    Asking,
    Known(UploadRoute),
    /// The question failed (offline, most likely): uploads stay allowed (the engine queues
    /// them) and the question is asked again when the store answers or a product is chosen.
    Failed(String),
}

/// Texture memory the grid may hold (decoded RGBA tiles).
const TILE_BUDGET_BYTES: usize = 192 * 1024 * 1024;

/// The store-wide count is asked again after changes, but not more often than this.
const RECOUNT_EVERY: Duration = Duration::from_secs(3);

/// The tables' rows and the totals are read again after the replica changed, but not more
/// often than this: a pull of a large store changes it many times a second.
const REREAD_CATALOGUE_EVERY: Duration = Duration::from_millis(500);

/// "Delete all images" waiting for the user's yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmDeleteAll {
    pub product: i64,
    pub name: String,
    pub count: usize,
}

pub struct StoreSession {
    backend: Backend,
    started: bool,
    /// The product list's rows, as pages around the rows drawn.
    list: ProductPages,
    /// The counts table's rows (its own order), likewise.
    counts: ProductPages,
    /// The catalogue's totals as last read.
    totals: Option<CatalogueTotals>,
    /// The product shown, as the list shows it (it may be on no page held).
    shown: Option<ProductSummary>,
    /// The replica changed since the tables were last read.
    catalogue_stale: bool,
    catalogue_read: Option<Instant>,
    controller: Controller,
    tiles: TileCache,
    /// Uploads in flight: (bytes sent, total).
    uploads: HashMap<ImageId, (u64, u64)>,
    /// Held edits whose message the person put off ("Later"); a new store change shows it again.
    conflicts_later: HashSet<i64>,
    status: Status,
    store_count: StoreCount,
    store_count_asked: Option<Instant>,
    /// A recount was skipped to keep to [`RECOUNT_EVERY`]; it is owed.
    recount_owed: bool,
    preview: Option<Preview>,
    confirm_delete_all: Option<ConfirmDeleteAll>,
    upload_route: RouteKnowledge,
    /// The store's records the engine could not read, as the engine last listed them.
    unreadable: Vec<UnreadableRecord>,
    /// The engine's queue as last read: which edit Retry and Discard act on, and how many of a
    /// product's queued edits failed (the product list counts them apart from pending ones).
    outbox: Vec<OutboxEntry>,
    /// The new pictures waiting for their descriptions.
    alt_text: AltTextPrompt,
}

impl StoreSession {
    /// A session over `backend`'s store; deletes wait `delete_grace` for Undo.
    pub fn new(backend: Backend, delete_grace: Duration) -> StoreSession {
        StoreSession {
            backend,
            started: false,
            list: ProductPages::new(ProductQuery::default()),
            counts: ProductPages::new(ProductQuery::default()),
            totals: None,
            shown: None,
            catalogue_stale: false,
            catalogue_read: None,
            controller: Controller::new(delete_grace),
            tiles: TileCache::new(TILE_BUDGET_BYTES),
            uploads: HashMap::new(),
            conflicts_later: HashSet::new(),
            status: Status::default(),
            store_count: StoreCount::NotAsked,
            store_count_asked: None,
            recount_owed: false,
            preview: None,
            confirm_delete_all: None,
            upload_route: RouteKnowledge::NotAsked,
            unreadable: Vec::new(),
            outbox: Vec::new(),
            alt_text: AltTextPrompt::default(),
        }
    }

    /// Deletes wait `grace` for Undo; only before the session is used (it starts over).
    pub fn with_delete_grace(mut self, grace: Duration) -> StoreSession {
        self.controller = Controller::new(grace);
        self
    }

    /// On the first frame: wake this window when answers arrive, load the products, count.
    pub fn start(&mut self, ctx: &egui::Context) {
        if self.started {
            return;
        }
        self.started = true;
        self.backend.attach(ctx);
        self.backend.load_totals();
        self.catalogue_read = Some(Instant::now());
        self.backend.load_unreadable();
        self.recount_store(true);
    }

    /// Answers that arrived since the last frame.
    pub fn poll(&self) -> Vec<Message> {
        self.backend.poll()
    }

    // -- what is shown -------------------------------------------------------------------------

    /// The product list's rows.
    pub fn list(&self) -> &ProductPages {
        &self.list
    }

    /// The counts table's rows.
    pub fn counts(&self) -> &ProductPages {
        &self.counts
    }

    pub fn totals(&self) -> Option<&CatalogueTotals> {
        self.totals.as_ref()
    }

    pub fn product(&self) -> Option<i64> {
        self.controller.product()
    }

    /// The images shown, in order.
    pub fn images(&self) -> &[LocalImage] {
        self.controller.images()
    }

    pub fn selection(&self) -> &BTreeSet<ImageId> {
        self.controller.selection()
    }

    pub fn focus(&self) -> Option<ImageId> {
        self.controller.focus()
    }

    pub fn history(&self) -> &History {
        self.controller.history()
    }

    /// Puts back the undo history a previous run saved (before the user edits).
    pub fn restore_history(&mut self, history: History) {
        self.controller.restore_history(history);
    }

    /// Which store this is, when the backend was told.
    pub fn store(&self) -> Option<&CurrentStore> {
        self.backend.store()
    }

    pub fn held(&self) -> &[HeldDelete] {
        self.controller.held()
    }

    /// The held edits (the store changed the same field) whose message is shown: they wait for
    /// "Keep mine" or "Use the store's".
    pub fn conflicts(&self) -> Vec<OutboxEntry> {
        self.outbox
            .iter()
            .filter(|e| e.held.is_some() && !self.conflicts_later.contains(&e.seq))
            .cloned()
            .collect()
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Why local files cannot be added to this store, when it is known that they cannot.
    pub fn files_refused(&self) -> Option<&'static str> {
        match self.upload_route {
            RouteKnowledge::Known(UploadRoute::Unsupported) => Some(URL_ONLY),
            _ => None,
        }
    }

    pub fn unreadable(&self) -> &[UnreadableRecord] {
        &self.unreadable
    }

    /// Every queued edit, pending and failed, as last read.
    pub fn outbox(&self) -> &[OutboxEntry] {
        &self.outbox
    }

    /// The refused edit of an image (the one Retry and Discard act on), if it has one.
    pub fn failed_edit(&self, image: ImageId) -> Option<&OutboxEntry> {
        self.outbox
            .iter()
            .find(|e| e.image == Some(image) && e.failed.is_some())
    }

    /// How many of a product's images are deleted and wait in the Undo toast.
    pub fn held_images(&self, product: i64) -> u64 {
        self.controller
            .held()
            .iter()
            .filter(|h| h.product == product)
            .map(|h| h.ids.len() as u64)
            .sum()
    }

    /// How many of a product's queued edits the store refused.
    pub fn failed_edits(&self, product: i64) -> u64 {
        self.outbox
            .iter()
            .filter(|e| e.product_id == product && e.failed.is_some())
            .count() as u64
    }

    pub fn store_count(&self) -> &StoreCount {
        &self.store_count
    }

    pub fn uploads(&self) -> &HashMap<ImageId, (u64, u64)> {
        &self.uploads
    }

    pub fn delete_grace(&self) -> Duration {
        self.controller.delete_grace()
    }

    pub fn confirm_delete_all(&self) -> Option<&ConfirmDeleteAll> {
        self.confirm_delete_all.as_ref()
    }

    pub fn previewing(&self) -> Option<ImageId> {
        self.preview.as_ref().map(|p| p.id)
    }

    /// Whether the open preview shows its picture.
    pub fn preview_ready(&self) -> bool {
        self.preview.as_ref().is_some_and(Preview::ready)
    }

    /// An image's tile if it is loaded; asks for it otherwise (any product's image: the
    /// Reports view shows pictures of many).
    pub fn tile_texture(&mut self, image: &LocalImage) -> Option<egui::TextureHandle> {
        match self.tiles.get(image) {
            Tile::Ready(texture) => Some(texture.clone()),
            _ => None,
        }
    }

    pub fn tiles(&self) -> &TileCache {
        &self.tiles
    }

    /// The images, selection and tiles, for the grid.
    pub fn grid_parts(&mut self) -> (&[LocalImage], &BTreeSet<ImageId>, &mut TileCache) {
        (
            self.controller.images(),
            self.controller.selection(),
            &mut self.tiles,
        )
    }

    /// The focused image, its description editor's text, the tiles and the image's refused
    /// edit, if any, for the details panel.
    pub fn details_parts(
        &mut self,
    ) -> Option<(LocalImage, &mut String, &mut TileCache, Option<OutboxEntry>)> {
        let image = self.controller.focused_image()?.clone();
        let failed = self.failed_edit(image.id).cloned();
        Some((image, &mut self.controller.draft, &mut self.tiles, failed))
    }

    /// The alt-text prompt, the images shown and the tiles, for the prompt's rows.
    pub fn alt_text_parts(&mut self) -> (&mut AltTextPrompt, &[LocalImage], &mut TileCache) {
        (
            &mut self.alt_text,
            self.controller.images(),
            &mut self.tiles,
        )
    }

    /// The open preview and the images it steps through.
    pub fn preview_parts(&mut self) -> Option<(&mut Preview, &[LocalImage])> {
        let preview = self.preview.as_mut()?;
        Some((preview, self.controller.images()))
    }

    /// The product shown, as the list shows it (name, SKU), once its row has been read.
    pub fn shown_product(&self) -> Option<&ProductSummary> {
        self.find_product(self.controller.product()?)
    }

    pub fn product_name(&self, product: i64) -> String {
        self.find_product(product)
            .map_or_else(|| format!("product {product}"), |p| p.name.clone())
    }

    /// "Image 2" (its place in the grid) when it is shown, else "a picture": the grid never
    /// shows the engine's ids, so the words must not either.
    pub fn image_name(&self, image: ImageId) -> String {
        match self.controller.images().iter().position(|i| i.id == image) {
            Some(at) => format!("image {}", at + 1),
            None => "a picture".to_owned(),
        }
    }

    /// A shown image's place and tile texture, for a message that is about it.
    fn pictured(&mut self, image: ImageId) -> Pictured {
        let shown = self.controller.images().iter().position(|i| i.id == image);
        let texture = shown.and_then(|at| {
            let image = self.controller.images()[at].clone();
            match self.tiles.get(&image) {
                Tile::Ready(texture) => Some(texture.clone()),
                _ => None,
            }
        });
        Pictured {
            position: shown.map(|at| at + 1),
            texture,
        }
    }

    /// The pictures each held edit is about, by its seq: the image, and for a thumbnail the
    /// one the store made the thumbnail.
    pub fn conflict_pictures(&mut self) -> HashMap<i64, (Pictured, Option<Pictured>)> {
        let held: Vec<(i64, Option<ImageId>, HeldConflict)> = self
            .outbox
            .iter()
            .filter_map(|e| Some((e.seq, e.image, e.held.clone()?)))
            .collect();
        held.into_iter()
            .map(|(seq, image, held)| {
                let theirs = match held.field {
                    ConflictField::Thumbnail => {
                        parse_image_id(&held.theirs).map(|id| self.pictured(id))
                    }
                    _ => None,
                };
                let mine = image.map(|id| self.pictured(id)).unwrap_or_default();
                (seq, (mine, theirs))
            })
            .collect()
    }

    /// A product's row, if the session holds it (shown, or on a page of either table).
    fn find_product(&self, product: i64) -> Option<&ProductSummary> {
        self.shown
            .iter()
            .chain(self.list.rows())
            .chain(self.counts.rows())
            .find(|p| p.id == product)
    }

    // -- answers from the backend ----------------------------------------------------------------

    /// A page of a table; answers to an older search or order are dropped. The first page of
    /// the list opens its first product when none is shown yet.
    pub fn page_arrived(&mut self, table: Table, generation: u64, page: u64, rows: ProductPage) {
        let pages = match table {
            Table::List => &mut self.list,
            Table::Counts => &mut self.counts,
        };
        if !pages.arrived(generation, page, rows) {
            return;
        }
        if let Some(shown) = self.shown.as_ref().map(|p| p.id)
            && let Some(fresh) = pages.rows().find(|p| p.id == shown)
        {
            self.shown = Some(fresh.clone());
        }
        if table == Table::List
            && self.controller.product().is_none()
            && let Some(first) = self.list.row(0).map(|p| p.id)
        {
            self.select_product(first);
        }
    }

    pub fn set_totals(&mut self, totals: CatalogueTotals) {
        self.totals = Some(totals);
    }

    /// The product shown, read on its own (it was on no page held when it was opened).
    pub fn set_shown_summary(&mut self, product: ProductSummary) {
        if self.controller.product() == Some(product.id) {
            self.shown = Some(product);
        }
    }

    /// The rows the frame drew in each table (`None`: that table was not drawn).
    pub fn rows_shown(&mut self, list: Option<VisibleRows>, counts: Option<VisibleRows>) {
        if let Some(rows) = list {
            self.list.shown(rows);
        }
        if let Some(rows) = counts {
            self.counts.shown(rows);
        }
    }

    /// Another search of the product list: each keystroke asks the engine.
    pub fn search_products(&mut self, text: &str) {
        let query = ProductQuery {
            search: text.trim().to_owned(),
            ..self.list.query().clone()
        };
        self.list.set_query(query);
    }

    /// Another order of the counts table.
    pub fn set_counts_query(&mut self, query: ProductQuery) {
        self.counts.set_query(query);
    }

    /// Writes every product of the counts table, in its order, as CSV (paged off the UI thread).
    pub fn export_csv(&self, path: PathBuf) {
        self.backend.export_csv(path, self.counts.query().clone());
    }

    /// After the frame: asks for the pages the tables lack.
    pub fn load_wanted_pages(&mut self) {
        for request in self.list.take_requests() {
            self.backend.load_page(Table::List, request);
        }
        for request in self.counts.take_requests() {
            self.backend.load_page(Table::Counts, request);
        }
    }

    /// Reads the tables' rows and the totals again, now or when [`REREAD_CATALOGUE_EVERY`]
    /// allows.
    fn catalogue_changed(&mut self) {
        self.catalogue_stale = true;
    }

    pub fn set_images(&mut self, product_id: i64, images: Vec<LocalImage>) {
        self.controller.set_images(product_id, images);
        self.close_hidden_preview();
    }

    pub fn tile_arrived(&mut self, ctx: &egui::Context, id: ImageId, key: &str, tile: Loaded) {
        self.tiles.insert(ctx, id, key, tile);
    }

    pub fn preview_arrived(&mut self, ctx: &egui::Context, id: ImageId, picture: Loaded) {
        if let Some(preview) = &mut self.preview {
            preview.loaded(ctx, id, picture);
        }
    }

    pub fn set_upload_route(&mut self, route: Result<UploadRoute, String>) {
        self.upload_route = match route {
            Ok(route) => RouteKnowledge::Known(route),
            Err(why) => {
                tracing::debug!("could not ask how the store takes files: {why}");
                RouteKnowledge::Failed(why)
            }
        };
    }

    pub fn set_outbox(&mut self, outbox: Vec<OutboxEntry>) {
        self.outbox = outbox;
    }

    pub fn set_unreadable(&mut self, records: Vec<UnreadableRecord>) {
        self.unreadable = records;
    }

    pub fn set_store_count(&mut self, count: Result<u64, String>) {
        self.store_count = match count {
            Ok(n) => StoreCount::Known(n),
            Err(why) => StoreCount::Failed(why),
        };
    }

    pub fn set_status(&mut self, status: Status) {
        let came_back = !answers(self.status.connection) && answers(status.connection);
        // The queue changed: read it again, so the details and the list agree with the bar.
        let queue_changed = (status.pending, status.held, status.failed)
            != (self.status.pending, self.status.held, self.status.failed);
        if queue_changed || self.outbox.len() as u64 != status.pending + status.failed {
            self.backend.load_outbox();
        }
        self.status = status;
        if came_back {
            self.ask_failed_again();
        }
    }

    /// An engine event; returns what the user should be told, if anything.
    pub fn on_event(&mut self, event: Event) -> Option<Notice> {
        match event {
            Event::ProductsChanged => {
                self.catalogue_changed();
                self.recount_store(false);
            }
            Event::ImagesChanged { product_id } => {
                self.catalogue_changed();
                if Some(product_id) == self.controller.product() {
                    self.backend.load_images(product_id);
                }
                self.recount_store(false);
            }
            Event::Conflict(conflict) => {
                // The held edit shows from the queue; a new store value shows it again.
                self.conflicts_later.remove(&conflict.seq);
                self.backend.load_outbox();
            }
            Event::EditsDropped {
                product_id,
                image,
                edits,
                reason,
            } => {
                let changes = match edits {
                    1 => "1 change".to_owned(),
                    n => format!("{n} changes"),
                };
                return Some(
                    Notice::warning(format!(
                        "{changes} to {} of \"{}\" could not be sent and were dropped.",
                        self.image_name(image),
                        self.product_name(product_id)
                    ))
                    .with_details(reason),
                );
            }
            Event::EditFailed { kind, message, .. } => {
                self.backend.load_outbox();
                let what = edit_in_words(kind);
                let said = if words::unreachable(&message) {
                    format!("{what} could not be sent: the store could not be reached.")
                } else {
                    format!(
                        "The store refused {}: {}.",
                        what.to_lowercase(),
                        words::store_reason(&message)
                    )
                };
                return Some(Notice::new(Severity::Error, said).with_details(message));
            }
            Event::EditUnreadable { seq, reason, .. } => {
                return Some(
                    Notice::new(
                        Severity::Error,
                        format!(
                            "A queued change (number {seq}) was saved by a newer imagedesk and \
                             cannot be sent by this one; discard it or update imagedesk."
                        ),
                    )
                    .with_details(reason),
                );
            }
            Event::RecordsUnreadable { records, .. } => {
                self.backend.load_unreadable();
                let first = records.first().map(ToString::to_string).unwrap_or_default();
                let text = match records.len() {
                    0 => return None,
                    1 => {
                        "The store sent a record imagedesk cannot read; it is left out.".to_owned()
                    }
                    n => format!(
                        "The store sent {n} records imagedesk cannot read; they are left out."
                    ),
                };
                return Some(Notice::warning(text).with_details(first));
            }
            Event::UploadProgress { image, sent, total } => {
                self.uploads.insert(image, (sent, total));
            }
            Event::StatusChanged => {}
        }
        None
    }

    // -- once per frame ------------------------------------------------------------------------

    /// Hands deletes whose grace period ended to the engine and asks again for the store's
    /// count if a recount is owed; wakes the window when the next one is due.
    pub fn tick(&mut self, ctx: &egui::Context) {
        let now = Instant::now();
        let (due, next) = self.controller.take_due_deletes(now);
        if let Some(next) = next {
            ctx.request_repaint_after(next.saturating_duration_since(now));
        }
        for edit in due {
            self.backend.apply(edit);
        }
        if self.catalogue_stale {
            let wait = self.catalogue_read.map_or(Duration::ZERO, |at| {
                REREAD_CATALOGUE_EVERY.saturating_sub(at.elapsed())
            });
            if wait.is_zero() {
                self.catalogue_stale = false;
                self.catalogue_read = Some(now);
                self.list.refresh();
                self.counts.refresh();
                self.backend.load_totals();
                if let Some(product) = self.controller.product() {
                    self.backend.load_product_summary(product);
                }
            } else {
                ctx.request_repaint_after(wait);
            }
        }
        if self.recount_owed
            && let Some(asked) = self.store_count_asked
        {
            let wait = RECOUNT_EVERY.saturating_sub(asked.elapsed());
            if wait.is_zero() {
                self.recount_store(true);
            } else {
                ctx.request_repaint_after(wait);
            }
        }
    }

    /// After drawing: loads the tiles the frame drew without a texture.
    pub fn load_wanted_tiles(&mut self) {
        for (id, key) in self.tiles.take_wanted() {
            self.backend.load_tile(id, key);
        }
    }

    // -- what the user asked for -----------------------------------------------------------------

    pub fn select_product(&mut self, product: i64) {
        self.shown = self.find_product(product).cloned();
        if self.shown.is_none() {
            self.backend.load_product_summary(product);
        }
        let commit = self.controller.select_product(product);
        self.apply(commit);
        self.close_hidden_preview();
        // The engine reads the product the user opened from the store before other work.
        self.backend.show_product(product);
        self.backend.load_images(product);
        self.ask_upload_route();
    }

    /// A click on a tile; a description typed for the image focused before is saved.
    pub fn click(&mut self, id: ImageId, add: bool, extend: bool) {
        let commit = self.controller.click(id, add, extend);
        self.apply(commit);
    }

    /// The description editor lost the keyboard focus: what was typed is saved.
    pub fn commit_description(&mut self) {
        let commit = self.controller.commit_draft();
        self.apply(commit);
    }

    /// Escape in the description editor: the typed text is dropped.
    pub fn revert_description(&mut self) {
        self.controller.revert_draft();
    }

    pub fn select_all(&mut self) {
        self.controller.select_all();
    }

    pub fn clear_selection(&mut self) {
        self.controller.clear_selection();
    }

    pub fn open_preview(&mut self, id: ImageId) {
        self.preview = Some(Preview::new(id));
        self.backend.load_preview(id);
    }

    pub fn close_preview(&mut self) {
        self.preview = None;
    }

    pub fn move_to_slot(&mut self, dragged: ImageId, slot: usize) {
        let edit = self.controller.move_to_slot(dragged, slot);
        self.apply(edit);
    }

    pub fn move_selection(&mut self, step: MoveStep) {
        let edit = self.controller.move_selection(step);
        self.apply(edit);
    }

    pub fn describe(&mut self, id: ImageId, text: String) {
        let edit = self.controller.describe(id, text);
        self.apply(edit);
    }

    /// Pictures an add made: the alt-text prompt asks for their descriptions. New pictures go
    /// last, after the images of the product that were there before.
    pub fn ask_alt_text(&mut self, product: i64, pictures: Vec<NewPicture>) {
        let earlier = if self.controller.product() == Some(product) {
            self.controller
                .images()
                .iter()
                .filter(|i| !pictures.iter().any(|p| p.id == i.id))
                .count()
        } else {
            0
        };
        let name = self.product_name(product);
        self.alt_text.add(&name, earlier + 1, pictures);
    }

    /// The prompt's "Save": each description is an ordinary describe edit (undo, outbox).
    /// The selection's descriptions from a pattern; returns how many changed.
    pub fn describe_selection(&mut self, pattern: &str) -> usize {
        let Some(product) = self.product() else {
            return 0;
        };
        let name = self.product_name(product);
        let sku = self
            .find_product(product)
            .map(|p| p.sku.clone())
            .unwrap_or_default();
        let edits = self.controller.describe_selection(pattern, &name, &sku);
        let count = edits.len();
        for edit in edits {
            self.apply(Some(edit));
        }
        count
    }

    pub fn save_alt_text(&mut self) {
        for (id, text) in self.alt_text.take_descriptions() {
            let edit = self.controller.describe_added(id, text);
            self.apply(edit);
        }
    }

    pub fn skip_alt_text(&mut self) {
        self.alt_text.skip();
    }

    pub fn set_thumbnail(&mut self, id: ImageId) {
        let edit = self.controller.set_thumbnail(id);
        self.apply(edit);
    }

    /// Undoes the last change; returns why nothing was sent, when the user should know.
    pub fn undo(&mut self) -> Option<String> {
        let undone = self.controller.undo();
        self.close_hidden_preview();
        match undone {
            Ok(edit) => {
                self.apply(edit);
                None
            }
            Err(refused) => Some(refused.to_string()),
        }
    }

    pub fn redo(&mut self) {
        let edit = self.controller.redo(Instant::now());
        self.close_hidden_preview();
        self.apply(edit);
    }

    pub fn delete_selection(&mut self) {
        let Some(product) = self.controller.product() else {
            return;
        };
        let name = self.product_name(product);
        self.controller.delete_selection(name, Instant::now());
        self.close_hidden_preview();
    }

    /// Every image held for deletion (waiting for Undo), of any product.
    pub fn held_ids(&self) -> HashSet<ImageId> {
        self.controller
            .held()
            .iter()
            .flat_map(|h| h.ids.iter().copied())
            .collect()
    }

    /// Describe edits for images of any product (bulk alt text of several products), each
    /// recorded for Ctrl+Z; returns how many were sent.
    pub fn describe_images(&mut self, changes: Vec<(ImageId, String, String)>) -> usize {
        let edits = self.controller.describe_images(changes);
        let count = edits.len();
        for edit in edits {
            self.apply(Some(edit));
        }
        count
    }

    /// The confirmed delete of every image of several products: one held delete per product,
    /// as "Delete all images" holds one (Undo, then the engine and "Recently deleted").
    pub fn delete_products(&mut self, plan: Vec<super::bulk_products::ProductDelete>) {
        let now = Instant::now();
        for part in plan {
            self.controller
                .delete_all_of(part.product, part.name, part.ids, now);
        }
        self.close_hidden_preview();
    }

    /// The pictures "Copy to other products…" takes: the selection in grid order, or `image`
    /// (a tile's menu) when it is not part of it, or the focused image.
    pub fn copy_sources(&self, image: Option<ImageId>) -> Vec<ImageId> {
        let selection = self.controller.selection();
        let selected: Vec<ImageId> = self
            .controller
            .images()
            .iter()
            .map(|i| i.id)
            .filter(|id| selection.contains(id))
            .collect();
        match image {
            Some(id) if !selection.contains(&id) => vec![id],
            _ if !selected.is_empty() => selected,
            _ => self.controller.focus().into_iter().collect(),
        }
    }

    pub fn ask_delete_all(&mut self) {
        let Some(product) = self.controller.product() else {
            return;
        };
        let count = self.controller.images().len();
        if count == 0 {
            return;
        }
        self.confirm_delete_all = Some(ConfirmDeleteAll {
            product,
            name: self.product_name(product),
            count,
        });
    }

    pub fn confirm_delete_all_images(&mut self) {
        if let Some(confirm) = self.confirm_delete_all.take() {
            self.controller
                .delete_all(confirm.product, confirm.name, Instant::now());
            self.close_hidden_preview();
        }
    }

    pub fn cancel_delete_all(&mut self) {
        self.confirm_delete_all = None;
    }

    /// The toast's Undo: the held delete of `ids` is let go.
    pub fn release_held(&mut self, ids: &[ImageId]) {
        self.controller.release_held(ids);
    }

    /// "Keep mine" for a held edit: it is sent now.
    pub fn keep_mine(&mut self, seq: i64) {
        self.settle_held(seq);
        self.backend.keep_mine(seq);
    }

    /// "Use the store's" for a held edit: it is dropped and the store's value shows.
    pub fn use_theirs(&mut self, seq: i64) {
        self.settle_held(seq);
        self.backend.use_theirs(seq);
    }

    /// A held edit's message is put off; the Pending window still lists it.
    pub fn conflict_later(&mut self, seq: i64) {
        self.conflicts_later.insert(seq);
    }

    /// The choice is made: the edit is no longer held (until the queue is read again).
    fn settle_held(&mut self, seq: i64) {
        self.conflicts_later.remove(&seq);
        if let Some(entry) = self.outbox.iter_mut().find(|e| e.seq == seq) {
            entry.held = None;
        }
    }

    /// Queues the files' upload; refused (with the reason to show) when the store is known to
    /// take pictures only by URL, so nothing is queued that could never be sent.
    pub fn add_files(&mut self, product: i64, paths: Vec<PathBuf>) -> Result<(), &'static str> {
        if let Some(why) = self.files_refused() {
            return Err(why);
        }
        self.backend.apply(Edit::AddFiles { product, paths });
        Ok(())
    }

    pub fn add_url(&mut self, product: i64, url: String) {
        self.backend.apply(Edit::AddUrl { product, url });
    }

    /// Queues a new picture from a file; refused like [`StoreSession::add_files`].
    pub fn replace(&mut self, id: ImageId, path: PathBuf) -> Result<(), &'static str> {
        if let Some(why) = self.files_refused() {
            return Err(why);
        }
        self.backend.apply(Edit::Replace { id, path });
        Ok(())
    }

    /// Pulls the store now and asks for its total; pictures that could not be fetched are
    /// asked for again.
    pub fn refresh(&mut self) {
        self.backend.refresh();
        self.recount_store(true);
        self.ask_failed_again();
    }

    /// The engine's link, for the "Recently deleted" window (see `recently_deleted`).
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Reads the engine's queue again (the Pending list opened).
    pub fn load_outbox(&self) {
        self.backend.load_outbox();
    }

    /// Sends a refused edit again.
    pub fn retry_edit(&self, seq: i64) {
        self.backend.retry_edit(seq);
    }

    /// Drops a queued edit; a refused add's image goes with it.
    pub fn discard_edit(&mut self, seq: i64) {
        self.outbox.retain(|e| e.seq != seq);
        self.backend.discard_edit(seq);
    }

    /// Tries the store again at once with the queued edits ("Retry now").
    pub fn retry_now(&mut self) {
        self.backend.retry_now();
    }

    /// The store answers again (or the user refreshed): what failed while it did not is
    /// asked for again: tiles (when next drawn), the open preview, how it takes files.
    fn ask_failed_again(&mut self) {
        self.tiles.forget_failures();
        if let Some(preview) = &mut self.preview
            && preview.failed()
        {
            preview.asking_again();
            self.backend.load_preview(preview.id);
        }
        if matches!(self.upload_route, RouteKnowledge::Failed(_)) {
            self.upload_route = RouteKnowledge::NotAsked;
            self.ask_upload_route();
        }
    }

    /// Asks how the store takes files, once per store, on the product shown (the question
    /// needs one the store has).
    fn ask_upload_route(&mut self) {
        let ask = matches!(
            self.upload_route,
            RouteKnowledge::NotAsked | RouteKnowledge::Failed(_)
        );
        if let (true, Some(product)) = (ask, self.controller.product()) {
            self.upload_route = RouteKnowledge::Asking;
            self.backend.load_upload_route(product);
        }
    }

    /// Asks the store for its total, at most every few seconds unless `now`.
    pub fn recount_store(&mut self, now: bool) {
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

    // -- files and other stores (through the backend, off the UI thread) ------------------------

    pub fn pick(&self, purpose: Pick) {
        self.backend.pick(purpose);
    }

    pub fn save_token(&self, profile: &Profile, token: String) {
        self.backend.save_token(profile, token);
    }

    pub fn forget_token(&self, profile: &Profile) {
        self.backend.forget_token(profile);
    }

    /// Opens another store; a [`Message::Connected`] brings the backend of its session.
    pub fn connect(&self, profile: Profile, token: Option<String>) {
        self.backend.connect(profile, token);
    }

    /// Hands every held delete to the engine now, without waiting: the store is being switched.
    pub fn hand_over_held_deletes(&mut self) {
        for edit in self.controller.take_held() {
            self.backend.apply(edit);
        }
    }

    /// Hands every held delete to the engine and waits until each is queued: the window is
    /// closing, and what the user saw deleted must stay deleted.
    pub fn flush_held_deletes(&mut self) {
        for edit in self.controller.take_held() {
            let what = edit.what();
            if let Err(err) = self.backend.apply_before_exit(edit) {
                tracing::error!("could not {what} before closing: {err}");
            }
        }
    }

    fn apply(&self, edit: Option<Edit>) {
        if let Some(edit) = edit {
            self.backend.apply(edit);
        }
    }

    /// The preview closes when its image is no longer shown (deleted, or another product).
    fn close_hidden_preview(&mut self) {
        if let Some(preview) = &self.preview
            && !self.controller.is_shown(preview.id)
        {
            self.preview = None;
        }
    }
}

/// A picture a message is about: its place in the grid and its tile, when it is shown.
#[derive(Clone, Default)]
pub struct Pictured {
    /// 1-based, as the tiles' labels count.
    pub position: Option<usize>,
    pub texture: Option<egui::TextureHandle>,
}

/// A queued edit's kind, as the user did it.
fn edit_in_words(kind: EditKind) -> &'static str {
    match kind {
        EditKind::Create => "A new picture",
        EditKind::Describe => "A description",
        EditKind::SetThumbnail => "A thumbnail change",
        EditKind::Reorder => "A new order",
        EditKind::Replace => "A replaced picture",
        EditKind::Delete => "A delete",
        EditKind::DeleteAll => "Deleting all images",
    }
}

/// Whether the store answers in this state.
fn answers(connection: Connection) -> bool {
    matches!(connection, Connection::Online | Connection::Syncing)
}
