//! The disk cache of tile-size picture bytes: fetched once from the store's thumbnail URL,
//! then served from disk, the least recently used evicted first when the cache passes its cap.

use std::path::{Path, PathBuf};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::SyncError;
use super::clock::now_ms;
use super::model::{Connection, ImageId, LocalImage};
use super::shared::Shared;
use crate::api::ApiError;
use crate::durable;

/// A picture bigger than this is no tile; refuse it rather than fill the cache.
const MAX_TILE_BYTES: usize = 8 * 1024 * 1024;
/// The store keeps no picture over 8 MiB; a zoom variant is well under it.
const MAX_PREVIEW_BYTES: usize = 16 * 1024 * 1024;
/// Picture downloads one engine runs at once. A grid opening a large product asks for every
/// visible tile together; unbounded, that is one connection each, and a store (ours among
/// them) caps connections per client address. Six is what browsers allow per host.
pub(crate) const MAX_PARALLEL_DOWNLOADS: usize = 6;

pub(crate) fn tile_dir(shared: &Shared) -> PathBuf {
    shared.config.dir.join("tiles")
}

pub(crate) fn tile_path(dir: &Path, id: i64) -> PathBuf {
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
    let Some(url) = tile_url(&image) else {
        return Ok(None);
    };
    match cached_or_fetched(shared, &url).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) => match fresh_address(shared, &image, &url, &err, tile_url).await? {
            Some(fresh) => Ok(Some(cached_or_fetched(shared, &fresh).await?)),
            None => Err(err),
        },
    }
}

fn tile_url(image: &LocalImage) -> Option<String> {
    image
        .thumbnail_url
        .clone()
        .or_else(|| image.standard_url.clone())
        .or_else(|| image.zoom_url.clone())
}

fn preview_url(image: &LocalImage) -> Option<String> {
    image
        .zoom_url
        .clone()
        .or_else(|| image.standard_url.clone())
        .or_else(|| image.thumbnail_url.clone())
}

/// How often a failed picture may make its product be pulled again.
const ADDRESS_PULL_EVERY: Duration = Duration::from_secs(30);

/// After a picture could not be fetched (gone, or its host does not answer) while the store
/// may still answer: the picture may have moved (a store restarted on another port, a new
/// picture, pictures moved to a CDN). Pulls the image's product once and returns the address
/// the store gives now, if it differs; `None` when there is nothing new to try.
async fn fresh_address(
    shared: &Shared,
    image: &LocalImage,
    url: &str,
    err: &SyncError,
    pick: fn(&LocalImage) -> Option<String>,
) -> Result<Option<String>, SyncError> {
    let worth_a_look =
        matches!(err, SyncError::Api(e) if e.is_not_found() || matches!(e, ApiError::Network(_)));
    // Offline, the store cannot be asked; and a page of failed tiles must not set off a pull
    // each: a product is pulled again at most once per ADDRESS_PULL_EVERY, and the others
    // look at what the replica has now.
    if !worth_a_look || shared.status.borrow().connection == Connection::Offline {
        return Ok(None);
    }
    let pull_now = {
        let mut pulls = shared
            .address_pulls
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = pulls
            .get(&image.product_id)
            .is_none_or(|at| at.elapsed() >= ADDRESS_PULL_EVERY);
        if due {
            pulls.insert(image.product_id, Instant::now());
        }
        due
    };
    if pull_now && let Err(pull) = super::pull::pull_product(shared, image.product_id).await {
        tracing::debug!("picture {url} failed, and the store could not be asked again: {pull}");
        return Ok(None);
    }
    let Some(now) = shared.replica.image(image.id).await? else {
        return Ok(None);
    };
    Ok(pick(&now).filter(|fresh| fresh != url))
}

/// The tile at `url` from the disk cache, else fetched and cached.
async fn cached_or_fetched(shared: &Shared, url: &str) -> Result<Bytes, SyncError> {
    let dir = tile_dir(shared);
    let cached: Option<(i64,)> = sqlx::query_as("SELECT id FROM tiles WHERE url = ?")
        .bind(url)
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
                return Ok(Bytes::from(bytes));
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
    let bytes = download(shared, url, MAX_TILE_BYTES).await?;
    store(shared, &dir, url, &bytes).await?;
    Ok(bytes)
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
    let Some(url) = preview_url(&image) else {
        return Ok(None);
    };
    match download(shared, &url, MAX_PREVIEW_BYTES).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) => {
            let err = SyncError::from(err);
            match fresh_address(shared, &image, &url, &err, preview_url).await? {
                Some(fresh) => Ok(Some(download(shared, &fresh, MAX_PREVIEW_BYTES).await?)),
                None => Err(err),
            }
        }
    }
}

/// Fetches a picture once one of the engine's download slots is free.
async fn download(shared: &Shared, url: &str, max_bytes: usize) -> Result<Bytes, ApiError> {
    // The semaphore is never closed, so a failed acquire cannot happen; without a permit the
    // download would merely go unbounded.
    let _permit = shared.downloads.acquire().await.ok();
    shared.client.fetch_asset(url, max_bytes).await
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
