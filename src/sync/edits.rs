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

use rand::RngCore as _;
use sqlx::SqliteConnection;

use super::SyncError;
use super::model::{EditKind, ImageId};
use super::replica::{self, ImageRow, OpRow, Payload, Replica, Source, now_ms};
use crate::imaging;

/// What an edit touched, for events and for cleaning up after the commit.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub products: Vec<i64>,
    /// Engine-owned picture copies no queued edit refers to any more.
    pub unused_blobs: Vec<String>,
    pub image: Option<ImageId>,
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
    tokio::task::spawn_blocking(move || write_durably(&dir, &target, &bytes))
        .await
        .map_err(|e| SyncError::io(path, std::io::Error::other(e)))??;
    Ok(NewPicture {
        source: Source::File { blob, file_name },
        width: Some(probe.width),
        height: Some(probe.height),
        file_size: Some(size),
    })
}

fn write_durably(dir: &Path, target: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    use std::io::Write as _;
    let tmp = dir.join(format!(".tmp-{}", random_hex()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, target)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| SyncError::io(target, e))
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

pub(crate) fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn blob_of(source: &Option<Source>) -> Option<String> {
    source.as_ref().and_then(Source::blob)
}

async fn visible_row(conn: &mut SqliteConnection, id: ImageId) -> Result<ImageRow, SyncError> {
    match replica::image_row(conn, id.0).await? {
        Some(row) if !row.hidden => Ok(row),
        _ => Err(SyncError::UnknownImage(id)),
    }
}

async fn pending_op(
    conn: &mut SqliteConnection,
    image: i64,
    kind: EditKind,
) -> Result<Option<OpRow>, SyncError> {
    Ok(sqlx::query_as(
        "SELECT * FROM outbox WHERE image_id = ? AND kind = ? ORDER BY seq DESC LIMIT 1",
    )
    .bind(image)
    .bind(kind.as_str())
    .fetch_optional(conn)
    .await?)
}

/// A queued create that was never sent, or that the store refused: it can still be changed or
/// cancelled without the store ever knowing.
fn unsent_create(op: &Option<OpRow>) -> Option<&OpRow> {
    op.as_ref()
        .filter(|op| op.attempts == 0 || op.state == "failed")
}

struct NewOp<'a> {
    kind: EditKind,
    product_id: i64,
    image: Option<i64>,
    payload: &'a Payload,
    base_modified: Option<&'a str>,
    base_value: Option<&'a str>,
    idempotency_key: Option<String>,
}

impl<'a> NewOp<'a> {
    /// An edit that carries no details, base or key (a reorder, a delete, a delete-all).
    fn bare(kind: EditKind, product_id: i64, image: Option<i64>, payload: &'a Payload) -> Self {
        NewOp {
            kind,
            product_id,
            image,
            payload,
            base_modified: None,
            base_value: None,
            idempotency_key: None,
        }
    }
}

async fn append(conn: &mut SqliteConnection, op: NewOp<'_>) -> Result<i64, SyncError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (kind, product_id, image_id, payload, base_modified, base_value,
            idempotency_key, created_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
    )
    .bind(op.kind.as_str())
    .bind(op.product_id)
    .bind(op.image)
    .bind(to_json(op.payload))
    .bind(op.base_modified)
    .bind(op.base_value)
    .bind(op.idempotency_key)
    .bind(now_ms())
    .fetch_one(conn)
    .await?)
}

/// Replaces a queued edit's payload and makes it pending again.
async fn fold(conn: &mut SqliteConnection, seq: i64, payload: &Payload) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE outbox SET payload = ?, revision = revision + 1, state = 'pending',
            last_error = NULL
         WHERE seq = ?",
    )
    .bind(to_json(payload))
    .bind(seq)
    .execute(conn)
    .await?;
    Ok(())
}

fn to_json(payload: &Payload) -> String {
    // A struct of strings and integers always serialises.
    serde_json::to_string(payload).unwrap_or_else(|_| "{}".into())
}

pub(crate) async fn add(
    replica: &Replica,
    product_id: i64,
    picture: NewPicture,
    description: &str,
) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
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
    let (image_file, local_file) = match &picture.source {
        Source::File { blob, file_name } => (
            file_name.clone(),
            Some(replica.blob_path(blob).to_string_lossy().into_owned()),
        ),
        Source::Url { url } => (url.clone(), None),
    };
    let local_id: i64 = sqlx::query_scalar(
        "INSERT INTO images (product_id, position, is_thumbnail, description, image_file,
            width, height, file_size, local_file)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING local_id",
    )
    .bind(product_id)
    .bind(next_position)
    .bind(visible == 0)
    .bind(description)
    .bind(image_file)
    .bind(picture.width.map(i64::from))
    .bind(picture.height.map(i64::from))
    .bind(picture.file_size.and_then(|v| i64::try_from(v).ok()))
    .bind(local_file)
    .fetch_one(&mut *tx)
    .await?;
    let payload = Payload {
        description: Some(description.to_owned()),
        source: Some(picture.source),
        new_server_id: None,
    };
    append(
        &mut tx,
        NewOp {
            kind: EditKind::Create,
            product_id,
            image: Some(local_id),
            payload: &payload,
            base_modified: None,
            base_value: None,
            idempotency_key: Some(format!("imagedesk-{}", random_hex())),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Applied {
        products: vec![product_id],
        unused_blobs: Vec::new(),
        image: Some(ImageId(local_id)),
    })
}

pub(crate) async fn describe(
    replica: &Replica,
    id: ImageId,
    description: &str,
) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let row = visible_row(&mut tx, id).await?;
    let applied = Applied {
        products: vec![row.product_id],
        unused_blobs: Vec::new(),
        image: Some(id),
    };
    if row.description == description {
        return Ok(applied);
    }
    let create = pending_op(&mut tx, id.0, EditKind::Create).await?;
    if let Some(op) = unsent_create(&create) {
        // The create has not gone out: it will carry the new description itself.
        let mut payload = op.payload();
        payload.description = Some(description.to_owned());
        fold(&mut tx, op.seq, &payload).await?;
    } else if let Some(op) = pending_op(&mut tx, id.0, EditKind::Describe).await? {
        let mut payload = op.payload();
        payload.description = Some(description.to_owned());
        fold(&mut tx, op.seq, &payload).await?;
    } else {
        let payload = Payload {
            description: Some(description.to_owned()),
            ..Payload::default()
        };
        append(
            &mut tx,
            NewOp {
                kind: EditKind::Describe,
                product_id: row.product_id,
                image: Some(id.0),
                payload: &payload,
                base_modified: row.date_modified.as_deref(),
                base_value: Some(&row.description),
                idempotency_key: None,
            },
        )
        .await?;
    }
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
    let applied = Applied {
        products: vec![row.product_id],
        unused_blobs: Vec::new(),
        image: Some(id),
    };
    if row.is_thumbnail {
        return Ok(applied);
    }
    let queued: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM outbox WHERE product_id = ? AND kind = 'thumbnail'
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(row.product_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(seq) = queued {
        sqlx::query(
            "UPDATE outbox SET image_id = ?, revision = revision + 1, state = 'pending',
                last_error = NULL
             WHERE seq = ?",
        )
        .bind(id.0)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
    } else {
        let current: Option<i64> = sqlx::query_scalar(
            "SELECT local_id FROM images WHERE product_id = ? AND is_thumbnail = 1 AND hidden = 0",
        )
        .bind(row.product_id)
        .fetch_optional(&mut *tx)
        .await?;
        let base = current.map(|c| ImageId(c).to_string()).unwrap_or_default();
        append(
            &mut tx,
            NewOp {
                kind: EditKind::SetThumbnail,
                product_id: row.product_id,
                image: Some(id.0),
                payload: &Payload::default(),
                base_modified: None,
                base_value: Some(&base),
                idempotency_key: None,
            },
        )
        .await?;
    }
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
    let rows = replica::product_rows(&mut tx, product_id).await?;
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
    let applied = Applied {
        products: vec![product_id],
        ..Applied::default()
    };
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
    // One queued reorder serves every later move, as long as no create was queued after it:
    // the image that create adds has no store id when that reorder is sent.
    let absorbing: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM outbox WHERE product_id = ?1 AND kind = 'reorder' AND state = 'pending'
            AND seq > COALESCE((SELECT MAX(seq) FROM outbox
                                WHERE product_id = ?1 AND kind = 'create'), 0)
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(product_id)
    .fetch_optional(&mut *tx)
    .await?;
    match absorbing {
        Some(seq) => {
            sqlx::query("UPDATE outbox SET revision = revision + 1 WHERE seq = ?")
                .bind(seq)
                .execute(&mut *tx)
                .await?;
        }
        None => {
            append(
                &mut tx,
                NewOp::bare(EditKind::Reorder, product_id, None, &Payload::default()),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(applied)
}

pub(crate) async fn replace(
    replica: &Replica,
    id: ImageId,
    picture: NewPicture,
) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let row = visible_row(&mut tx, id).await?;
    let mut applied = Applied {
        products: vec![row.product_id],
        unused_blobs: Vec::new(),
        image: Some(id),
    };
    let (image_file, local_file) = match &picture.source {
        Source::File { blob, file_name } => (
            file_name.clone(),
            Some(replica.blob_path(blob).to_string_lossy().into_owned()),
        ),
        Source::Url { url } => (url.clone(), None),
    };
    let create = pending_op(&mut tx, id.0, EditKind::Create).await?;
    let queued_replace = pending_op(&mut tx, id.0, EditKind::Replace).await?;
    if let Some(op) = unsent_create(&create) {
        let mut payload = op.payload();
        applied.unused_blobs.extend(blob_of(&payload.source));
        payload.source = Some(picture.source);
        fold(&mut tx, op.seq, &payload).await?;
    } else if let Some(op) = queued_replace.filter(|op| op.attempts == 0) {
        let mut payload = op.payload();
        applied.unused_blobs.extend(blob_of(&payload.source));
        payload.source = Some(picture.source);
        fold(&mut tx, op.seq, &payload).await?;
    } else {
        let key = matches!(picture.source, Source::File { .. })
            .then(|| format!("imagedesk-{}", random_hex()));
        let payload = Payload {
            source: Some(picture.source),
            ..Payload::default()
        };
        append(
            &mut tx,
            NewOp {
                kind: EditKind::Replace,
                product_id: row.product_id,
                image: Some(id.0),
                payload: &payload,
                base_modified: row.date_modified.as_deref(),
                base_value: Some(&row.image_file),
                idempotency_key: key,
            },
        )
        .await?;
    }
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
    for &id in ids {
        let row = visible_row(&mut tx, id).await?;
        if !applied.products.contains(&row.product_id) {
            applied.products.push(row.product_id);
        }
        let create = pending_op(&mut tx, id.0, EditKind::Create).await?;
        if unsent_create(&create).is_some() {
            // The store never saw this image: forget it and everything queued for it.
            forget_image(&mut tx, id.0, &mut applied).await?;
        } else {
            drop_unsent_edits(&mut tx, Some(id.0), row.product_id, &mut applied).await?;
            sqlx::query("UPDATE images SET hidden = 1, is_thumbnail = 0 WHERE local_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            append(
                &mut tx,
                NewOp::bare(
                    EditKind::Delete,
                    row.product_id,
                    Some(id.0),
                    &Payload::default(),
                ),
            )
            .await?;
        }
        if row.is_thumbnail {
            promote_first_thumbnail(&mut tx, row.product_id).await?;
        }
    }
    tx.commit().await?;
    Ok(applied)
}

pub(crate) async fn delete_all(replica: &Replica, product_id: i64) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let mut applied = Applied {
        products: vec![product_id],
        ..Applied::default()
    };
    for row in replica::product_rows(&mut tx, product_id).await? {
        let create = pending_op(&mut tx, row.local_id, EditKind::Create).await?;
        if unsent_create(&create).is_some() {
            forget_image(&mut tx, row.local_id, &mut applied).await?;
        }
    }
    drop_unsent_edits(&mut tx, None, product_id, &mut applied).await?;
    sqlx::query("UPDATE images SET hidden = 1, is_thumbnail = 0 WHERE product_id = ?")
        .bind(product_id)
        .execute(&mut *tx)
        .await?;
    append(
        &mut tx,
        NewOp::bare(EditKind::DeleteAll, product_id, None, &Payload::default()),
    )
    .await?;
    tx.commit().await?;
    Ok(applied)
}

/// Removes an image row and every queued edit for it.
pub(crate) async fn forget_image(
    conn: &mut SqliteConnection,
    local_id: i64,
    applied: &mut Applied,
) -> Result<usize, SyncError> {
    let ops: Vec<OpRow> = sqlx::query_as("SELECT * FROM outbox WHERE image_id = ?")
        .bind(local_id)
        .fetch_all(&mut *conn)
        .await?;
    for op in &ops {
        applied.unused_blobs.extend(blob_of(&op.payload().source));
    }
    sqlx::query("DELETE FROM outbox WHERE image_id = ?")
        .bind(local_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM images WHERE local_id = ?")
        .bind(local_id)
        .execute(&mut *conn)
        .await?;
    Ok(ops.len())
}

/// Drops queued field edits made moot by a delete: of one image, or (with `image == None`) of
/// the whole product including its reorders. A replace whose first half may have reached the
/// store stays, so that its new record is cleaned up.
async fn drop_unsent_edits(
    conn: &mut SqliteConnection,
    image: Option<i64>,
    product_id: i64,
    applied: &mut Applied,
) -> Result<(), SyncError> {
    let ops: Vec<OpRow> = sqlx::query_as(
        "SELECT * FROM outbox WHERE product_id = ?1
            AND (?2 IS NULL OR image_id = ?2)
            AND (kind IN ('describe', 'thumbnail')
                 OR (kind = 'replace' AND attempts = 0)
                 OR (kind = 'reorder' AND ?2 IS NULL))",
    )
    .bind(product_id)
    .bind(image)
    .fetch_all(&mut *conn)
    .await?;
    for op in ops {
        applied.unused_blobs.extend(blob_of(&op.payload().source));
        sqlx::query("DELETE FROM outbox WHERE seq = ?")
            .bind(op.seq)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Mirrors the store's rule locally: when the thumbnail goes, the first other image takes it.
async fn promote_first_thumbnail(
    conn: &mut SqliteConnection,
    product_id: i64,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE images SET is_thumbnail = 1 WHERE local_id = (
            SELECT local_id FROM images WHERE product_id = ? AND hidden = 0
            ORDER BY position, local_id LIMIT 1)",
    )
    .bind(product_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn retry(replica: &Replica, seq: i64) -> Result<Applied, SyncError> {
    let op: Option<OpRow> = sqlx::query_as("SELECT * FROM outbox WHERE seq = ?")
        .bind(seq)
        .fetch_optional(&replica.writer)
        .await?;
    let op = op.ok_or(SyncError::UnknownEdit(seq))?;
    sqlx::query("UPDATE outbox SET state = 'pending', last_error = NULL WHERE seq = ?")
        .bind(seq)
        .execute(&replica.writer)
        .await?;
    Ok(Applied {
        products: vec![op.product_id],
        unused_blobs: Vec::new(),
        image: op.image_id.map(ImageId),
    })
}

/// Drops a queued edit and undoes its local effect where the next pull cannot: a discarded
/// create removes its image, a discarded delete shows the image again.
pub(crate) async fn discard(replica: &Replica, seq: i64) -> Result<Applied, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let op: Option<OpRow> = sqlx::query_as("SELECT * FROM outbox WHERE seq = ?")
        .bind(seq)
        .fetch_optional(&mut *tx)
        .await?;
    let op = op.ok_or(SyncError::UnknownEdit(seq))?;
    let mut applied = Applied {
        products: vec![op.product_id],
        unused_blobs: blob_of(&op.payload().source).into_iter().collect(),
        image: op.image_id.map(ImageId),
    };
    match (op.kind(), op.image_id) {
        (Some(EditKind::Create), Some(image)) => {
            forget_image(&mut tx, image, &mut applied).await?;
        }
        (Some(EditKind::Delete), Some(image)) => {
            sqlx::query("UPDATE images SET hidden = 0 WHERE local_id = ?")
                .bind(image)
                .execute(&mut *tx)
                .await?;
        }
        (Some(EditKind::DeleteAll), _) => {
            sqlx::query(
                "UPDATE images SET hidden = 0 WHERE product_id = ? AND local_id NOT IN (
                    SELECT image_id FROM outbox WHERE kind = 'delete' AND image_id IS NOT NULL)",
            )
            .bind(op.product_id)
            .execute(&mut *tx)
            .await?;
        }
        _ => {}
    }
    sqlx::query("DELETE FROM outbox WHERE seq = ?")
        .bind(seq)
        .execute(&mut *tx)
        .await?;
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
