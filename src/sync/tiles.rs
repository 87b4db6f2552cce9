//! The disk cache of tile-size picture bytes: fetched once from the store's thumbnail URL,
//! then served from disk, the least recently used evicted first when the cache passes its cap.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::SyncError;
use super::clock::now_ms;
use super::model::{ImageId, LocalImage};
use super::worker::Shared;
use crate::durable;

/// A picture bigger than this is no tile; refuse it rather than fill the cache.
const MAX_TILE_BYTES: usize = 8 * 1024 * 1024;
/// The store keeps no picture over 8 MiB; a zoom variant is well under it.
const MAX_PREVIEW_BYTES: usize = 16 * 1024 * 1024;

fn tile_dir(shared: &Shared) -> PathBuf {
    shared.config.dir.join("tiles")
}

fn tile_path(dir: &Path, id: i64) -> PathBuf {
    dir.join(format!("{id}.bin"))
}

/// The bytes to draw an image's tile from: the engine's own copy while an upload is pending,
/// else the store's smallest picture that still fills a grid tile, from the cache or fetched.
pub(crate) async fn tile(shared: &Shared, id: ImageId) -> Result<Option<Bytes>, SyncError> {
    let Some(image) = shared.replica.image(id).await? else {
        return Ok(None);
    };
    if let Some(bytes) = pending_upload(&image).await? {
        return Ok(Some(bytes));
    }
    let Some(url) = image
        .thumbnail_url
        .or(image.standard_url)
        .or(image.zoom_url)
    else {
        return Ok(None);
    };
    let dir = tile_dir(shared);
    let cached: Option<(i64,)> = sqlx::query_as("SELECT id FROM tiles WHERE url = ?")
        .bind(&url)
        .fetch_optional(&shared.replica.writer)
        .await?;
    if let Some((tile_id,)) = cached {
        match tokio::fs::read(tile_path(&dir, tile_id)).await {
            Ok(bytes) => {
                sqlx::query("UPDATE tiles SET last_used = ? WHERE id = ?")
                    .bind(now_ms())
                    .bind(tile_id)
                    .execute(&shared.replica.writer)
                    .await?;
                return Ok(Some(Bytes::from(bytes)));
            }
            Err(_) => {
                // The file went away (cleaned by the user?): fetch it again.
                sqlx::query("DELETE FROM tiles WHERE id = ?")
                    .bind(tile_id)
                    .execute(&shared.replica.writer)
                    .await?;
            }
        }
    }
    let bytes = shared.client.fetch_asset(&url, MAX_TILE_BYTES).await?;
    store(shared, &dir, &url, &bytes).await?;
    Ok(Some(bytes))
}

/// The bytes of an image's largest picture: the local copy of a pending upload, else the
/// store's zoom (or next largest) variant, fetched each time.
pub(crate) async fn preview(shared: &Shared, id: ImageId) -> Result<Option<Bytes>, SyncError> {
    let Some(image) = shared.replica.image(id).await? else {
        return Ok(None);
    };
    if let Some(bytes) = pending_upload(&image).await? {
        return Ok(Some(bytes));
    }
    let Some(url) = image
        .zoom_url
        .or(image.standard_url)
        .or(image.thumbnail_url)
    else {
        return Ok(None);
    };
    Ok(Some(
        shared.client.fetch_asset(&url, MAX_PREVIEW_BYTES).await?,
    ))
}

/// The engine's own copy of a picture whose upload has not been sent yet.
async fn pending_upload(image: &LocalImage) -> Result<Option<Bytes>, SyncError> {
    let Some(path) = &image.local_file else {
        return Ok(None);
    };
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| SyncError::io(path, e))?;
    Ok(Some(Bytes::from(bytes)))
}

async fn store(shared: &Shared, dir: &Path, url: &str, bytes: &Bytes) -> Result<(), SyncError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| SyncError::io(dir, e))?;
    let mut tx = shared.replica.writer.begin().await?;
    let tile_id: i64 = sqlx::query_scalar(
        "INSERT INTO tiles (url, bytes, last_used) VALUES (?, ?, ?)
         ON CONFLICT (url) DO UPDATE SET bytes = excluded.bytes, last_used = excluded.last_used
         RETURNING id",
    )
    .bind(url)
    .bind(bytes.len() as i64)
    .bind(now_ms())
    .fetch_one(&mut *tx)
    .await?;
    // The row commits after the file is in place, so a row never names a half-written file.
    let target = tile_path(dir, tile_id);
    let (path, contents) = (target.clone(), bytes.clone());
    tokio::task::spawn_blocking(move || durable::write(&path, &contents))
        .await
        .map_err(|e| SyncError::io(&target, std::io::Error::other(e)))?
        .map_err(|e| SyncError::io(&target, e))?;
    let mut evicted = Vec::new();
    loop {
        let total: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0) FROM tiles")
            .fetch_one(&mut *tx)
            .await?;
        if u64::try_from(total).unwrap_or(0) <= shared.config.tile_cache_bytes {
            break;
        }
        let oldest: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM tiles WHERE id != ? ORDER BY last_used, id LIMIT 1")
                .bind(tile_id)
                .fetch_optional(&mut *tx)
                .await?;
        let Some((old,)) = oldest else { break };
        sqlx::query("DELETE FROM tiles WHERE id = ?")
            .bind(old)
            .execute(&mut *tx)
            .await?;
        evicted.push(old);
    }
    tx.commit().await?;
    for old in evicted {
        let _ = tokio::fs::remove_file(tile_path(dir, old)).await;
    }
    Ok(())
}

/// Bytes the cache holds on disk (what its rows say).
pub(crate) async fn cached_bytes(shared: &Shared) -> Result<u64, SyncError> {
    let total: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(bytes), 0) FROM tiles")
        .fetch_one(&shared.replica.reader)
        .await?;
    Ok(u64::try_from(total).unwrap_or(0))
}
