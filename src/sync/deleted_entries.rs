//! "Recently deleted" entries as a delete records them, in the transaction that queues it
//! (`edits::delete`, `edits::delete_all`, and `edits::discard` that takes them back): the
//! types, where copies live, and the recording itself. Apart from `trash.rs` (which keeps the
//! copies, restores and purges, and so needs the engine's edits and tiles), so that `edits`
//! can record an entry without depending on what depends on it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sqlx::SqliteConnection;

use super::SyncError;
use super::clock::now_ms;
use super::model::ImageId;
use super::replica::{self, ImageRow, Replica};
use crate::{durable, imaging};

/// How long a deleted picture is kept before it is gone for good.
pub const RECENTLY_DELETED_DAYS: u64 = 30;

pub(super) const DAY_MS: i64 = 24 * 3600 * 1000;

/// The largest picture kept (the store keeps none over 8 MiB).
pub(super) const MAX_COPY_BYTES: usize = 16 * 1024 * 1024;

/// How often a running engine looks for entries past their time.
pub(crate) const PURGE_EVERY: Duration = Duration::from_secs(24 * 3600);

/// What can go wrong with "Recently deleted" itself.
#[derive(Debug, thiserror::Error)]
pub enum TrashError {
    #[error("that deleted picture is no longer kept (it may have been restored or removed)")]
    UnknownEntry(DeletedId),
    #[error("the picture cannot be put back: its product is no longer in the store (product {0})")]
    ProductGone(i64),
    #[error(
        "the picture's copy is still being made (its delete has not reached the store yet); \
         try again in a moment"
    )]
    CopyNotReady,
}

/// The handle of one "Recently deleted" entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeletedId(pub i64);

impl std::fmt::Display for DeletedId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Which copy of a deleted picture was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptCopy {
    /// None yet: the delete has not been sent, and the copy is made just before it is.
    Pending,
    /// The store's full picture.
    Original,
    /// The store's picture could not be had; the largest cached smaller variant was kept.
    Smaller,
    /// The local file of an upload that never reached the store.
    Upload,
}

impl KeptCopy {
    pub(super) const PENDING: &'static str = "pending";
    pub(super) const ORIGINAL: &'static str = "original";
    pub(super) const SMALLER: &'static str = "smaller";
    pub(super) const UPLOAD: &'static str = "upload";

    pub(super) fn as_str(self) -> &'static str {
        match self {
            KeptCopy::Pending => Self::PENDING,
            KeptCopy::Original => Self::ORIGINAL,
            KeptCopy::Smaller => Self::SMALLER,
            KeptCopy::Upload => Self::UPLOAD,
        }
    }

    pub(super) fn from_column(value: &str) -> Option<KeptCopy> {
        match value {
            Self::PENDING => Some(KeptCopy::Pending),
            Self::ORIGINAL => Some(KeptCopy::Original),
            Self::SMALLER => Some(KeptCopy::Smaller),
            Self::UPLOAD => Some(KeptCopy::Upload),
            _ => None,
        }
    }
}

/// One picture in "Recently deleted".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedPicture {
    pub id: DeletedId,
    pub product_id: i64,
    /// The product's name, when the replica still knows the product.
    pub product_name: Option<String>,
    pub description: String,
    /// Its index in the product's order when it was deleted.
    pub position: usize,
    pub sort_order: i64,
    pub was_thumbnail: bool,
    pub file_name: String,
    pub deleted_at: SystemTime,
    pub copy: KeptCopy,
}

impl DeletedPicture {
    /// When the entry and its copy go for good.
    pub fn expires_at(&self) -> SystemTime {
        self.deleted_at + Duration::from_secs(RECENTLY_DELETED_DAYS * 24 * 3600)
    }

    /// Whole days since the delete, at `now`.
    pub fn days_ago(&self, now: SystemTime) -> u64 {
        now.duration_since(self.deleted_at)
            .map_or(0, |d| d.as_secs() / (24 * 3600))
    }

    /// Whole days it is still kept, at `now` (0 on its last day).
    pub fn days_left(&self, now: SystemTime) -> u64 {
        self.expires_at()
            .duration_since(now)
            .map_or(0, |d| d.as_secs() / (24 * 3600))
    }
}

pub(super) fn deleted_dir(dir: &Path) -> PathBuf {
    dir.join("deleted")
}

pub(super) fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// The store's addresses of a row's picture, largest first.
pub(super) fn picture_urls(row: &ImageRow) -> Vec<String> {
    let r = &row.record;
    [&r.zoom_url, &r.standard_url, &r.thumbnail_url, &r.tiny_url]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

/// Writes a kept copy durably under a new name in `deleted/`; returns the name.
pub(super) async fn write_copy(
    dir: &Path,
    bytes: Bytes,
    extension: &str,
) -> Result<String, SyncError> {
    let folder = deleted_dir(dir);
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(|e| SyncError::io(&folder, e))?;
    let name = format!("{}.{extension}", super::outbox::random_hex());
    let target = folder.join(&name);
    let path = target.clone();
    tokio::task::spawn_blocking(move || durable::write(&path, &bytes))
        .await
        .map_err(|e| SyncError::io(&target, std::io::Error::other(e)))?
        .map_err(|e| SyncError::io(&target, e))?;
    Ok(name)
}

pub(super) fn extension_of(bytes: &[u8]) -> &'static str {
    imaging::sniff(bytes).map_or("bin", |f| f.extension())
}

// -- recording deletes (inside the delete's transaction) ---------------------------------------

/// Records an entry for each visible image of `ids`, with its index in its product's order as
/// it is now (call before hiding them).
pub(crate) async fn record_deletes(
    conn: &mut SqliteConnection,
    replica: &Replica,
    ids: &[ImageId],
) -> Result<(), SyncError> {
    let now = now_ms();
    let mut products: Vec<i64> = Vec::new();
    for id in ids {
        if let Some(row) = replica::image_row(conn, id.0).await?
            && !products.contains(&row.product_id)
        {
            products.push(row.product_id);
        }
    }
    for product_id in products {
        let visible = visible_rows(conn, product_id).await?;
        for (index, row) in visible.iter().enumerate() {
            if ids.contains(&ImageId(row.local_id)) {
                record(conn, replica, row, index, now).await?;
            }
        }
    }
    Ok(())
}

/// Records an entry for each visible image of the product (call before hiding them).
pub(crate) async fn record_delete_all(
    conn: &mut SqliteConnection,
    replica: &Replica,
    product_id: i64,
) -> Result<(), SyncError> {
    let now = now_ms();
    for (index, row) in visible_rows(conn, product_id).await?.iter().enumerate() {
        record(conn, replica, row, index, now).await?;
    }
    Ok(())
}

pub(super) async fn visible_rows(
    conn: &mut SqliteConnection,
    product_id: i64,
) -> Result<Vec<ImageRow>, SyncError> {
    Ok(replica::product_rows(conn, product_id)
        .await?
        .into_iter()
        .filter(|r| !r.hidden)
        .collect())
}

pub(super) async fn record(
    conn: &mut SqliteConnection,
    replica: &Replica,
    row: &ImageRow,
    index: usize,
    now: i64,
) -> Result<(), SyncError> {
    let dir = replica
        .blobs
        .parent()
        .unwrap_or(&replica.blobs)
        .to_path_buf();
    // A picture not uploaded yet (a create, or a replace by a file): its queued file is the
    // newest picture, and the delete is about to drop it, so it is copied now.
    let (copy, copy_file) = if let Some(local) = &row.local_file {
        let path = PathBuf::from(local);
        match tokio::fs::read(&path).await {
            Ok(bytes) => {
                let ext = extension_of(&bytes);
                let name = write_copy(&dir, Bytes::from(bytes), ext).await?;
                (KeptCopy::Upload, Some(name))
            }
            Err(err) => {
                tracing::warn!(
                    "the queued picture {} of a deleted image could not be kept: {err}",
                    path.display()
                );
                return Ok(());
            }
        }
    } else if row.server_id.is_some() {
        (KeptCopy::Pending, None)
    } else {
        // A create from a URL the store never saw: there is no picture to keep.
        return Ok(());
    };
    let urls = serde_json::to_string(&picture_urls(row)).unwrap_or_else(|_| "[]".into());
    sqlx::query(
        "INSERT INTO recently_deleted (product_id, image_id, description, position, sort_order,
            was_thumbnail, file_name, deleted_at_ms, copy, copy_file, picture_urls)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.product_id)
    .bind(row.local_id)
    .bind(&row.record.description)
    .bind(i64::try_from(index).unwrap_or(i64::MAX))
    .bind(row.record.sort_order)
    .bind(row.record.is_thumbnail)
    .bind(&row.record.image_file)
    .bind(now)
    .bind(copy.as_str())
    .bind(copy_file)
    .bind(urls)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A queued delete was discarded, so its images are back: their entries go. `image`: one
/// image's delete; `None`: the product's delete-all (images with a delete of their own queued
/// stay deleted). A copy already kept is left for the sweep at the next start.
pub(crate) async fn forget_unsent(
    conn: &mut SqliteConnection,
    image: Option<ImageId>,
    product_id: i64,
) -> Result<(), SyncError> {
    match image {
        Some(image) => {
            sqlx::query("DELETE FROM recently_deleted WHERE image_id = ?")
                .bind(image.0)
                .execute(&mut *conn)
                .await?;
        }
        None => {
            sqlx::query(
                "DELETE FROM recently_deleted WHERE product_id = ?
                   AND image_id IN (SELECT local_id FROM images)
                   AND image_id NOT IN (SELECT image_id FROM outbox
                                        WHERE kind = 'delete' AND image_id IS NOT NULL)",
            )
            .bind(product_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
