//! The state the engine handle, its worker and the pull share: the replica, the store, the
//! status and events, and what the engine has learnt about the store while it runs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::{Notify, broadcast, watch};

use super::EngineConfig;
use super::SyncError;
use super::edits::{Applied, remove_blobs};
use super::model::{Event, Status};
use super::remote::Remote;
use super::replica::{self, Replica, StoreFact};
use super::watermark::Catalogue;
use crate::api::UnreadableRecord;

/// State shared by the engine handle and its worker.
pub(crate) struct Shared {
    pub replica: Replica,
    /// The store: the HTTP client, or a model store in tests.
    pub client: Arc<dyn Remote>,
    pub config: EngineConfig,
    pub events: broadcast::Sender<Event>,
    pub status: watch::Sender<Status>,
    /// Something to do: an edit, a resume, a refresh.
    pub wake: Notify,
    pub paused: AtomicBool,
    pub pull_requested: AtomicBool,
    /// The product the user has open: read before background work (`Engine::show_product`).
    pub shown_product: Mutex<Option<i64>>,
    /// The shown product this engine last read because it was shown.
    pub shown_read: Mutex<Option<i64>>,
    /// What the engine knows about the store's product dates (see `pull`).
    pub catalogue: Mutex<Catalogue>,
    /// Whether the store echoed `Idempotency-Key` on its last answer to a keyed create (kept in
    /// the replica's `store_facts`): only then is a create that may have landed resent.
    pub echoes_keys: AtomicBool,
    /// Records the last pull of each product (`None`: the product list) could not read.
    pub unreadable: Mutex<BTreeMap<Option<i64>, Vec<UnreadableRecord>>>,
    /// The replica's `engine.lock`, held (locked) while this engine may send: two engines
    /// sending one outbox would send its edits twice. Released when the last holder of the
    /// shared state (the engine, or its worker finishing) drops it.
    pub _lock: Option<std::fs::File>,
    /// When a failed picture last made each product be pulled again (see `tiles`).
    pub address_pulls: Mutex<std::collections::HashMap<i64, Instant>>,
    /// Picture downloads in flight (tiles, previews), at most `tiles::MAX_PARALLEL_DOWNLOADS`.
    pub downloads: tokio::sync::Semaphore,
    /// The creates the push sends side by side (`worker::push`), each a task of its own that
    /// holds this `Shared`. Stopping the worker aborts them, but an aborted task is dropped
    /// later, by the runtime: `Engine::close` waits here until every one is gone, so that the
    /// replica's lock is free when `close` returns.
    pub sends_in_flight: tokio_util::task::TaskTracker,
}

impl Shared {
    pub fn emit(&self, event: Event) {
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(event);
    }

    pub fn set_status(&self, change: impl FnOnce(&mut Status)) {
        let changed = self.status.send_if_modified(|status| {
            let before = status.clone();
            change(status);
            *status != before
        });
        if changed {
            self.emit(Event::StatusChanged);
        }
    }

    pub async fn refresh_counts(&self) {
        match self.replica.queue_counts().await {
            Ok(counts) => self.set_status(|s| {
                s.pending = counts.waiting + counts.held;
                s.held = counts.held;
                s.failed = counts.failed;
            }),
            Err(err) => tracing::warn!("could not count queued edits: {err}"),
        }
    }

    /// Keeps what one pull could not read (replacing that pull's earlier report) and tells the
    /// UI when it changed, so a record that stays unreadable is reported once.
    /// Returns whether the report changed.
    pub fn note_unreadable(&self, product_id: Option<i64>, records: Vec<UnreadableRecord>) -> bool {
        let changed = {
            let mut map = self
                .unreadable
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let before = map.get(&product_id).map_or(&[][..], Vec::as_slice);
            if before == records.as_slice() {
                false
            } else {
                if records.is_empty() {
                    map.remove(&product_id);
                } else {
                    map.insert(product_id, records.clone());
                }
                true
            }
        };
        if changed {
            self.emit(Event::RecordsUnreadable {
                product_id,
                records,
            });
        }
        changed
    }

    pub fn unreadable(&self) -> Vec<UnreadableRecord> {
        let map = self
            .unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.values().flatten().cloned().collect()
    }

    /// Records what a keyed create's answer said about keys, in memory and in the replica.
    pub async fn learn_echo(&self, echoed: bool) -> Result<(), SyncError> {
        if self.echoes_keys.swap(echoed, Ordering::SeqCst) != echoed {
            tracing::info!(
                "the store {} Idempotency-Key",
                if echoed { "echoes" } else { "does not echo" }
            );
        }
        let mut conn = self.replica.writer.acquire().await?;
        if replica::store_fact(&mut conn, StoreFact::EchoesIdempotencyKey).await? != Some(echoed) {
            replica::set_store_fact(&mut conn, StoreFact::EchoesIdempotencyKey, echoed).await?;
        }
        Ok(())
    }

    /// Publishes what an edit or a merge changed, and removes the files it made unused.
    pub fn announce(&self, applied: &Applied) {
        remove_blobs(&self.replica, &applied.unused_blobs);
        for &product_id in &applied.products {
            self.emit(Event::ImagesChanged { product_id });
        }
    }
}
