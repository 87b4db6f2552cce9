//! What the engine shows its users: replica rows, the queue, status and events.

use std::path::PathBuf;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The engine's handle of an image. It exists from the moment an edit creates the image (online
/// or not) and stays the same when the store assigns its own id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ImageId(pub i64);

impl std::fmt::Display for ImageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One image as the replica knows it: the store's record with the local edits applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalImage {
    pub id: ImageId,
    /// The store's id; `None` until the image's create has been sent.
    pub server_id: Option<i64>,
    pub product_id: i64,
    /// The store's `sort_order` at the last pull (0 for an image not created yet); the display
    /// order is the list's order, which a pending reorder may have changed.
    pub sort_order: i64,
    pub is_thumbnail: bool,
    pub description: String,
    pub image_file: String,
    pub date_created: String,
    pub date_modified: Option<String>,
    pub zoom_url: Option<String>,
    pub standard_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub tiny_url: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub file_size: Option<u64>,
    /// The engine's own copy of a picture that is not uploaded yet (shown instead of a tile).
    pub local_file: Option<PathBuf>,
    pub sync: SyncState,
}

#[cfg(test)]
impl LocalImage {
    /// For unit tests: image `id` of `product_id` as the store sent it (store id `100 + id`,
    /// sort order `id`), undescribed, without addresses or sizes.
    pub(crate) fn example(id: i64, product_id: i64) -> LocalImage {
        LocalImage {
            id: ImageId(id),
            server_id: Some(100 + id),
            product_id,
            sort_order: id,
            is_thumbnail: false,
            description: String::new(),
            image_file: String::new(),
            date_created: String::new(),
            date_modified: None,
            zoom_url: None,
            standard_url: None,
            thumbnail_url: None,
            tiny_url: None,
            width: None,
            height: None,
            file_size: None,
            local_file: None,
            sync: SyncState::Synced,
        }
    }
}

/// Whether an image's edits have reached the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    Synced,
    /// This many edits wait to be sent.
    Pending(usize),
    /// An edit was refused; the store's reason.
    Failed(String),
}

/// A product with what the product list shows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSummary {
    pub id: i64,
    pub name: String,
    pub sku: String,
    pub image_count: u64,
    pub has_thumbnail: bool,
    pub pending_edits: u64,
}

/// The kinds of edit the outbox holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EditKind {
    Create,
    Describe,
    SetThumbnail,
    Reorder,
    Replace,
    Delete,
    DeleteAll,
}

impl EditKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EditKind::Create => "create",
            EditKind::Describe => "describe",
            EditKind::SetThumbnail => "thumbnail",
            EditKind::Reorder => "reorder",
            EditKind::Replace => "replace",
            EditKind::Delete => "delete",
            EditKind::DeleteAll => "delete_all",
        }
    }
}

impl std::fmt::Display for EditKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EditKind::Create => "add image",
            EditKind::Describe => "change description",
            EditKind::SetThumbnail => "set thumbnail",
            EditKind::Reorder => "reorder",
            EditKind::Replace => "replace picture",
            EditKind::Delete => "delete image",
            EditKind::DeleteAll => "delete all images",
        })
    }
}

/// One queued edit, for the UI's queue view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    /// `None` for an edit this version cannot read (queued by a newer imagedesk): it is never
    /// sent; `failed` says why, and it waits for a discard.
    pub kind: Option<EditKind>,
    pub product_id: i64,
    pub image: Option<ImageId>,
    /// `Some(reason)` when the store refused it; it then waits for retry or discard.
    pub failed: Option<String>,
    /// `Some` when the store changed the same field since the edit was made: the edit is held,
    /// not sent, until the person keeps it (`Engine::keep_mine`) or takes the store's value
    /// (`Engine::use_theirs`).
    pub held: Option<HeldConflict>,
}

/// Both sides of a held edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldConflict {
    pub field: ConflictField,
    /// The edit's value (see [`ConflictField`] for what the values are).
    pub mine: String,
    /// The store's value.
    pub theirs: String,
    /// The store's `date_modified` of the image when its value was seen (none for a thumbnail).
    pub theirs_modified: Option<String>,
}

/// Whether the store answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// Not tried yet.
    Unknown,
    Online,
    Offline,
    /// Sending queued edits.
    Syncing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub connection: Connection,
    pub paused: bool,
    /// Edits waiting to be sent (not counting failed ones), held ones included.
    pub pending: u64,
    /// Of `pending`, the edits held because the store changed the same field: they wait for
    /// the person to keep theirs or take the store's.
    pub held: u64,
    /// Edits the store refused, waiting for retry or discard.
    pub failed: u64,
    pub last_error: Option<String>,
    /// When the replica last matched the store.
    pub last_sync: Option<SystemTime>,
}

impl Default for Status {
    fn default() -> Self {
        Status {
            connection: Connection::Unknown,
            paused: false,
            pending: 0,
            held: 0,
            failed: 0,
            last_error: None,
            last_sync: None,
        }
    }
}

/// A field an edit and the store changed both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictField {
    Description,
    /// The picture; values are `image_file` names (the local one is the file being uploaded).
    Picture,
    /// The product's thumbnail; values are image handles as `#local_id`.
    Thumbnail,
}

/// The store changed a field that also has a pending local edit: the edit (`seq`) is held, not
/// sent, until the person keeps it or takes the store's value. The replica shows the local value
/// meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The held edit.
    pub seq: i64,
    pub product_id: i64,
    pub image: ImageId,
    pub field: ConflictField,
    pub local: String,
    pub server: String,
}

/// What changed, for the UI to redraw. Receivers that lag behind get `Lagged` from the channel
/// and should re-read everything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The product list changed.
    ProductsChanged,
    /// Images of this product changed (records, order, sync states).
    ImagesChanged {
        product_id: i64,
    },
    /// The status changed (also published on the status watch channel).
    StatusChanged,
    Conflict(Conflict),
    /// Queued edits were dropped because their image no longer exists on the store.
    EditsDropped {
        product_id: i64,
        image: ImageId,
        edits: usize,
        reason: String,
    },
    /// The store refused an edit; it stays in the queue, marked failed.
    EditFailed {
        seq: i64,
        kind: EditKind,
        image: Option<ImageId>,
        message: String,
    },
    /// A queued edit cannot be read by this version (a newer imagedesk queued it, or the file
    /// was damaged). It is kept, never sent, and marked failed until discarded.
    EditUnreadable {
        seq: i64,
        product_id: i64,
        reason: String,
    },
    /// Records of the store that could not be read even leniently were skipped by a pull
    /// (the rest of it went on). `product_id` is the product whose images were read, `None`
    /// for the product list.
    RecordsUnreadable {
        product_id: Option<i64>,
        records: Vec<crate::api::UnreadableRecord>,
    },
    /// Bytes of an upload sent so far.
    UploadProgress {
        image: ImageId,
        sent: u64,
        total: u64,
    },
}
