//! "Recently deleted": every picture the user deletes is kept locally for
//! [`RECENTLY_DELETED_DAYS`] days, with its description and place, so that it can be put back.
//!
//! The store keeps nothing once an image is deleted, so the copy must be made while it still has
//! it. A delete records an entry in the same transaction that queues it (`edits::delete`,
//! `edits::delete_all`): a picture whose upload never went out is copied there and then from
//! its queued file; one the store has is marked *pending*, and the worker downloads its largest
//! picture just before it sends the delete ([`keep_copies`]). While the store cannot be reached
//! the delete waits with it, so a delete made offline still keeps the full picture. When the
//! store answers but the picture cannot be had (gone already, refused), the largest variant in
//! the tile cache is kept instead, and the entry says that only a smaller copy was kept.
//!
//! Copies are files in `<replica dir>/deleted/`, written durably (see `durable`). They live
//! apart from the queued uploads' blobs, whose garbage collection removes any file no queued
//! edit names. A restore copies the kept file into a new blob and queues an ordinary create
//! from it, plus a reorder to its old place, and removes the entry, all in one transaction.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use sqlx::SqliteConnection;

use super::SyncError;
use super::clock::now_ms;
use super::edits::{self, Applied, NewPicture};
use super::model::ImageId;
use super::outbox::Source;
use super::replica::{self, Replica};
use super::shared::Shared;
use crate::{durable, imaging};

use super::deleted_entries::*;
pub use super::deleted_entries::{
    DeletedId, DeletedPicture, KeptCopy, RECENTLY_DELETED_DAYS, TrashError,
};

// -- keeping copies (the worker, just before a delete goes out) ---------------------------------

/// Which pending entries a delete about to be sent concerns.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    Image(ImageId),
    Product(i64),
}

/// Downloads the store's picture of every pending entry in `scope`, before the delete that
/// removes it is sent. A store that cannot be reached (or is busy) is an error: the delete
/// waits, and the copy is made when it is back. A picture the store will not give is replaced
/// by the largest cached variant.
pub(crate) async fn keep_copies(shared: &Shared, scope: Scope) -> Result<(), SyncError> {
    let pending: Vec<(i64, Option<i64>, String)> = match scope {
        Scope::Image(image) => {
            sqlx::query_as(
                "SELECT id, image_id, picture_urls FROM recently_deleted
                 WHERE image_id = ? AND copy = 'pending'",
            )
            .bind(image.0)
            .fetch_all(&shared.replica.writer)
            .await?
        }
        Scope::Product(product_id) => {
            sqlx::query_as(
                "SELECT id, image_id, picture_urls FROM recently_deleted
                 WHERE product_id = ? AND copy = 'pending'",
            )
            .bind(product_id)
            .fetch_all(&shared.replica.writer)
            .await?
        }
    };
    for (id, image, recorded) in pending {
        // The row's addresses first: the pull before the push may have found the pictures
        // moved (a store on another port) since the delete was queued.
        let mut urls = match image {
            Some(image) => replica::image_row(&mut *shared.replica.writer.acquire().await?, image)
                .await?
                .map(|row| picture_urls(&row))
                .unwrap_or_default(),
            None => Vec::new(),
        };
        let recorded: Vec<String> = serde_json::from_str(&recorded).unwrap_or_default();
        for url in recorded {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
        let fetched = match urls.first() {
            Some(url) => match shared.client.fetch_asset(url, MAX_COPY_BYTES).await {
                Ok(bytes) if imaging::probe(&bytes).is_ok() => Some(bytes),
                Ok(_) => None,
                Err(err) if err.is_transient() => return Err(err.into()),
                Err(err) => {
                    tracing::info!("the picture of a deleted image could not be fetched: {err}");
                    None
                }
            },
            None => None,
        };
        let kept = match fetched {
            Some(bytes) => Some((KeptCopy::Original, bytes)),
            None => largest_cached(shared, &urls)
                .await?
                .map(|b| (KeptCopy::Smaller, b)),
        };
        settle(shared, id, kept).await?;
    }
    Ok(())
}

/// The largest variant of `urls` (largest first) that the tile cache holds.
async fn largest_cached(shared: &Shared, urls: &[String]) -> Result<Option<Bytes>, SyncError> {
    for url in urls {
        let cached: Option<(i64,)> = sqlx::query_as("SELECT id FROM tiles WHERE url = ?")
            .bind(url)
            .fetch_optional(&shared.replica.writer)
            .await?;
        if let Some((tile,)) = cached
            && let Ok(bytes) = tokio::fs::read(super::tiles::tile_path(
                &super::tiles::tile_dir(shared),
                tile,
            ))
            .await
        {
            return Ok(Some(Bytes::from(bytes)));
        }
    }
    Ok(None)
}

/// Records the copy made for a pending entry; without one, the entry goes (nothing could be
/// put back).
async fn settle(
    shared: &Shared,
    id: i64,
    kept: Option<(KeptCopy, Bytes)>,
) -> Result<(), SyncError> {
    match kept {
        Some((copy, bytes)) => {
            let ext = extension_of(&bytes);
            let name = write_copy(&shared.config.dir, bytes, ext).await?;
            sqlx::query("UPDATE recently_deleted SET copy = ?, copy_file = ? WHERE id = ?")
                .bind(copy.as_str())
                .bind(&name)
                .bind(id)
                .execute(&shared.replica.writer)
                .await?;
        }
        None => {
            tracing::warn!("no copy of a deleted picture could be kept; it cannot be restored");
            sqlx::query("DELETE FROM recently_deleted WHERE id = ?")
                .bind(id)
                .execute(&shared.replica.writer)
                .await?;
        }
    }
    Ok(())
}

// -- reading ------------------------------------------------------------------------------------

type EntryRow = (
    i64,
    i64,
    Option<String>,
    String,
    i64,
    i64,
    bool,
    String,
    i64,
    String,
);

/// Every entry, newest first.
pub(crate) async fn list(replica: &Replica) -> Result<Vec<DeletedPicture>, SyncError> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT t.id, t.product_id, p.name, t.description, t.position, t.sort_order,
                t.was_thumbnail, t.file_name, t.deleted_at_ms, t.copy
         FROM recently_deleted t LEFT JOIN products p ON p.id = t.product_id
         ORDER BY t.deleted_at_ms DESC, t.id DESC",
    )
    .fetch_all(&replica.reader)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(id, product_id, name, description, position, sort_order, thumb, file, at, copy)| {
                Some(DeletedPicture {
                    id: DeletedId(id),
                    product_id,
                    product_name: name,
                    description,
                    position: usize::try_from(position).unwrap_or(0),
                    sort_order,
                    was_thumbnail: thumb,
                    file_name: file,
                    deleted_at: time_of(at),
                    copy: KeptCopy::from_column(&copy)?,
                })
            },
        )
        .collect())
}

/// The kept copy's bytes (`None` while it is still to be made).
pub(crate) async fn picture(shared: &Shared, id: DeletedId) -> Result<Option<Bytes>, SyncError> {
    let Some(file) = copy_file(&mut *shared.replica.writer.acquire().await?, id).await? else {
        return Ok(None);
    };
    let path = deleted_dir(&shared.config.dir).join(file);
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| SyncError::io(&path, e))?;
    Ok(Some(Bytes::from(bytes)))
}

/// The entry's kept file; an error when there is no such entry.
async fn copy_file(
    conn: &mut SqliteConnection,
    id: DeletedId,
) -> Result<Option<String>, SyncError> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT copy_file FROM recently_deleted WHERE id = ?")
            .bind(id.0)
            .fetch_optional(conn)
            .await?;
    match row {
        Some((file,)) => Ok(file),
        None => Err(TrashError::UnknownEntry(id).into()),
    }
}

// -- restoring and forgetting -------------------------------------------------------------------

/// Queues the kept picture as a new image at its old place (clamped to the product's length)
/// with its description, and removes the entry, in one transaction: after a crash either the
/// entry is still there and nothing is queued, or the create is queued and the entry is gone.
/// Returns the new image and what the edit touched.
pub(crate) async fn restore(
    replica: &Replica,
    dir: &Path,
    id: DeletedId,
) -> Result<(Applied, ImageId), SyncError> {
    let entry: Option<(i64, String, i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT product_id, description, position, file_name, copy, copy_file
         FROM recently_deleted WHERE id = ?",
    )
    .bind(id.0)
    .fetch_optional(&replica.writer)
    .await?;
    let Some((product_id, description, position, file_name, copy, copy_file)) = entry else {
        return Err(TrashError::UnknownEntry(id).into());
    };
    let Some(copy_file) = copy_file.filter(|_| copy != KeptCopy::PENDING) else {
        return Err(TrashError::CopyNotReady.into());
    };
    let kept = deleted_dir(dir).join(&copy_file);
    let bytes = tokio::fs::read(&kept)
        .await
        .map_err(|e| SyncError::io(&kept, e))?;
    let probe = imaging::probe(&bytes).map_err(|e| SyncError::NotAnImage(kept.clone(), e))?;
    // The create gets a copy of its own in the blob directory: the queued upload's file goes
    // when the store has it, on the outbox's terms, while the entry's goes with the entry.
    let blob = format!("{}.{}", edits::random_hex(), probe.format.extension());
    let target = replica.blob_path(&blob);
    let size = bytes.len() as u64;
    let path = target.clone();
    tokio::task::spawn_blocking(move || durable::write(&path, &bytes))
        .await
        .map_err(|e| SyncError::io(&target, std::io::Error::other(e)))?
        .map_err(|e| SyncError::io(&target, e))?;
    let picture = NewPicture {
        source: Source::File {
            blob: blob.clone(),
            file_name: restored_name(&file_name, probe.format.extension()),
        },
        width: Some(probe.width),
        height: Some(probe.height),
        file_size: Some(size),
    };
    match queue_restore(replica, id, product_id, picture, &description, position).await {
        Ok(done) => {
            if let Err(err) = tokio::fs::remove_file(&kept).await {
                tracing::info!("could not remove {}: {err}", kept.display());
            }
            Ok(done)
        }
        Err(err) => {
            edits::remove_blobs(replica, &[blob]);
            Err(err)
        }
    }
}

/// The name the upload goes by: the store's last file name (stores name the stored file after
/// the upload's), else a plain one.
fn restored_name(file_name: &str, extension: &str) -> String {
    let base = file_name.rsplit('/').next().unwrap_or(file_name);
    if base.is_empty() || base.starts_with("http") {
        format!("restored.{extension}")
    } else {
        base.to_owned()
    }
}

async fn queue_restore(
    replica: &Replica,
    id: DeletedId,
    product_id: i64,
    picture: NewPicture,
    description: &str,
    position: i64,
) -> Result<(Applied, ImageId), SyncError> {
    let mut tx = replica.writer.begin().await?;
    let known: Option<i64> = sqlx::query_scalar("SELECT id FROM products WHERE id = ?")
        .bind(product_id)
        .fetch_optional(&mut *tx)
        .await?;
    if known.is_none() {
        return Err(TrashError::ProductGone(product_id).into());
    }
    let (mut applied, image) =
        edits::add_in(&mut tx, replica, product_id, picture, description).await?;
    // `add` puts it last; move it to its old index among the images there now.
    let mut order: Vec<ImageId> = visible_rows(&mut tx, product_id)
        .await?
        .iter()
        .map(|r| ImageId(r.local_id))
        .filter(|i| *i != image)
        .collect();
    let at = usize::try_from(position).unwrap_or(0).min(order.len());
    order.insert(at, image);
    let moved = edits::reorder_in(&mut tx, product_id, &order).await?;
    applied.unused_blobs.extend(moved.unused_blobs);
    let removed = sqlx::query("DELETE FROM recently_deleted WHERE id = ?")
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
    if removed.rows_affected() != 1 {
        // Restored (or removed) meanwhile: queue nothing.
        return Err(TrashError::UnknownEntry(id).into());
    }
    tx.commit().await?;
    Ok((applied, image))
}

/// Removes an entry and its copy now ("Delete now").
pub(crate) async fn forget(replica: &Replica, dir: &Path, id: DeletedId) -> Result<(), SyncError> {
    let mut tx = replica.writer.begin().await?;
    let file = copy_file(&mut tx, id).await?;
    sqlx::query("DELETE FROM recently_deleted WHERE id = ?")
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if let Some(file) = file {
        remove_copy(dir, &file);
    }
    Ok(())
}

fn remove_copy(dir: &Path, file: &str) {
    let path = deleted_dir(dir).join(file);
    if let Err(err) = std::fs::remove_file(&path)
        && err.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!("could not remove {}: {err}", path.display());
    }
}

// -- purging ------------------------------------------------------------------------------------

/// Whether an entry deleted at `deleted_at_ms` is past its time at `now_ms`.
fn expired(deleted_at_ms: i64, now_ms: i64) -> bool {
    let keep = i64::try_from(RECENTLY_DELETED_DAYS)
        .unwrap_or(i64::MAX)
        .saturating_mul(DAY_MS);
    now_ms.saturating_sub(deleted_at_ms) >= keep
}

/// Removes entries older than [`RECENTLY_DELETED_DAYS`] at `now_ms`, with their files.
/// With `sweep_files` (at engine start, before anything else can be writing a copy) also
/// removes files no entry names (left by a crash, or by a discarded delete). Returns how
/// many entries went.
pub(crate) async fn purge(
    replica: &Replica,
    dir: &Path,
    now_ms: i64,
    sweep_files: bool,
) -> Result<usize, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let rows: Vec<(i64, i64, Option<String>)> =
        sqlx::query_as("SELECT id, deleted_at_ms, copy_file FROM recently_deleted")
            .fetch_all(&mut *tx)
            .await?;
    let mut files = Vec::new();
    let mut removed = 0;
    for (id, at, file) in rows {
        if expired(at, now_ms) {
            sqlx::query("DELETE FROM recently_deleted WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            files.extend(file);
            removed += 1;
        }
    }
    let named: std::collections::HashSet<String> = sqlx::query_as::<_, (String,)>(
        "SELECT copy_file FROM recently_deleted WHERE copy_file IS NOT NULL",
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|(f,)| f)
    .collect();
    tx.commit().await?;
    for file in &files {
        remove_copy(dir, file);
    }
    if sweep_files && let Ok(entries) = std::fs::read_dir(deleted_dir(dir)) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !named.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    Ok(removed)
}

/// Purges now and then every [`PURGE_EVERY`] until `cancel`.
pub(crate) async fn purge_daily(
    replica: Replica,
    dir: PathBuf,
    cancel: tokio_util::sync::CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(PURGE_EVERY) => {}
        }
        match purge(&replica, &dir, now_ms(), false).await {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} recently deleted pictures passed their time"),
            Err(err) => tracing::warn!("recently deleted pictures could not be purged: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use super::*;

    fn entry(deleted_at: SystemTime) -> DeletedPicture {
        DeletedPicture {
            id: DeletedId(1),
            product_id: 1,
            product_name: None,
            description: String::new(),
            position: 0,
            sort_order: 0,
            was_thumbnail: false,
            file_name: String::new(),
            deleted_at,
            copy: KeptCopy::Original,
        }
    }

    #[test]
    fn an_entry_is_kept_thirty_days_to_the_millisecond() {
        let day = DAY_MS;
        assert!(!expired(0, 30 * day - 1));
        assert!(expired(0, 30 * day));
        assert!(expired(0, 31 * day));
        assert!(!expired(10 * day, 20 * day));
    }

    #[test]
    fn days_ago_and_days_left_add_up_to_the_keeping_time() {
        let deleted = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let picture = entry(deleted);
        let three_days = deleted + Duration::from_secs(3 * 24 * 3600 + 60);
        assert_eq!(picture.days_ago(three_days), 3);
        assert_eq!(picture.days_left(three_days), 26);
        assert_eq!(picture.days_left(deleted), RECENTLY_DELETED_DAYS);
        assert_eq!(
            picture.days_left(deleted + Duration::from_secs(40 * 86400)),
            0
        );
        // A clock set back before the delete says "today", not a panic.
        assert_eq!(picture.days_ago(deleted - Duration::from_secs(60)), 0);
    }

    #[test]
    fn kept_copies_read_back_as_written() {
        for copy in [
            KeptCopy::Pending,
            KeptCopy::Original,
            KeptCopy::Smaller,
            KeptCopy::Upload,
        ] {
            assert_eq!(KeptCopy::from_column(copy.as_str()), Some(copy));
        }
        assert_eq!(KeptCopy::from_column("thumbnail"), None);
    }

    #[test]
    fn a_restored_upload_goes_by_the_stores_file_name() {
        assert_eq!(
            restored_name("b/12/mug-front__0042.jpg", "jpg"),
            "mug-front__0042.jpg"
        );
        assert_eq!(restored_name("", "png"), "restored.png");
        assert_eq!(restored_name("http://h/x.png", "png"), "x.png");
    }

    #[tokio::test]
    async fn restoring_into_a_product_the_replica_no_longer_has_fails_and_keeps_the_entry() {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(dir.path()).await.unwrap();
        let file = write_copy(
            dir.path(),
            Bytes::from(crate::imaging::synthetic::jpeg(
                &crate::imaging::synthetic::photo(40, 30, 1),
                80,
                false,
                None,
            )),
            "jpg",
        )
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO recently_deleted (product_id, position, deleted_at_ms, copy, copy_file)
             VALUES (77, 0, 0, 'original', ?)",
        )
        .bind(&file)
        .execute(&replica.writer)
        .await
        .unwrap();
        let id = list(&replica).await.unwrap()[0].id;
        let err = restore(&replica, dir.path(), id).await.unwrap_err();
        assert!(
            matches!(err, SyncError::Trash(TrashError::ProductGone(77))),
            "{err}"
        );
        assert!(err.to_string().contains("no longer in the store"));
        assert_eq!(list(&replica).await.unwrap().len(), 1, "the entry stays");
        assert!(deleted_dir(dir.path()).join(&file).exists());
        let blobs = std::fs::read_dir(&replica.blobs).unwrap().count();
        assert_eq!(blobs, 0, "the create's copy went with the refusal");
    }

    #[tokio::test]
    async fn purge_removes_old_entries_and_their_files_and_orphans_only_when_sweeping() {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(dir.path()).await.unwrap();
        let old = write_copy(dir.path(), Bytes::from_static(b"old"), "bin")
            .await
            .unwrap();
        let young = write_copy(dir.path(), Bytes::from_static(b"young"), "bin")
            .await
            .unwrap();
        let orphan = write_copy(dir.path(), Bytes::from_static(b"orphan"), "bin")
            .await
            .unwrap();
        let now = 100 * DAY_MS;
        for (file, at) in [(&old, now - 31 * DAY_MS), (&young, now - 29 * DAY_MS)] {
            sqlx::query(
                "INSERT INTO recently_deleted (product_id, position, deleted_at_ms, copy,
                    copy_file) VALUES (1, 0, ?, 'original', ?)",
            )
            .bind(at)
            .bind(file)
            .execute(&replica.writer)
            .await
            .unwrap();
        }
        let folder = deleted_dir(dir.path());
        assert_eq!(purge(&replica, dir.path(), now, false).await.unwrap(), 1);
        assert!(!folder.join(&old).exists());
        assert!(folder.join(&young).exists());
        assert!(
            folder.join(&orphan).exists(),
            "a daily purge leaves files alone"
        );
        assert_eq!(list(&replica).await.unwrap().len(), 1);
        assert_eq!(purge(&replica, dir.path(), now, true).await.unwrap(), 0);
        assert!(!folder.join(&orphan).exists());
        assert!(folder.join(&young).exists());
    }
}
