//! The session's link to the engine and the disk: every call spawns a task on the tokio runtime,
//! and every result comes back as a [`Message`] on a channel that the UI drains once per frame.
//! Edits arrive as [`Edit`] values and are turned into engine calls here, and only here.

use std::future::Future;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;

use super::alt_text::NewPicture;
use super::catalogue::{PageRequest, Table};
use super::controller::{Edit, restored_order, sends_as_delete_all};
use super::counts::{CSV_HEADER, csv_rows};
use super::profiles::{CurrentStore, Profile, token_path};
use super::tiles::Loaded;
use crate::sync::{
    CatalogueTotals, DeletedId, DeletedPicture, Engine, Event, ImageId, LocalImage, OutboxEntry,
    ProductPage, ProductQuery, ProductSummary, Status, SyncError, UnreadableRecord, UploadRoute,
};
use crate::sync::{EngineConfig, open_store, profile_name};
use crate::{durable, imaging};

/// The longest side of a decoded grid tile, in pixels.
pub const TILE_PIXELS: u32 = 256;

/// What background work reports to the UI.
pub enum Message {
    /// A page of the product list or the counts table, for the generation that asked.
    Page {
        table: Table,
        generation: u64,
        page: u64,
        rows: ProductPage,
    },
    /// The catalogue's totals and how fresh they are.
    Totals(CatalogueTotals),
    /// Pictures compared so far by the report being made.
    ReportProgress {
        done: usize,
        total: usize,
    },
    /// The report, or why it could not be made.
    Report(Result<crate::sync::findings::Report, String>),
    /// The product shown, read on its own.
    ShownProduct(ProductSummary),
    Images {
        product_id: i64,
        images: Vec<LocalImage>,
    },
    Tile {
        id: ImageId,
        /// What the tile was made from; a new picture has a new key.
        key: String,
        tile: Loaded,
    },
    /// A large picture for the preview.
    Preview {
        id: ImageId,
        picture: Loaded,
    },
    /// How the store takes local files, or why that could not be asked (offline).
    UploadRoute(Result<UploadRoute, String>),
    /// The store's records the engine's pulls could not read.
    Unreadable(Vec<UnreadableRecord>),
    /// The store-wide image count, or why it could not be asked.
    StoreCount(Result<u64, String>),
    /// The file dialog answered.
    Picked {
        purpose: Pick,
        paths: Vec<PathBuf>,
    },
    /// The file dialog closed at once: this desktop has none (no XDG portal).
    NoDialog(Pick),
    /// A file was written.
    Saved(PathBuf),
    /// A store's token was saved in its private file.
    TokenSaved(String),
    /// The app is now connected to another store.
    Connected {
        backend: Box<Backend>,
        title: String,
    },
    Status(Status),
    /// Every queued edit, pending and failed, oldest first (the engine's outbox).
    Outbox(Vec<OutboxEntry>),
    /// The "Recently deleted" entries, newest first.
    RecentlyDeleted(Vec<DeletedPicture>),
    /// A deleted picture's kept copy, decoded for the list.
    DeletedPicture {
        id: DeletedId,
        picture: Loaded,
    },
    /// A deleted picture was queued to go back; what it was.
    Restored(DeletedPicture),
    Event(Event),
    /// Pictures the user added are in the replica: the alt-text prompt asks for their
    /// descriptions.
    Added {
        product: i64,
        pictures: Vec<NewPicture>,
    },
    /// A step of the "Import folder…" window's work.
    FolderImport(super::folder_plan::Reply),
    /// A step of the catalogue CSV window's work (export, plan, apply).
    CatalogueCsv(super::csv_reply::CsvReply),
    /// The images of several products, read for a bulk edit (`bulk_products.rs`).
    ProductsImages {
        purpose: super::bulk_products::BulkPurpose,
        result: Result<Vec<super::bulk_products::ProductImages>, String>,
    },
    /// The copy window's matches for its search number `serial`.
    CopyTargets {
        serial: u64,
        rows: Vec<ProductSummary>,
    },
    /// Steps of a copy to other products done so far.
    CopyProgress {
        done: usize,
        total: usize,
    },
    /// A copy to other products ended.
    Copied(Result<crate::sync::CopyReport, String>),
    /// An action failed; the text says what to do.
    Error(String),
}

/// What a file dialog was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    AddFiles {
        product: i64,
    },
    Replace {
        image: ImageId,
    },
    ExportCsv,
    /// The catalogue CSV window's file: where to export, or which file to import.
    CatalogueCsv(super::csv_reply::CsvMode),
}

/// The longest side of a decoded preview, in pixels (the zoom variant's box).
pub const PREVIEW_PIXELS: u32 = 1280;

/// A dialog that answers faster than this was never shown: a person cannot cancel that fast.
const NO_DIALOG_WITHIN: Duration = Duration::from_millis(400);

pub struct Backend {
    engine: Arc<Engine>,
    /// Where token files and the replicas of other stores go; `None`: no switching stores.
    data_dir: Option<PathBuf>,
    /// Which store the engine holds, when the caller said (the Stores dialog marks it).
    store: Option<CurrentStore>,
    runtime: Handle,
    tx: Sender<Message>,
    rx: Receiver<Message>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Backend {
    /// Wraps an engine running on `runtime`, and starts forwarding its events and status.
    pub fn new(engine: impl Into<Arc<Engine>>, runtime: Handle) -> Backend {
        let (tx, rx) = channel();
        let backend = Backend {
            engine: engine.into(),
            data_dir: None,
            store: None,
            runtime,
            tx,
            rx,
            ctx: Arc::new(OnceLock::new()),
        };
        backend.forward_events();
        backend
    }

    /// Lets the app save tokens and open other stores' replicas under `dir`.
    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> Backend {
        self.data_dir = Some(dir.into());
        self
    }

    pub fn data_dir(&self) -> Option<&PathBuf> {
        self.data_dir.as_ref()
    }

    /// Says which store the engine holds.
    pub fn with_store(mut self, store: CurrentStore) -> Backend {
        self.store = Some(store);
        self
    }

    pub fn store(&self) -> Option<&CurrentStore> {
        self.store.as_ref()
    }

    /// Gives the backend the context to wake when a message arrives (once, on the first frame).
    pub fn attach(&self, ctx: &egui::Context) {
        let _ = self.ctx.set(ctx.clone());
    }

    /// Messages that arrived since the last frame.
    pub fn poll(&self) -> Vec<Message> {
        self.rx.try_iter().collect()
    }

    fn sender(&self) -> Notifier {
        Notifier {
            tx: self.tx.clone(),
            ctx: self.ctx.clone(),
        }
    }

    fn spawn<F>(&self, work: F)
    where
        F: Future<Output = Option<Message>> + Send + 'static,
    {
        let notify = self.sender();
        self.runtime.spawn(async move {
            if let Some(message) = work.await {
                notify.send(message);
            }
        });
    }

    /// Runs `work` with the engine on the runtime; it sends as many answers as it has (the
    /// steps of the "Import folder…" window, `folder_import.rs`).
    pub(super) fn run_with_engine<W, F>(&self, work: W)
    where
        W: FnOnce(Arc<Engine>, Box<dyn Fn(Message) + Send + Sync>) -> F,
        F: Future<Output = ()> + Send + 'static,
    {
        let notify = self.sender();
        let send: Box<dyn Fn(Message) + Send + Sync> =
            Box::new(move |message| notify.send(message));
        self.runtime.spawn(work(self.engine.clone(), send));
    }

    fn forward_events(&self) {
        let notify = self.sender();
        let engine = self.engine.clone();
        let mut events = engine.subscribe();
        let mut status = engine.watch_status();
        self.runtime.spawn(async move {
            loop {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(Event::StatusChanged) => {}
                        Ok(event) => notify.send(Message::Event(event)),
                        // Fell behind: whatever it missed, a full reload covers.
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            notify.send(Message::Event(Event::ProductsChanged));
                        }
                        Err(_) => return,
                    },
                    changed = status.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = status.borrow_and_update().clone();
                        notify.send(Message::Status(now));
                    }
                }
            }
        });
        let first = self.engine.status();
        self.sender().send(Message::Status(first));
    }

    /// Reads one page of a table's query from the replica.
    pub fn load_page(&self, table: Table, request: PageRequest) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let offset = request.offset();
            let read = engine
                .product_page(&request.query, offset, super::catalogue::PAGE_ROWS)
                .await;
            Some(reply(read, |rows| Message::Page {
                table,
                generation: request.generation,
                page: request.page,
                rows,
            }))
        });
    }

    /// Makes the catalogue's report (the Reports view): the engine compares pictures by their
    /// perceptual hashes, computing those it lacks from the thumbnails, with progress.
    pub fn run_report(&self) {
        let engine = self.engine.clone();
        let notify = self.sender();
        self.spawn(async move {
            // About a hundred progress messages however large the catalogue.
            let progress = |done: usize, total: usize| {
                let step = (total / 100).max(1);
                if done.is_multiple_of(step) || done == total {
                    notify.send(Message::ReportProgress { done, total });
                }
            };
            let report = engine.findings(progress).await;
            Some(Message::Report(report.map_err(|err| {
                format!("the local copy could not be read: {err}")
            })))
        });
    }

    /// Reads every image of `products` for a bulk edit (never-read ones from the store first).
    pub fn load_products_images(
        &self,
        products: Vec<i64>,
        purpose: super::bulk_products::BulkPurpose,
    ) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let result = match engine.products_images(&products).await {
                Ok(read) => Ok(read.into_values().collect()),
                Err(err) => Err(format!("Could not read the products' images: {err}")),
            };
            Some(Message::ProductsImages { purpose, result })
        });
    }

    /// The first products whose name or SKU matches `search`, for the copy window.
    pub fn search_copy_targets(&self, serial: u64, search: String) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let query = ProductQuery {
                search,
                ..ProductQuery::default()
            };
            let page = engine
                .product_page(&query, 0, super::copy_picker::MATCHES_SHOWN)
                .await;
            Some(reply(page, |page| Message::CopyTargets {
                serial,
                rows: page.rows,
            }))
        });
    }

    /// Copies `images` to the end of each of `targets` (`Engine::copy_images`), with progress.
    pub fn copy_images(&self, images: Vec<ImageId>, targets: Vec<i64>) {
        let engine = self.engine.clone();
        let notify = self.sender();
        self.spawn(async move {
            let progress = |done: usize, total: usize| {
                notify.send(Message::CopyProgress { done, total });
            };
            let copied = engine.copy_images(&images, &targets, progress).await;
            Some(Message::Copied(copied.map_err(|err| {
                format!("Could not copy the pictures: {err}")
            })))
        });
    }

    pub fn load_totals(&self) {
        let engine = self.engine.clone();
        self.spawn(async move { Some(reply(engine.catalogue_totals().await, Message::Totals)) });
    }

    pub fn load_product_summary(&self, product: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            match engine.product_summary(product).await {
                Ok(found) => found.map(Message::ShownProduct),
                Err(err) => Some(Message::Error(format!(
                    "Could not read the local copy of the store: {err}"
                ))),
            }
        });
    }

    /// Tells the engine which product the user opened (it reads that one from the store
    /// first). A task, like every engine call: the call takes a lock the worker also takes.
    pub fn show_product(&self, product: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            engine.show_product(Some(product));
            None
        });
    }

    /// Writes every product of `query` as CSV, read from the engine a thousand rows at a time,
    /// then written durably; only the text is held, never the rows.
    pub fn export_csv(&self, path: PathBuf, query: ProductQuery) {
        let engine = self.engine.clone();
        self.spawn(async move {
            const CHUNK: u64 = 1000;
            let mut csv = String::from(CSV_HEADER);
            let mut offset = 0;
            loop {
                let page = match engine.product_page(&query, offset, CHUNK).await {
                    Ok(page) => page,
                    Err(err) => {
                        return Some(Message::Error(format!(
                            "Could not export the counts: {err}"
                        )));
                    }
                };
                csv_rows(&mut csv, &page.rows);
                offset += page.rows.len() as u64;
                if (page.rows.len() as u64) < CHUNK {
                    break;
                }
            }
            Some(write_durably(path, csv).await)
        });
    }

    pub fn load_images(&self, product_id: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            Some(reply(engine.images(product_id).await, |images| {
                Message::Images { product_id, images }
            }))
        });
    }

    /// Fetches (or reads from the cache) and decodes one tile, off the UI thread.
    pub fn load_tile(&self, id: ImageId, key: String) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let tile = match engine.tile(id).await {
                Ok(Some(bytes)) => decoded(bytes, TILE_PIXELS).await,
                Ok(None) => Loaded::NoPicture,
                Err(err) => {
                    tracing::debug!("tile {id}: {err}");
                    Loaded::Failed
                }
            };
            Some(Message::Tile { id, key, tile })
        });
    }

    /// Runs an edit; a failure comes back as [`Message::Error`], success as engine events
    /// (and, for an add, as [`Message::Added`] with the images it made).
    pub fn apply(&self, edit: Edit) {
        if matches!(edit, Edit::AddFiles { .. } | Edit::AddUrl { .. }) {
            return self.add(edit);
        }
        let engine = self.engine.clone();
        self.spawn(async move {
            let what = edit.what();
            match run_edit(&engine, edit).await {
                Ok(()) => None,
                Err(err) => Some(Message::Error(format!("Could not {what}: {err}"))),
            }
        });
    }

    /// Runs an add: the images it made come back as [`Message::Added`] even when a later
    /// file of the same add fails (that failure comes back as [`Message::Error`]).
    fn add(&self, edit: Edit) {
        let engine = self.engine.clone();
        let notify = self.sender();
        self.runtime.spawn(async move {
            let what = edit.what();
            let (product, pictures, failed) = run_add(&engine, edit).await;
            if !pictures.is_empty() {
                notify.send(Message::Added { product, pictures });
            }
            if let Some(err) = failed {
                notify.send(Message::Error(format!("Could not {what}: {err}")));
            }
        });
    }

    /// Runs an edit to completion, blocking: only for the last edits when the window closes.
    pub fn apply_before_exit(&self, edit: Edit) -> Result<(), SyncError> {
        self.runtime.block_on(run_edit(&self.engine, edit))
    }

    /// Pulls the store now (and retries at once if it was unreachable).
    pub fn refresh(&self) {
        self.engine.refresh();
    }

    /// Ends the back-off after a failed round: queued edits are tried again at once.
    pub fn retry_now(&self) {
        self.engine.retry_now();
    }

    /// Asks how the store takes local files (on `product_id`, which the store has).
    pub fn load_upload_route(&self, product_id: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            Some(Message::UploadRoute(
                engine
                    .upload_route(product_id)
                    .await
                    .map_err(|e| e.to_string()),
            ))
        });
    }

    /// Reads every queued edit (pending and failed) from the replica.
    pub fn load_outbox(&self) {
        let engine = self.engine.clone();
        self.spawn(async move { Some(reply(engine.outbox().await, Message::Outbox)) });
    }

    /// Sends a failed edit again ("Retry"); the queue is read again after it.
    pub fn retry_edit(&self, seq: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            if let Err(err) = engine.retry(seq).await {
                return Some(Message::Error(format!("Could not retry the edit: {err}")));
            }
            Some(reply(engine.outbox().await, Message::Outbox))
        });
    }

    /// "Keep mine" for a held edit; the queue is read again after it.
    pub fn keep_mine(&self, seq: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            if let Err(err) = engine.keep_mine(seq).await {
                return Some(Message::Error(format!("Could not keep your change: {err}")));
            }
            Some(reply(engine.outbox().await, Message::Outbox))
        });
    }

    /// "Use the store's" for a held edit; the queue is read again after it.
    pub fn use_theirs(&self, seq: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            if let Err(err) = engine.use_theirs(seq).await {
                return Some(Message::Error(format!(
                    "Could not take the store's value: {err}"
                )));
            }
            Some(reply(engine.outbox().await, Message::Outbox))
        });
    }

    /// Drops a queued edit ("Discard"); the queue is read again after it.
    pub fn discard_edit(&self, seq: i64) {
        let engine = self.engine.clone();
        self.spawn(async move {
            if let Err(err) = engine.discard(seq).await {
                return Some(Message::Error(format!("Could not discard the edit: {err}")));
            }
            Some(reply(engine.outbox().await, Message::Outbox))
        });
    }

    /// Reads the "Recently deleted" entries.
    pub fn load_recently_deleted(&self) {
        let engine = self.engine.clone();
        self.spawn(async move {
            Some(reply(
                engine.recently_deleted().await,
                Message::RecentlyDeleted,
            ))
        });
    }

    /// Loads and decodes a deleted picture's kept copy, tile-sized.
    pub fn load_deleted_picture(&self, id: DeletedId) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let picture = match engine.deleted_picture(id).await {
                Ok(Some(bytes)) => decoded(bytes, TILE_PIXELS).await,
                Ok(None) => Loaded::NoPicture,
                Err(err) => {
                    tracing::debug!("deleted picture {id}: {err}");
                    Loaded::Failed
                }
            };
            Some(Message::DeletedPicture { id, picture })
        });
    }

    /// Queues a deleted picture to go back ("Restore"); the list is read again after it.
    pub fn restore_deleted(&self, entry: DeletedPicture) {
        let engine = self.engine.clone();
        let notify = self.sender();
        self.runtime.spawn(async move {
            match engine.restore(entry.id).await {
                Ok(_) => notify.send(Message::Restored(entry)),
                Err(err) => notify.send(Message::Error(format!(
                    "Could not restore the picture: {err}"
                ))),
            }
            notify.send(reply(
                engine.recently_deleted().await,
                Message::RecentlyDeleted,
            ));
        });
    }

    /// Removes a deleted picture for good ("Delete now"); the list is read again after it.
    pub fn forget_deleted(&self, id: DeletedId) {
        let engine = self.engine.clone();
        self.spawn(async move {
            if let Err(err) = engine.forget_deleted(id).await {
                return Some(Message::Error(format!(
                    "Could not remove the deleted picture: {err}"
                )));
            }
            Some(reply(
                engine.recently_deleted().await,
                Message::RecentlyDeleted,
            ))
        });
    }

    /// Reads the list of the store's records the engine could not read.
    pub fn load_unreadable(&self) {
        let engine = self.engine.clone();
        self.spawn(async move { Some(Message::Unreadable(engine.unreadable())) });
    }

    /// Loads and decodes an image's largest picture for the preview.
    pub fn load_preview(&self, id: ImageId) {
        let engine = self.engine.clone();
        self.spawn(async move {
            let picture = match engine.preview(id).await {
                Ok(Some(bytes)) => decoded(bytes, PREVIEW_PIXELS).await,
                Ok(None) => Loaded::NoPicture,
                Err(err) => {
                    tracing::debug!("preview {id}: {err}");
                    Loaded::Failed
                }
            };
            Some(Message::Preview { id, picture })
        });
    }

    /// Asks the store (not the replica) how many images it holds.
    pub fn load_store_count(&self) {
        let engine = self.engine.clone();
        self.spawn(async move {
            Some(Message::StoreCount(
                engine.store_image_count().await.map_err(|e| e.to_string()),
            ))
        });
    }

    /// Opens the desktop's file dialog (XDG portal on Linux) without blocking the frame.
    pub fn pick(&self, purpose: Pick) {
        self.spawn(async move {
            let opened = Instant::now();
            let images = ["jpg", "jpeg", "png", "gif", "webp", "bmp"];
            let paths: Option<Vec<PathBuf>> = match purpose {
                Pick::AddFiles { .. } => rfd::AsyncFileDialog::new()
                    .set_title("Add images")
                    .add_filter("Images", &images)
                    .pick_files()
                    .await
                    .map(|files| files.iter().map(|f| f.path().to_path_buf()).collect()),
                Pick::Replace { .. } => rfd::AsyncFileDialog::new()
                    .set_title("Replace the picture")
                    .add_filter("Images", &images)
                    .pick_file()
                    .await
                    .map(|f| vec![f.path().to_path_buf()]),
                Pick::ExportCsv => rfd::AsyncFileDialog::new()
                    .set_title("Export counts as CSV")
                    .set_file_name("image-counts.csv")
                    .save_file()
                    .await
                    .map(|f| vec![f.path().to_path_buf()]),
                Pick::CatalogueCsv(super::csv_reply::CsvMode::Export) => {
                    rfd::AsyncFileDialog::new()
                        .set_title("Export the catalogue as CSV")
                        .set_file_name("catalogue.csv")
                        .save_file()
                        .await
                        .map(|f| vec![f.path().to_path_buf()])
                }
                Pick::CatalogueCsv(super::csv_reply::CsvMode::Import) => {
                    rfd::AsyncFileDialog::new()
                        .set_title("Import a CSV file")
                        .add_filter("CSV", &["csv"])
                        .pick_file()
                        .await
                        .map(|f| vec![f.path().to_path_buf()])
                }
            };
            match paths {
                Some(paths) if !paths.is_empty() => Some(Message::Picked { purpose, paths }),
                _ if opened.elapsed() < NO_DIALOG_WITHIN => Some(Message::NoDialog(purpose)),
                _ => None,
            }
        });
    }

    /// Saves a store's token in a file only the user can read.
    pub fn save_token(&self, profile: &Profile, token: String) {
        let Some(dir) = self.data_dir.clone() else {
            self.sender().send(Message::Error(
                "This window cannot save tokens (no data directory).".into(),
            ));
            return;
        };
        let name = profile.name.clone();
        let path = token_path(&dir, &profile.api_url);
        self.spawn(async move {
            let written = tokio::task::spawn_blocking(move || {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                durable::write_private(&path, token.as_bytes())
            })
            .await
            .unwrap_or_else(|stopped| Err(std::io::Error::other(stopped)));
            Some(match written {
                Ok(()) => Message::TokenSaved(name),
                Err(err) => Message::Error(format!("Could not save the token of {name}: {err}")),
            })
        });
    }

    /// Removes a forgotten store's token file.
    pub fn forget_token(&self, profile: &Profile) {
        let Some(dir) = &self.data_dir else { return };
        let path = token_path(dir, &profile.api_url);
        self.spawn(async move {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => None,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                Err(err) => Some(Message::Error(format!(
                    "Could not remove {}: {err}",
                    path.display()
                ))),
            }
        });
    }

    /// Opens a store's replica and engine (with `token`, or the one saved for it) and hands
    /// the app a backend for it.
    pub fn connect(&self, profile: Profile, token: Option<String>) {
        let Some(dir) = self.data_dir.clone() else {
            self.sender().send(Message::Error(
                "This window cannot switch stores (no data directory).".into(),
            ));
            return;
        };
        self.spawn(async move {
            match open_profile(&dir, &profile, token).await {
                Ok(engine) => Some(Message::Connected {
                    backend: Box::new(
                        Backend::new(engine, Handle::current())
                            .with_data_dir(dir)
                            .with_store(CurrentStore::of(&profile)),
                    ),
                    title: profile.name,
                }),
                Err(why) => Some(Message::Error(format!(
                    "Could not connect to {}: {why}",
                    profile.name
                ))),
            }
        });
    }
}

async fn open_profile(
    dir: &std::path::Path,
    profile: &Profile,
    token: Option<String>,
) -> Result<Engine, String> {
    let token = match token.filter(|t| !t.is_empty()) {
        Some(token) => token,
        None => {
            let path = token_path(dir, &profile.api_url);
            tokio::fs::read_to_string(&path)
                .await
                .map(|t| t.trim().to_owned())
                .map_err(|_| {
                    "no token is saved for it; type the token in the Stores dialog".to_owned()
                })?
        }
    };
    let config = EngineConfig::in_dir(dir.join("profiles").join(profile_name(&profile.api_url)));
    open_store(&profile.address(token), config)
        .await
        .map_err(|e| e.to_string())
}

/// The one place where an [`Edit`] becomes engine calls.
async fn run_edit(engine: &Engine, edit: Edit) -> Result<(), SyncError> {
    match edit {
        Edit::Describe { id, text } => engine.describe(id, &text).await,
        Edit::SetThumbnail(id) => engine.set_thumbnail(id).await,
        Edit::Move {
            product,
            moving,
            index,
        } => engine.move_images(product, &moving, index).await,
        Edit::RestoreOrder { product, order } => {
            let now = image_ids(engine, product).await?;
            engine.reorder(product, &restored_order(order, now)).await
        }
        Edit::Delete(held) => {
            // One request for the lot, unless images were added since the user confirmed.
            if held.all && sends_as_delete_all(&held, &image_ids(engine, held.product).await?) {
                return engine.delete_all(held.product).await;
            }
            engine.delete(&held.ids).await
        }
        Edit::AddFiles { .. } | Edit::AddUrl { .. } => match run_add(engine, edit).await {
            (_, _, Some(err)) => Err(err),
            (_, _, None) => Ok(()),
        },
        Edit::Replace { id, path } => engine.replace_file(id, &path).await,
    }
}

/// Runs an add: the product, the images made (with a name the user knows them by: the file's
/// or the URL's last part), and the error that stopped it, if one did.
async fn run_add(engine: &Engine, edit: Edit) -> (i64, Vec<NewPicture>, Option<SyncError>) {
    let mut made = Vec::new();
    match edit {
        Edit::AddFiles { product, paths } => {
            for path in paths {
                match engine.add_file(product, &path, "").await {
                    Ok(id) => made.push(NewPicture::from_path(id, &path)),
                    Err(err) => return (product, made, Some(err)),
                }
            }
            (product, made, None)
        }
        Edit::AddUrl { product, url } => match engine.add_url(product, &url, "").await {
            Ok(id) => (product, vec![NewPicture::from_url(id, &url)], None),
            Err(err) => (product, made, Some(err)),
        },
        // Only adds come here.
        _ => (0, made, None),
    }
}

async fn image_ids(engine: &Engine, product: i64) -> Result<Vec<ImageId>, SyncError> {
    Ok(engine.images(product).await?.iter().map(|i| i.id).collect())
}

fn reply<T>(result: Result<T, SyncError>, wrap: impl FnOnce(T) -> Message) -> Message {
    match result {
        Ok(value) => wrap(value),
        Err(err) => Message::Error(format!("Could not read the local copy of the store: {err}")),
    }
}

/// Writes a file durably (see [`durable`]), so a reader never sees half of it.
async fn write_durably(path: PathBuf, contents: String) -> Message {
    let target = path.clone();
    let written = tokio::task::spawn_blocking(move || durable::write(&target, contents.as_bytes()))
        .await
        .unwrap_or_else(|stopped| Err(std::io::Error::other(stopped)));
    match written {
        Ok(()) => Message::Saved(path),
        Err(err) => Message::Error(format!("Could not write {}: {err}", path.display())),
    }
}

/// Decodes on the blocking pool; bytes that do not decode are no picture (fetching them again
/// would give the same bytes).
async fn decoded(bytes: bytes::Bytes, max_side: u32) -> Loaded {
    tokio::task::spawn_blocking(move || decode_rgba(&bytes, max_side))
        .await
        .ok()
        .flatten()
        .map_or(Loaded::NoPicture, Loaded::Picture)
}

fn decode_rgba(bytes: &[u8], max_side: u32) -> Option<egui::ColorImage> {
    let decoded = imaging::decode_tile_rgba(bytes, max_side).ok()?;
    let size = [decoded.width as usize, decoded.height as usize];
    Some(egui::ColorImage::from_rgba_unmultiplied(
        size,
        &decoded.pixels,
    ))
}

/// Sends a message and wakes the UI.
#[derive(Clone)]
struct Notifier {
    tx: Sender<Message>,
    ctx: Arc<OnceLock<egui::Context>>,
}

impl Notifier {
    fn send(&self, message: Message) {
        if self.tx.send(message).is_ok()
            && let Some(ctx) = self.ctx.get()
        {
            ctx.request_repaint();
        }
    }
}
