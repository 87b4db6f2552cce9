//! Local edits: each one changes the replica and appends to (or folds into) the outbox in one
//! transaction, so an edit the call acknowledged is never lost and never half-applied.
//!
//! Folding ("coalescing") happens here, at enqueue time, so that the queue itself always holds
//! the fewest requests: a later value of a field replaces the earlier queued one, an image
//! created and deleted before it was sent leaves nothing, and moves share one queued reorder
//! whose plan is computed when it is sent. An edit that the worker may be sending right now is
//! folded into safely because folding bumps `revision`, and the worker only retires an edit
//! whose revision is the one it sent.

use std::path::{Path, PathBuf};

use sqlx::SqliteConnection;

use super::SyncError;
use super::deleted_entries;
use super::model::ImageId;
use super::outbox::{Base, Change, Edit, EditState, NewEdit, Outbox, Source, Successor, coalesce};
use super::replica::{self, ImageRow, Replica};
use crate::{durable, imaging};

/// What an edit touched, for events and for cleaning up after the commit.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub products: Vec<i64>,
    /// Engine-owned picture copies no queued edit refers to any more.
    pub unused_blobs: Vec<String>,
}

impl Applied {
    fn product(product_id: i64) -> Applied {
        Applied {
            products: vec![product_id],
            unused_blobs: Vec::new(),
        }
    }
}

/// A new picture for an add or a replace, already copied into the engine's storage.
pub(crate) struct NewPicture {
    pub source: Source,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub file_size: Option<u64>,
}

/// Reads and checks a user's file, then copies it into the blob directory (temporary name,
/// fsync, rename), so the edit survives the original vanishing.
pub(crate) async fn copy_in(replica: &Replica, path: &Path) -> Result<NewPicture, SyncError> {
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| SyncError::io(path, e))?;
    let probe = imaging::probe(&bytes).map_err(|e| SyncError::NotAnImage(path.to_path_buf(), e))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("image.{}", probe.format.extension()));
    let blob = format!("{}.{}", random_hex(), probe.format.extension());
    let dir = replica.blobs.clone();
    let size = bytes.len() as u64;
    let target = dir.join(&blob);
    tokio::task::spawn_blocking(move || durable::write(&target, &bytes))
        .await
        .map_err(|e| SyncError::io(path, std::io::Error::other(e)))?
        .map_err(|e| SyncError::io(&dir, e))?;
    Ok(NewPicture {
        source: Source::File { blob, file_name },
        width: Some(probe.width),
        height: Some(probe.height),
        file_size: Some(size),
    })
}

pub(crate) fn url_picture(url: &str) -> Result<NewPicture, SyncError> {
    let parsed = url::Url::parse(url).map_err(|_| SyncError::InvalidUrl(url.to_owned()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(SyncError::InvalidUrl(url.to_owned()));
    }
    Ok(NewPicture {
        source: Source::Url {
            url: url.to_owned(),
        },
        width: None,
        height: None,
        file_size: None,
    })
}

pub(crate) use super::outbox::random_hex;

fn idempotency_key() -> String {
    format!("imagedesk-{}", random_hex())
}

async fn visible_row(conn: &mut SqliteConnection, id: ImageId) -> Result<ImageRow, SyncError> {
    match replica::image_row(conn, id.0).await? {
        Some(row) if !row.hidden => Ok(row),
        _ => Err(SyncError::UnknownImage(id)),
    }
}

/// Lets the product's queue take a new edit (see `outbox::coalesce`), and forgets the rows of
/// images the store never saw.
async fn enqueue(
    conn: &mut SqliteConnection,
    new: NewEdit,
    successor: Successor,
    applied: &mut Applied,
) -> Result<(), SyncError> {
    let queue = Outbox::on(conn).of_product(new.product_id).await?;
    let changes: Vec<Change> = coalesce(&queue, new, successor);
    let done = Outbox::on(conn).apply(changes).await?;
    applied.unused_blobs.extend(done.unused_blobs);
    for image in done.forgotten {
        sqlx::query("DELETE FROM images WHERE local_id = ?")
            .bind(image.0)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Adds an image at the end of the product; returns its handle.
pub(crate) async fn add(
    replica: &Replica,
    product_id: i64,
    picture: NewPicture,
    description: &str,
) -> Result<(Applied, ImageId), SyncError> {
    let mut tx = replica.writer.begin().await?;
    let added = add_in(&mut tx, replica, product_id, picture, description).await?;
    tx.commit().await?;
    Ok(added)
}

/// [`add`] inside a transaction the caller commits (a restore queues more in the same one).
pub(crate) async fn add_in(
    tx: &mut SqliteConnection,
    replica: &Replica,
    product_id: i64,
    picture: NewPicture,
    description: &str,
) -> Result<(Applied, ImageId), SyncError> {
    let known: Option<i64> = sqlx::query_scalar("SELECT id FROM products WHERE id = ?")
        .bind(product_id)
        .fetch_optional(&mut *tx)
        .await?;
    if known.is_none() {
        return Err(SyncError::UnknownProduct(product_id));
    }
    let (next_position, visible): (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(MAX(position) + 1, 0), COALESCE(SUM(hidden = 0), 0)
         FROM images WHERE product_id = ?",
    )
    .bind(product_id)
    .fetch_one(&mut *tx)
    .await?;
    let local_file = local_file_of(replica, &picture.source);
    let local_id: i64 = sqlx::query_scalar(
        "INSERT INTO images (product_id, position, is_thumbnail, description, image_file,
            width, height, file_size, local_file)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING local_id",
    )
    .bind(product_id)
    .bind(next_position)
    .bind(visible == 0)
    .bind(description)
    .bind(picture.source.display_name())
    .bind(picture.width.map(i64::from))
    .bind(picture.height.map(i64::from))
    .bind(picture.file_size.and_then(|v| i64::try_from(v).ok()))
    .bind(local_file)
    .fetch_one(&mut *tx)
    .await?;
    let image = ImageId(local_id);
    let new = NewEdit {
        product_id,
        edit: Edit::Create {
            image,
            source: picture.source,
            description: description.to_owned(),
        },
        base: Base::default(),
        idempotency_key: Some(idempotency_key()),
    };
    let mut applied = Applied::product(product_id);
    enqueue(tx, new, Successor::NotThumbnail, &mut applied).await?;
    Ok((applied, image))
}

fn local_file_of(replica: &Replica, source: &Source) -> Option<String> {
    source
        .blob()
        .map(|blob| replica.blob_path(&blob).to_string_lossy().into_owned())
}

pub(crate) async fn describe(
    replica: &Replica,
    id: ImageId,
    description: &str,
) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let row = visible_row(&mut tx, id).await?;
    let mut applied = Applied::product(row.product_id);
    if row.record.description == description {
        return Ok(applied);
    }
    let new = NewEdit {
        product_id: row.product_id,
        edit: Edit::Describe {
            image: id,
            description: description.to_owned(),
        },
        base: Base {
            value: Some(row.record.description.clone()),
            modified: row.record.date_modified.clone(),
        },
        idempotency_key: None,
    };
    enqueue(&mut tx, new, Successor::NotThumbnail, &mut applied).await?;
    sqlx::query("UPDATE images SET description = ? WHERE local_id = ?")
        .bind(description)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(applied)
}

pub(crate) async fn set_thumbnail(replica: &Replica, id: ImageId) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let row = visible_row(&mut tx, id).await?;
    let mut applied = Applied::product(row.product_id);
    if row.record.is_thumbnail {
        return Ok(applied);
    }
    let current: Option<i64> = sqlx::query_scalar(
        "SELECT local_id FROM images WHERE product_id = ? AND is_thumbnail = 1 AND hidden = 0",
    )
    .bind(row.product_id)
    .fetch_optional(&mut *tx)
    .await?;
    let new = NewEdit {
        product_id: row.product_id,
        edit: Edit::SetThumbnail { image: id },
        base: Base {
            value: Some(current.map(|c| ImageId(c).to_string()).unwrap_or_default()),
            modified: None,
        },
        idempotency_key: None,
    };
    enqueue(&mut tx, new, Successor::NotThumbnail, &mut applied).await?;
    sqlx::query("UPDATE images SET is_thumbnail = (local_id = ?) WHERE product_id = ?")
        .bind(id.0)
        .bind(row.product_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(applied)
}

/// Puts the product's visible images in `desired` order (each exactly once).
pub(crate) async fn reorder(
    replica: &Replica,
    product_id: i64,
    desired: &[ImageId],
) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let applied = reorder_in(&mut tx, product_id, desired).await?;
    tx.commit().await?;
    Ok(applied)
}

/// [`reorder`] inside a transaction the caller commits.
pub(crate) async fn reorder_in(
    tx: &mut SqliteConnection,
    product_id: i64,
    desired: &[ImageId],
) -> Result<Applied, SyncError> {
    let rows = replica::product_rows(tx, product_id).await?;
    let current: Vec<ImageId> = rows
        .iter()
        .filter(|r| !r.hidden)
        .map(|r| ImageId(r.local_id))
        .collect();
    let mut sorted_current = current.clone();
    sorted_current.sort();
    let mut sorted_desired = desired.to_vec();
    sorted_desired.sort();
    if sorted_current != sorted_desired {
        return Err(SyncError::NotAPermutation);
    }
    let mut applied = Applied::product(product_id);
    if current == desired {
        return Ok(applied);
    }
    for (position, id) in desired.iter().enumerate() {
        sqlx::query("UPDATE images SET position = ? WHERE local_id = ?")
            .bind(position as i64)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
    }
    let new = NewEdit::plain(product_id, Edit::Reorder);
    enqueue(tx, new, Successor::NotThumbnail, &mut applied).await?;
    Ok(applied)
}

pub(crate) async fn replace(
    replica: &Replica,
    id: ImageId,
    picture: NewPicture,
) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let row = visible_row(&mut tx, id).await?;
    let mut applied = Applied::product(row.product_id);
    let local_file = local_file_of(replica, &picture.source);
    let image_file = picture.source.display_name().to_owned();
    let key = matches!(picture.source, Source::File { .. }).then(idempotency_key);
    let new = NewEdit {
        product_id: row.product_id,
        edit: Edit::Replace {
            image: id,
            source: picture.source,
            new_server_id: None,
        },
        base: Base {
            value: Some(row.record.image_file.clone()),
            modified: row.record.date_modified.clone(),
        },
        idempotency_key: key,
    };
    enqueue(&mut tx, new, Successor::NotThumbnail, &mut applied).await?;
    sqlx::query(
        "UPDATE images SET image_file = ?, local_file = ?, width = ?, height = ?, file_size = ?
         WHERE local_id = ?",
    )
    .bind(image_file)
    .bind(local_file)
    .bind(picture.width.map(i64::from))
    .bind(picture.height.map(i64::from))
    .bind(picture.file_size.and_then(|v| i64::try_from(v).ok()))
    .bind(id.0)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(applied)
}

pub(crate) async fn delete(replica: &Replica, ids: &[ImageId]) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let mut applied = Applied::default();
    // Before anything is hidden, so each entry keeps its place in the order the user saw.
    deleted_entries::record_deletes(&mut tx, replica, ids).await?;
    for &id in ids {
        let row = visible_row(&mut tx, id).await?;
        if !applied.products.contains(&row.product_id) {
            applied.products.push(row.product_id);
        }
        // Hidden first: the row stays (the delete is pending) unless the store never saw it.
        sqlx::query("UPDATE images SET hidden = 1, is_thumbnail = 0 WHERE local_id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let successor = if row.record.is_thumbnail {
            promote_first_thumbnail(&mut tx, row.product_id)
                .await?
                .map_or(Successor::NoneLeft, Successor::Next)
        } else {
            Successor::NotThumbnail
        };
        let new = NewEdit::plain(row.product_id, Edit::Delete { image: id });
        enqueue(&mut tx, new, successor, &mut applied).await?;
    }
    tx.commit().await?;
    Ok(applied)
}

pub(crate) async fn delete_all(replica: &Replica, product_id: i64) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let mut applied = Applied::product(product_id);
    deleted_entries::record_delete_all(&mut tx, replica, product_id).await?;
    sqlx::query("UPDATE images SET hidden = 1, is_thumbnail = 0 WHERE product_id = ?")
        .bind(product_id)
        .execute(&mut *tx)
        .await?;
    let new = NewEdit::plain(product_id, Edit::DeleteAll);
    enqueue(&mut tx, new, Successor::NoneLeft, &mut applied).await?;
    tx.commit().await?;
    Ok(applied)
}

/// Removes an image row and every queued edit for it. Returns how many edits went.
pub(crate) async fn forget_image(
    conn: &mut SqliteConnection,
    image: ImageId,
    applied: &mut Applied,
) -> Result<usize, SyncError> {
    let removed = Outbox::on(conn).remove_for_image(image).await?;
    applied
        .unused_blobs
        .extend(removed.iter().filter_map(|q| q.edit.blob()));
    sqlx::query("DELETE FROM images WHERE local_id = ?")
        .bind(image.0)
        .execute(&mut *conn)
        .await?;
    Ok(removed.len())
}

/// Mirrors the store's rule locally: when the thumbnail goes, the first other image takes it.
/// Returns that image.
async fn promote_first_thumbnail(
    conn: &mut SqliteConnection,
    product_id: i64,
) -> Result<Option<ImageId>, SyncError> {
    let first: Option<i64> = sqlx::query_scalar(
        "SELECT local_id FROM images WHERE product_id = ? AND hidden = 0
         ORDER BY position, local_id LIMIT 1",
    )
    .bind(product_id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(first) = first {
        sqlx::query("UPDATE images SET is_thumbnail = 1 WHERE local_id = ?")
            .bind(first)
            .execute(&mut *conn)
            .await?;
    }
    Ok(first.map(ImageId))
}

pub(crate) async fn retry(replica: &Replica, seq: i64) -> Result<Applied, SyncError> {
    let mut conn = replica.writer.acquire().await?;
    let mut outbox = Outbox::on(&mut conn);
    let product_id = match outbox.get(seq).await? {
        Some(Ok(queued)) => queued.product_id,
        Some(Err(unreadable)) => unreadable.product_id,
        None => return Err(SyncError::UnknownEdit(seq)),
    };
    outbox.retry(seq).await?;
    Ok(Applied::product(product_id))
}

/// The held edit `seq`, or why there is none.
async fn held(
    conn: &mut SqliteConnection,
    seq: i64,
) -> Result<(super::outbox::Queued, String), SyncError> {
    match Outbox::on(conn).get(seq).await? {
        Some(Ok(queued)) => match &queued.state {
            EditState::Held { theirs, .. } => {
                let theirs = theirs.clone();
                Ok((queued, theirs))
            }
            _ => Err(SyncError::NotHeld(seq)),
        },
        Some(Err(_)) => Err(SyncError::NotHeld(seq)),
        None => Err(SyncError::UnknownEdit(seq)),
    }
}

/// "Keep mine": the held edit is pending again, to be sent with the next round.
pub(crate) async fn keep_mine(replica: &Replica, seq: i64) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let (queued, _) = held(&mut tx, seq).await?;
    Outbox::on(&mut tx).release(seq).await?;
    tx.commit().await?;
    Ok(Applied::product(queued.product_id))
}

/// "Use the store's": the held edit goes, and the replica takes the store's value at once
/// (a description, the thumbnail; a picture's files and addresses come with the next pull).
pub(crate) async fn use_theirs(replica: &Replica, seq: i64) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let (queued, theirs) = held(&mut tx, seq).await?;
    let mut applied = Applied::product(queued.product_id);
    match &queued.edit {
        Edit::Describe { image, .. } => {
            sqlx::query("UPDATE images SET description = ? WHERE local_id = ?")
                .bind(&theirs)
                .bind(image.0)
                .execute(&mut *tx)
                .await?;
        }
        Edit::SetThumbnail { .. } => {
            if let Some(id) = theirs.strip_prefix('#').and_then(|n| n.parse::<i64>().ok()) {
                sqlx::query("UPDATE images SET is_thumbnail = (local_id = ?) WHERE product_id = ?")
                    .bind(id)
                    .bind(queued.product_id)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        Edit::Replace { image, .. } => {
            // The local copy stops standing in for the store's picture; the next pull brings
            // the store's addresses and sizes.
            sqlx::query("UPDATE images SET image_file = ?, local_file = NULL WHERE local_id = ?")
                .bind(&theirs)
                .bind(image.0)
                .execute(&mut *tx)
                .await?;
        }
        _ => {}
    }
    applied
        .unused_blobs
        .extend(Outbox::on(&mut tx).remove(seq).await?);
    tx.commit().await?;
    Ok(applied)
}

/// Drops a queued edit and undoes its local effect where the next pull cannot: a discarded
/// create removes its image, a discarded delete shows the image again.
pub(crate) async fn discard(replica: &Replica, seq: i64) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let queued = match Outbox::on(&mut tx).get(seq).await? {
        Some(Ok(queued)) => queued,
        Some(Err(unreadable)) => {
            // Nothing is known of its effect: the row simply goes, and the next pull shows
            // the store's values.
            Outbox::on(&mut tx).remove(seq).await?;
            tx.commit().await?;
            return Ok(Applied::product(unreadable.product_id));
        }
        None => return Err(SyncError::UnknownEdit(seq)),
    };
    let mut applied = Applied::product(queued.product_id);
    match &queued.edit {
        Edit::Create { image, .. } => {
            forget_image(&mut tx, *image, &mut applied).await?;
        }
        Edit::Delete { image } => {
            // The picture is back, so it is not "recently deleted".
            deleted_entries::forget_unsent(&mut tx, Some(*image), queued.product_id).await?;
            sqlx::query("UPDATE images SET hidden = 0 WHERE local_id = ?")
                .bind(image.0)
                .execute(&mut *tx)
                .await?;
        }
        Edit::DeleteAll => {
            deleted_entries::forget_unsent(&mut tx, None, queued.product_id).await?;
            let still_deleted = Outbox::on(&mut tx).images_being_deleted().await?;
            let hidden: Vec<(i64,)> =
                sqlx::query_as("SELECT local_id FROM images WHERE product_id = ? AND hidden = 1")
                    .bind(queued.product_id)
                    .fetch_all(&mut *tx)
                    .await?;
            for (local_id,) in hidden {
                if !still_deleted.contains(&ImageId(local_id)) {
                    sqlx::query("UPDATE images SET hidden = 0 WHERE local_id = ?")
                        .bind(local_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        Edit::Describe { .. }
        | Edit::Replace { .. }
        | Edit::SetThumbnail { .. }
        | Edit::Reorder => {}
    }
    applied
        .unused_blobs
        .extend(Outbox::on(&mut tx).remove(seq).await?);
    tx.commit().await?;
    Ok(applied)
}

pub(crate) fn remove_blobs(replica: &Replica, blobs: &[String]) {
    for blob in blobs {
        let path: PathBuf = replica.blob_path(blob);
        if let Err(err) = std::fs::remove_file(&path)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!("could not remove {}: {err}", path.display());
        }
    }
}
