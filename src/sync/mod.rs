//! The offline-first sync engine: a local replica of the store and a durable outbox of edits.
//!
//! The desktop app reads and writes only through an [`Engine`]:
//!
//! - **Reads** ([`Engine::product_page`], [`Engine::catalogue_totals`], [`Engine::images`],
//!   [`Engine::image`], [`Engine::tile`]) come from the replica (SQLite under the platform data
//!   directory), instantly, online or not; the product list is read a page at a time.
//! - **Edits** ([`Engine::add_file`], [`Engine::describe`], [`Engine::move_images`], …) change
//!   the replica and append to the outbox in one transaction before they return, so an edit
//!   that returned `Ok` survives a crash. Images created offline get an [`ImageId`] at once.
//! - A **worker** on the tokio runtime pulls the store into the replica (on connect, on
//!   [`Engine::refresh`], and every [`EngineConfig::pull_interval`]) and sends the outbox in
//!   order whenever the store answers, retrying with back-off while it does not.
//! - **Events** ([`Engine::subscribe`]) say what changed, and report conflicts, dropped edits
//!   and refused edits; the [`Status`] ([`Engine::watch_status`]) says online / offline /
//!   syncing and how many edits wait.
//!
//! Guarantees: an acknowledged edit is applied on the store once in effect, even across
//! crashes of the app or the store (creates carry an `Idempotency-Key`, and are looked for
//! before being resent when keys are off); several edits of one field send one request; a
//! create deleted before it was sent sends nothing; moves send the reorder planner's minimal
//! plan. A field with a pending edit is never overwritten by a pull; when the store changed it
//! too, the local value wins and a [`Conflict`] carries both.

mod catalog;
pub mod catalogue_csv;
mod clock;
mod copies;
mod deleted_entries;
mod edits;
mod engine;
pub mod findings;
pub mod memory_store;
mod merge;
mod model;
mod open;
mod outbox;
mod phash;
mod pull;
mod remote;
mod replica;
mod shared;
pub mod sku_files;
mod store_hashes;
mod tiles;
mod trash;
mod watermark;
mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use catalog::{CatalogueTotals, ProductPage, ProductQuery, ProductSort};
pub use copies::{CopyError, CopyReport};
pub use engine::Engine;
pub use model::{
    Conflict, ConflictField, Connection, EditKind, Event, HeldConflict, ImageId, LocalImage,
    OutboxEntry, ProductSummary, Status, SyncState,
};
pub use open::{StoreAddress, open_store};
pub use phash::duplicate_pairs;
pub use remote::{Remote, RemoteFuture};
pub use trash::{DeletedId, DeletedPicture, KeptCopy, RECENTLY_DELETED_DAYS, TrashError};

pub use crate::api::{FieldValue, RecordKind, UnreadableRecord, UploadRoute};

use crate::api::ApiError;
use crate::imaging::ImagingError;

/// How an engine runs. [`EngineConfig::for_store`] picks the platform data directory.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the replica database, queued pictures and the tile cache live.
    pub dir: PathBuf,
    /// How often the worker looks for changes in the store while it is reachable (products
    /// changed since the last look, then their images; see `pull`).
    pub pull_interval: Duration,
    /// First back-off after a failed round; doubled per failure, with jitter, up to the max.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Cap of the tile cache on disk.
    pub tile_cache_bytes: u64,
    /// Send `Idempotency-Key` on creates (the default). This does not decide whether a create
    /// that may have landed is resent: that happens only when the store is known to echo keys
    /// (learnt from its answers and kept in the replica); otherwise, and always without keys,
    /// the create is looked for in the list first.
    pub send_idempotency_keys: bool,
    /// How long a create whose answer was lost may still be running on the store (its request
    /// time-out), so how long to wait before looking for it in the list.
    pub unkeyed_landing_window: Duration,
    /// How often the worker checks that the store answers while it waits between rounds, so
    /// that the status goes offline within seconds, and edits go out within seconds of the
    /// store coming back.
    pub probe_interval: Duration,
    /// Start without sending edits until [`Engine::resume`].
    pub start_paused: bool,
    /// Never contact the store: edits are only queued (`imagedesk … --offline`), for a later
    /// engine to send.
    pub offline: bool,
    /// The least time between two requests of the background sweep that reads products'
    /// images (it also waits while less than half of the store's rate-limit window is left).
    pub background_interval: Duration,
    /// Against a store whose product list cannot say what changed (no `min_date_modified`),
    /// how old a product's last read must be before the sweep reads it again; also how often
    /// the product list itself is read then. Never less than an hour on a real store.
    pub sweep_again_after: Duration,
    /// The most new images (creates) sent at once, to different products, while the store's
    /// rate-limit budget has room (see `worker::push`); 1 sends every edit one by one.
    pub parallel_creates: usize,
}

impl EngineConfig {
    /// An engine whose files live in `dir`.
    pub fn in_dir(dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            dir: dir.into(),
            pull_interval: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            tile_cache_bytes: 256 * 1024 * 1024,
            send_idempotency_keys: true,
            unkeyed_landing_window: Duration::from_secs(30),
            probe_interval: Duration::from_secs(1),
            start_paused: false,
            offline: false,
            background_interval: Duration::from_millis(20),
            sweep_again_after: Duration::from_secs(3600),
            parallel_creates: 4,
        }
    }

    /// The profile of the store at `api_url`, under the platform data directory
    /// (`~/.local/share/imagedesk/profiles/<host_port_path>` on Linux).
    pub fn for_store(api_url: &str) -> Result<EngineConfig, SyncError> {
        let dirs =
            directories::ProjectDirs::from("", "", "imagedesk").ok_or(SyncError::NoDataDir)?;
        Ok(Self::in_dir(
            dirs.data_dir().join("profiles").join(profile_name(api_url)),
        ))
    }
}

/// A file-name-safe profile name for a store URL: `127.0.0.1_8080_api_v2`.
pub fn profile_name(api_url: &str) -> String {
    let without_scheme = api_url.split_once("://").map_or(api_url, |(_, rest)| rest);
    let name: String = without_scheme
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "default".into()
    } else {
        name
    }
}

/// What can go wrong in the engine. Edits that the store refuses are not errors of the call
/// that made them (the edit is queued); they come back as [`Event::EditFailed`].
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("the local replica database failed: {0}")]
    Db(#[from] sqlx::Error),
    #[error("the local replica database could not be upgraded: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0} cannot be uploaded: {1}")]
    NotAnImage(PathBuf, ImagingError),
    #[error("product {0} is not in the local copy of the store; refresh and try again")]
    UnknownProduct(i64),
    #[error("image {0} does not exist any more (it may have just been deleted)")]
    UnknownImage(ImageId),
    #[error("'{0}' is not an http or https URL")]
    InvalidUrl(String),
    #[error("the new order must name each of the product's images exactly once")]
    NotAPermutation,
    #[error("there is no queued edit #{0} (it may have been sent already)")]
    UnknownEdit(i64),
    #[error("queued edit #{0} is not held: only an edit the store changed too waits for a choice")]
    NotHeld(i64),
    #[error("no home directory to keep imagedesk's data in; set $HOME or pass a data directory")]
    NoDataDir,
    #[error("a queued edit could not be read: {0}")]
    Corrupt(String),
    #[error(
        "another imagedesk (the app or a store command) is using this store's local copy in {}; close it or use --offline",
        dir.display()
    )]
    ReplicaInUse { dir: PathBuf },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Trash(#[from] TrashError),
    /// A new image's upload, sent beside others, stopped without an answer (its task ended
    /// abnormally): it stays queued for the next round.
    #[error("sending a new image stopped unexpectedly: {0}")]
    SendStopped(String),
    #[error(transparent)]
    Copy(#[from] CopyError),
}

impl SyncError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> SyncError {
        SyncError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
