//! The engine handle: the small API the app uses.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, broadcast, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::catalog::{self, CatalogueTotals, ProductPage, ProductQuery};
use super::edits::{self, Applied};
use super::model::{Event, ImageId, LocalImage, OutboxEntry, ProductSummary, Status};
use super::remote::Remote;
use super::replica::{self, Replica};
use super::shared::Shared;
use super::trash::{self, DeletedId, DeletedPicture};
use super::worker;
use super::{EngineConfig, SyncError, tiles};
use crate::api::Client;

/// A local replica of one store, its outbox, and the worker that syncs them.
///
/// Create it inside a tokio runtime. Every method is async and cheap to call from a task the UI
/// spawns; none waits for the network. Dropping the engine stops the worker (queued edits stay
/// on disk); [`Engine::close`] also waits for it to stop.
pub struct Engine {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    worker: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl Engine {
    /// Opens (or creates) the replica in `config.dir` and starts the worker. Works offline:
    /// the store is first contacted by the worker, in the background.
    pub async fn open(config: EngineConfig, client: Client) -> Result<Engine, SyncError> {
        Self::open_with(config, Arc::new(client)).await
    }

    /// [`Engine::open`] over any [`Remote`]: the HTTP client, or a model store in tests.
    pub async fn open_with(
        config: EngineConfig,
        client: Arc<dyn Remote>,
    ) -> Result<Engine, SyncError> {
        std::fs::create_dir_all(&config.dir).map_err(|e| SyncError::io(&config.dir, e))?;
        // An offline engine never sends, so it may share the replica with one that does
        // (SQLite serialises their writes); two that send would each send the outbox.
        let lock = if config.offline {
            None
        } else {
            Some(lock_replica(&config.dir)?)
        };
        let replica = Replica::open(&config.dir).await?;
        let echoes_keys = replica::store_fact(
            &mut *replica.writer.acquire().await?,
            replica::StoreFact::EchoesIdempotencyKey,
        )
        .await?
        .unwrap_or(false);
        let orphans = replica.remove_orphan_blobs().await?;
        if orphans > 0 {
            tracing::info!("removed {orphans} picture copies left by an interrupted edit");
        }
        // Before the worker and any edit: nothing else writes a kept copy yet, so files no
        // entry names can go too.
        let purged = trash::purge(&replica, &config.dir, super::clock::now_ms(), true).await?;
        if purged > 0 {
            tracing::info!("{purged} recently deleted pictures passed their time");
        }
        let (events, _) = broadcast::channel(1024);
        let (status, _) = watch::channel(Status {
            paused: config.start_paused,
            ..Status::default()
        });
        let shared = Arc::new(Shared {
            replica,
            client,
            paused: AtomicBool::new(config.start_paused),
            config,
            events,
            status,
            wake: Notify::new(),
            pull_requested: AtomicBool::new(false),
            shown_product: Mutex::new(None),
            shown_read: Mutex::new(None),
            catalogue: Mutex::new(super::watermark::Catalogue::default()),
            echoes_keys: AtomicBool::new(echoes_keys),
            unreadable: std::sync::Mutex::new(std::collections::BTreeMap::new()),
            _lock: lock,
            address_pulls: std::sync::Mutex::new(std::collections::HashMap::new()),
            downloads: tokio::sync::Semaphore::new(tiles::MAX_PARALLEL_DOWNLOADS),
            sends_in_flight: tokio_util::task::TaskTracker::new(),
        });
        shared.refresh_counts().await;
        let cancel = CancellationToken::new();
        tokio::spawn(trash::purge_daily(
            shared.replica.clone(),
            shared.config.dir.clone(),
            cancel.clone(),
        ));
        let worker = if shared.config.offline {
            shared.set_status(|s| s.connection = super::Connection::Offline);
            None
        } else {
            Some(tokio::spawn(worker::run(shared.clone(), cancel.clone())))
        };
        Ok(Engine {
            shared,
            cancel,
            worker: std::sync::Mutex::new(worker),
        })
    }

    // -- observing -----------------------------------------------------------------------------

    pub fn status(&self) -> Status {
        self.shared.status.borrow().clone()
    }

    /// Changes of [`Status`]; `changed().await` wakes on each.
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.shared.status.subscribe()
    }

    /// Events from now on. A receiver that falls more than 1,024 events behind gets `Lagged`
    /// and should re-read what it shows.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Waits until no edit is pending (failed and held ones do not count: they wait for a
    /// person) and the last round succeeded, or until `timeout`. Returns the status then.
    pub async fn settled(&self, timeout: Duration) -> Status {
        let deadline = super::clock::deadline_in(timeout);
        let mut status = self.watch_status();
        self.shared.wake.notify_one();
        loop {
            // The queue's own count, not the published one, which may lag an edit just made.
            let pending = self
                .shared
                .replica
                .queue_counts()
                .await
                .map_or(1, |counts| counts.waiting);
            let now = status.borrow_and_update().clone();
            if pending == 0
                && now.connection == super::Connection::Online
                && now.last_error.is_none()
            {
                return now;
            }
            let step = tokio::time::timeout_at(deadline, status.changed());
            match tokio::time::timeout(Duration::from_millis(100), step).await {
                Ok(Err(_)) => return self.status(),
                Ok(Ok(Err(_))) => return self.status(),
                _ => {}
            }
            if tokio::time::Instant::now() >= deadline {
                return self.status();
            }
        }
    }

    // -- reading -------------------------------------------------------------------------------

    pub async fn products(&self) -> Result<Vec<ProductSummary>, SyncError> {
        self.shared.replica.products().await
    }

    /// A product's images in display order, local edits applied.
    pub async fn images(&self, product_id: i64) -> Result<Vec<LocalImage>, SyncError> {
        self.shared.replica.images(product_id).await
    }

    /// Every visible image of the replica, by product id then display order.
    pub async fn catalogue_images(&self) -> Result<Vec<LocalImage>, SyncError> {
        self.shared.replica.catalogue_images().await
    }

    pub async fn image(&self, id: ImageId) -> Result<Option<LocalImage>, SyncError> {
        self.shared.replica.image(id).await
    }

    /// The queue, oldest first.
    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>, SyncError> {
        self.shared.replica.outbox().await
    }

    /// Bytes to draw an image's tile from (encoded; the caller decodes off the UI thread):
    /// the local copy of a pending upload, else the store's thumbnail through the disk cache.
    /// `None` when the image has no picture to show yet.
    pub async fn tile(&self, id: ImageId) -> Result<Option<Bytes>, SyncError> {
        tiles::tile(&self.shared, id).await
    }

    /// Bytes to draw a large preview from: the pending upload's own copy, else the store's
    /// largest variant (not cached: a preview is looked at once).
    pub async fn preview(&self, id: ImageId) -> Result<Option<Bytes>, SyncError> {
        tiles::preview(&self.shared, id).await
    }

    /// Images in the whole store, asked of the store itself (the replica may be behind).
    pub async fn store_image_count(&self) -> Result<u64, SyncError> {
        Ok(self.shared.client.count_store_images().await?)
    }

    /// Bytes the tile cache holds on disk.
    pub async fn tile_cache_bytes(&self) -> Result<u64, SyncError> {
        tiles::cached_bytes(&self.shared).await
    }

    /// Pairs of images of one product that show the same picture (re-encoded or resized too),
    /// from their perceptual hashes (computed once per picture, kept in the replica).
    /// `images`: each product's images; pictures that cannot be fetched are left out.
    pub async fn duplicates(
        &self,
        images: &std::collections::BTreeMap<i64, Vec<LocalImage>>,
        progress: impl Fn(usize, usize) + Send + Sync,
    ) -> Result<Vec<(ImageId, ImageId)>, SyncError> {
        let ids: Vec<ImageId> = images.values().flatten().map(|i| i.id).collect();
        let hashes = self.perceptual_hashes(&ids, progress).await?;
        let mut pairs = Vec::new();
        for shown in images.values() {
            let hashed: Vec<_> = shown
                .iter()
                .filter_map(|i| hashes.get(&i.id).map(|h| (i.id, *h)))
                .collect();
            pairs.extend(super::duplicate_pairs(&hashed));
        }
        Ok(pairs)
    }

    /// The catalogue's findings (the Reports view, `imagedesk report`), from the replica as it
    /// is; `progress(done, total)` while pictures are compared.
    pub async fn findings(
        &self,
        progress: impl Fn(usize, usize) + Send + Sync,
    ) -> Result<super::findings::Report, SyncError> {
        let products = self.products().await?;
        let mut images: std::collections::BTreeMap<i64, Vec<LocalImage>> =
            std::collections::BTreeMap::new();
        for image in self.catalogue_images().await? {
            images.entry(image.product_id).or_default().push(image);
        }
        let duplicates = self.duplicates(&images, progress).await?;
        let findings = super::findings::findings(&products, &images, &duplicates);
        Ok(super::findings::Report {
            findings,
            products,
            images,
        })
    }

    /// Perceptual hashes of the visible images among `ids` (for [`super::duplicate_pairs`]):
    /// stored ones from the replica, the others computed once from the image's tile (or its
    /// pending upload) and stored. An image whose picture cannot be fetched or read is left
    /// out (and logged). `progress(done, total)` follows each image.
    pub async fn perceptual_hashes(
        &self,
        ids: &[ImageId],
        progress: impl Fn(usize, usize) + Send + Sync,
    ) -> Result<std::collections::HashMap<ImageId, crate::imaging::PerceptualHash>, SyncError> {
        super::phash::perceptual_hashes(&self.shared, ids, progress).await
    }

    // -- the catalogue (product list and counts view) -------------------------------------------

    /// Rows `offset..offset + limit` of the products `query` selects, in its order, and how
    /// many it selects: one page of the product list or the counts table, read in SQL (the
    /// catalogue is never loaded whole; see `catalog.rs`).
    pub async fn product_page(
        &self,
        query: &ProductQuery,
        offset: u64,
        limit: u64,
    ) -> Result<ProductPage, SyncError> {
        catalog::product_page(&self.shared.replica.reader, query, offset, limit).await
    }

    /// One product's summary (`None`: the replica does not know it).
    pub async fn product_summary(&self, id: i64) -> Result<Option<ProductSummary>, SyncError> {
        catalog::product_summary(&self.shared.replica.reader, id).await
    }

    /// Products, images, queued edits and how fresh the counts are, for the whole replica.
    pub async fn catalogue_totals(&self) -> Result<CatalogueTotals, SyncError> {
        catalog::catalogue_totals(&self.shared.replica.reader).await
    }

    /// The product last passed to [`Engine::show_product`].
    pub fn shown_product(&self) -> Option<i64> {
        *self
            .shared
            .shown_product
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    // -- editing -------------------------------------------------------------------------------

    /// Adds a picture from a local file at the end of the product's images. The file is
    /// checked and copied first, so it may vanish once this returns.
    pub async fn add_file(
        &self,
        product_id: i64,
        path: impl AsRef<Path>,
        description: &str,
    ) -> Result<ImageId, SyncError> {
        let picture = edits::copy_in(&self.shared.replica, path.as_ref()).await?;
        let blob = picture.source.blob();
        match edits::add(&self.shared.replica, product_id, picture, description).await {
            Ok((applied, image)) => {
                self.done(applied).await;
                Ok(image)
            }
            Err(err) => {
                edits::remove_blobs(&self.shared.replica, blob.as_slice());
                Err(err)
            }
        }
    }

    /// Adds a picture the store will download from `url`.
    pub async fn add_url(
        &self,
        product_id: i64,
        url: &str,
        description: &str,
    ) -> Result<ImageId, SyncError> {
        let picture = edits::url_picture(url)?;
        let (applied, image) =
            edits::add(&self.shared.replica, product_id, picture, description).await?;
        self.done(applied).await;
        Ok(image)
    }

    /// Sets the description (alt text).
    pub async fn describe(&self, id: ImageId, description: &str) -> Result<(), SyncError> {
        let applied = edits::describe(&self.shared.replica, id, description).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// Makes the image its product's thumbnail.
    pub async fn set_thumbnail(&self, id: ImageId) -> Result<(), SyncError> {
        let applied = edits::set_thumbnail(&self.shared.replica, id).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// Shows the product's images in `desired` order, which names each visible image once.
    pub async fn reorder(&self, product_id: i64, desired: &[ImageId]) -> Result<(), SyncError> {
        let applied = edits::reorder(&self.shared.replica, product_id, desired).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// Moves `moving` (in their current relative order) so that they start at `index` of the
    /// list that remains without them: what a drag of a selection does.
    pub async fn move_images(
        &self,
        product_id: i64,
        moving: &[ImageId],
        index: usize,
    ) -> Result<(), SyncError> {
        let current: Vec<ImageId> = self
            .images(product_id)
            .await?
            .iter()
            .map(|i| i.id)
            .collect();
        if let Some(missing) = moving.iter().find(|id| !current.contains(id)) {
            return Err(SyncError::UnknownImage(*missing));
        }
        let (moved, mut rest): (Vec<ImageId>, Vec<ImageId>) =
            current.into_iter().partition(|id| moving.contains(id));
        let at = index.min(rest.len());
        rest.splice(at..at, moved);
        self.reorder(product_id, &rest).await
    }

    /// Replaces the picture from a local file, keeping the image's place, description and
    /// thumbnail flag.
    pub async fn replace_file(&self, id: ImageId, path: impl AsRef<Path>) -> Result<(), SyncError> {
        let picture = edits::copy_in(&self.shared.replica, path.as_ref()).await?;
        let blob = picture.source.blob();
        match edits::replace(&self.shared.replica, id, picture).await {
            Ok(applied) => {
                self.done(applied).await;
                Ok(())
            }
            Err(err) => {
                edits::remove_blobs(&self.shared.replica, blob.as_slice());
                Err(err)
            }
        }
    }

    /// Replaces the picture with one the store downloads from `url`.
    pub async fn replace_url(&self, id: ImageId, url: &str) -> Result<(), SyncError> {
        let picture = edits::url_picture(url)?;
        let applied = edits::replace(&self.shared.replica, id, picture).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// Deletes images (all or none: an unknown id changes nothing).
    pub async fn delete(&self, ids: &[ImageId]) -> Result<(), SyncError> {
        let applied = edits::delete(&self.shared.replica, ids).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// Deletes every image of the product.
    pub async fn delete_all(&self, product_id: i64) -> Result<(), SyncError> {
        let applied = edits::delete_all(&self.shared.replica, product_id).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    // -- bulk work -----------------------------------------------------------------------------

    /// Copies `images` (in that order) to the end of each product of `targets`, with their
    /// descriptions, as ordinary queued adds ("Copy to other products…"). The pictures are
    /// read first (a pending upload's own file, else the store's largest variant): when one
    /// cannot be had, nothing is queued. `progress(done, total)` follows the work.
    pub async fn copy_images(
        &self,
        images: &[ImageId],
        targets: &[i64],
        progress: impl Fn(usize, usize) + Send + Sync,
    ) -> Result<super::CopyReport, SyncError> {
        super::copies::copy_images(&self.shared, images, targets, progress).await
    }

    /// Each of `products` with its summary and images, for a bulk edit: products never read
    /// from the store are read first; if the store does not answer, an error, never a partial
    /// list.
    pub async fn products_images(
        &self,
        products: &[i64],
    ) -> Result<std::collections::BTreeMap<i64, (ProductSummary, Vec<LocalImage>)>, SyncError> {
        super::copies::products_images(&self.shared, products).await
    }

    // -- recently deleted ---------------------------------------------------------------------------

    /// Pictures deleted in the last [`trash::RECENTLY_DELETED_DAYS`] days, newest first.
    pub async fn recently_deleted(&self) -> Result<Vec<DeletedPicture>, SyncError> {
        trash::list(&self.shared.replica).await
    }

    /// The kept copy of a deleted picture (encoded; `None` while it is still to be made).
    pub async fn deleted_picture(&self, id: DeletedId) -> Result<Option<Bytes>, SyncError> {
        trash::picture(&self.shared, id).await
    }

    /// Puts a deleted picture back: a new image at its old place (or last, if the product has
    /// fewer images now) with its description, queued like an added file. The entry goes in
    /// the same transaction.
    pub async fn restore(&self, id: DeletedId) -> Result<ImageId, SyncError> {
        let (applied, image) =
            trash::restore(&self.shared.replica, &self.shared.config.dir, id).await?;
        self.done(applied).await;
        Ok(image)
    }

    /// Removes a deleted picture for good now.
    pub async fn forget_deleted(&self, id: DeletedId) -> Result<(), SyncError> {
        trash::forget(&self.shared.replica, &self.shared.config.dir, id).await
    }

    // -- the queue -----------------------------------------------------------------------------

    /// Sends a failed edit again.
    pub async fn retry(&self, seq: i64) -> Result<(), SyncError> {
        let applied = edits::retry(&self.shared.replica, seq).await?;
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// Drops a queued edit; the next pull shows the store's value again.
    pub async fn discard(&self, seq: i64) -> Result<(), SyncError> {
        let applied = edits::discard(&self.shared.replica, seq).await?;
        self.shared.pull_requested.store(true, Ordering::SeqCst);
        {
            self.done(applied).await;
            Ok(())
        }
    }

    /// "Keep mine" for a held edit (see [`crate::sync::OutboxEntry::held`]): it is sent now,
    /// replacing the store's value.
    pub async fn keep_mine(&self, seq: i64) -> Result<(), SyncError> {
        let applied = edits::keep_mine(&self.shared.replica, seq).await?;
        self.done(applied).await;
        Ok(())
    }

    /// "Use the store's" for a held edit: it is dropped and the replica shows the store's
    /// value again (a picture's comes with the next pull, which this asks for).
    pub async fn use_theirs(&self, seq: i64) -> Result<(), SyncError> {
        let applied = edits::use_theirs(&self.shared.replica, seq).await?;
        self.shared.pull_requested.store(true, Ordering::SeqCst);
        self.done(applied).await;
        Ok(())
    }

    /// Stops sending edits (they keep queueing) until [`Engine::resume`].
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::SeqCst);
        self.shared.set_status(|s| s.paused = true);
    }

    pub fn resume(&self) {
        self.shared.paused.store(false, Ordering::SeqCst);
        self.shared.set_status(|s| s.paused = false);
        self.shared.wake.notify_one();
    }

    /// Tries the store again at once, cutting short the back-off after a failure ("Retry
    /// now"). A wait the store asked for (429 with a retry-after) is still honoured.
    pub fn retry_now(&self) {
        // The worker's wait between rounds ends on a wake unless the store asked for it.
        self.refresh();
    }

    /// Pulls one product's images into the replica now, and waits for it (scripts that name a
    /// product the replica may not know yet).
    pub async fn pull_product(&self, product_id: i64) -> Result<(), SyncError> {
        super::pull::pull_product(&self.shared, product_id).await
    }

    /// How the store takes local files (asked once, on an existing product, then
    /// remembered), so the app can say before the user picks files that it cannot.
    pub async fn upload_route(
        &self,
        product_id: i64,
    ) -> Result<crate::api::UploadRoute, SyncError> {
        Ok(self.shared.client.upload_route(product_id).await?)
    }

    /// Records the last pulls could not read (skipped; see [`Event::RecordsUnreadable`]).
    pub fn unreadable(&self) -> Vec<crate::api::UnreadableRecord> {
        self.shared.unreadable()
    }

    /// The product the user has open (`None`: none). Its images are read from the store before
    /// any other work (once per opening; again on a refresh, and on every look for changes
    /// when the store's product list cannot say what changed).
    pub fn show_product(&self, product_id: Option<i64>) {
        let mut shown = self
            .shared
            .shown_product
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *shown != product_id {
            *shown = product_id;
            self.shared.wake.notify_one();
        }
    }

    /// Like [`Engine::settled`], and also waits until every product's images have been read
    /// once (the background sweep is done; see [`Engine::products_unread`]).
    pub async fn caught_up(&self, timeout: Duration) -> Status {
        let deadline = super::clock::deadline_in(timeout);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let status = self.settled(left).await;
            let settled = status.pending == status.held
                && status.connection == super::Connection::Online
                && status.last_error.is_none();
            let unread = self.products_unread().await.unwrap_or(u64::MAX);
            if (settled && unread == 0) || tokio::time::Instant::now() >= deadline {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Products whose images have never been read from the store (the sweep reads them).
    pub async fn products_unread(&self) -> Result<u64, SyncError> {
        super::pull::never_read(&self.shared).await
    }

    /// Looks for changes in the store now, reads the shown product again (and retries at once
    /// if the store was unreachable).
    pub fn refresh(&self) {
        self.shared.pull_requested.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// Stops the worker and waits for it. Queued edits stay on disk for the next open.
    pub async fn close(self) {
        self.cancel.cancel();
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        // The worker's creates in flight were aborted with it; wait until each task has been
        // dropped (with its handle on this engine, which holds the replica's lock).
        self.shared.sends_in_flight.close();
        self.shared.sends_in_flight.wait().await;
        // Close the database now rather than when the last handle drops: a transaction the
        // worker was cut off in is rolled back and its locks released before this returns, so
        // an engine opened next on the same directory does not meet them ("database is locked").
        self.shared.replica.writer.close().await;
        self.shared.replica.reader.close().await;
    }

    /// After an edit committed: tell the UI, count the queue, wake the worker.
    async fn done(&self, applied: Applied) {
        self.shared.announce(&applied);
        self.shared.refresh_counts().await;
        self.shared.wake.notify_one();
    }
}

/// Takes the replica's advisory lock, so that one engine at a time sends its outbox; the
/// operating system releases it when the file is closed, also after a crash.
fn lock_replica(dir: &Path) -> Result<std::fs::File, SyncError> {
    let path = dir.join("engine.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| SyncError::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(SyncError::ReplicaInUse {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(SyncError::io(&path, e)),
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}
