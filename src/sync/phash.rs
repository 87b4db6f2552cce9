//! Perceptual hashes of images' pictures, for finding the same picture twice in a product
//! (issue 16). A hash is computed once per picture, from the tile the engine caches anyway (or
//! the local copy of a picture not uploaded yet), and kept in the replica's `perceptual_hashes`
//! table with the name of the picture it was computed from: a replaced picture has a new name,
//! so its stale hash is computed again.

use std::collections::HashMap;

use futures_util::StreamExt;
use futures_util::stream;

use super::SyncError;
use super::model::ImageId;
use super::shared::Shared;
use super::store_hashes::picture_key;
use super::tiles;
use crate::imaging::{self, PerceptualHash};

/// Ids read from the replica per query (SQLite allows 32,766 parameters; a few hundred keep
/// each statement small).
const IDS_PER_QUERY: usize = 500;

/// What an image's hash was computed from, and the hash stored for it, if any.
struct Known {
    id: ImageId,
    picture: String,
    stored: Option<(String, PerceptualHash)>,
}

impl Known {
    fn fresh(&self) -> Option<PerceptualHash> {
        self.stored
            .as_ref()
            .filter(|(picture, _)| *picture == self.picture)
            .map(|(_, hash)| *hash)
    }
}

/// The hashes of `ids` (visible images only): stored ones as they are, missing or stale ones
/// computed from the image's tile, at most `tiles::MAX_PARALLEL_DOWNLOADS` at a time, decoded
/// and hashed on blocking threads. An image whose picture cannot be fetched or decoded is
/// left out (and logged). `progress(done, total)` is called after each image.
pub(crate) async fn perceptual_hashes(
    shared: &Shared,
    ids: &[ImageId],
    progress: impl Fn(usize, usize) + Send + Sync,
) -> Result<HashMap<ImageId, PerceptualHash>, SyncError> {
    let known = known(shared, ids).await?;
    let total = known.len();
    let mut hashes = HashMap::with_capacity(total);
    let mut missing = Vec::new();
    for image in known {
        match image.fresh() {
            Some(hash) => {
                hashes.insert(image.id, hash);
            }
            None => missing.push(image),
        }
    }
    let mut done = hashes.len();
    progress(done, total);
    // Each image's hash is stored inside its own future: the writer pool has one connection,
    // which a tile being cached may hold across an await, so nothing may wait for it outside
    // the futures the stream keeps polling.
    let mut computed = stream::iter(missing)
        .map(|image| async move {
            let hash = match compute(shared, image.id).await {
                Ok(Some(hash)) => hash,
                Ok(None) => {
                    tracing::info!("image {} has no picture to hash yet", image.id);
                    return Ok(None);
                }
                Err(err) => {
                    tracing::warn!("image {}: no perceptual hash: {err}", image.id);
                    return Ok(None);
                }
            };
            store(shared, image.id, &image.picture, hash).await?;
            Ok::<_, SyncError>(Some((image.id, hash)))
        })
        .buffer_unordered(tiles::MAX_PARALLEL_DOWNLOADS);
    while let Some(outcome) = computed.next().await {
        done += 1;
        if let Some((id, hash)) = outcome? {
            hashes.insert(id, hash);
        }
        progress(done, total);
    }
    Ok(hashes)
}

/// Why one image's hash could not be made (the image is left out).
#[derive(Debug, thiserror::Error)]
enum HashFailure {
    #[error("the picture could not be fetched: {0}")]
    Fetch(#[from] SyncError),
    #[error("the picture could not be read: {0}")]
    Decode(#[from] imaging::ImagingError),
    #[error("hashing stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The hash of the image's tile; `None` when it has no picture yet.
async fn compute(shared: &Shared, id: ImageId) -> Result<Option<PerceptualHash>, HashFailure> {
    let Some(bytes) = tiles::tile(shared, id).await? else {
        return Ok(None);
    };
    let hash = tokio::task::spawn_blocking(move || imaging::perceptual_hash(&bytes)).await??;
    Ok(Some(hash))
}

/// The visible images among `ids` with what their hash is computed from and the stored hash.
async fn known(shared: &Shared, ids: &[ImageId]) -> Result<Vec<Known>, SyncError> {
    type Row = (
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let mut known = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let placeholders = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT i.local_id, i.image_file, i.local_file, i.thumbnail_url, h.picture, h.hash
             FROM images i LEFT JOIN perceptual_hashes h ON h.local_id = i.local_id
             WHERE i.hidden = 0 AND i.local_id IN ({placeholders})"
        );
        let mut query = sqlx::query_as::<_, Row>(&sql);
        for id in chunk {
            query = query.bind(id.0);
        }
        for (id, image_file, local_file, thumbnail_url, picture, hash) in
            query.fetch_all(&shared.replica.reader).await?
        {
            let Some(key) =
                picture_key(&image_file, local_file.as_deref(), thumbnail_url.as_deref())
            else {
                continue;
            };
            known.push(Known {
                id: ImageId(id),
                picture: key,
                stored: picture.zip(hash.map(PerceptualHash::from_i64)),
            });
        }
    }
    Ok(known)
}

/// Keeps a computed hash, unless the image went meanwhile.
async fn store(
    shared: &Shared,
    id: ImageId,
    picture: &str,
    hash: PerceptualHash,
) -> Result<(), SyncError> {
    sqlx::query(
        "INSERT INTO perceptual_hashes (local_id, picture, hash)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM images WHERE local_id = ?1)
         ON CONFLICT (local_id) DO UPDATE SET picture = excluded.picture, hash = excluded.hash",
    )
    .bind(id.0)
    .bind(picture)
    .bind(hash.to_i64())
    .execute(&shared.replica.writer)
    .await?;
    Ok(())
}

/// Pairs of images that show the same picture (re-encoded or resized), each pair once, in the
/// order given. Pass one product's images: the same picture in two products is no duplicate.
pub fn duplicate_pairs(hashes: &[(ImageId, PerceptualHash)]) -> Vec<(ImageId, ImageId)> {
    let mut pairs = Vec::new();
    for (i, (a, hash_a)) in hashes.iter().enumerate() {
        for (b, hash_b) in &hashes[i + 1..] {
            if hash_a.is_same_picture(hash_b) {
                pairs.push((*a, *b));
            }
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_the_close_hashes_each_once() {
        let hashes = [
            (ImageId(1), PerceptualHash(0)),
            (ImageId(2), PerceptualHash(u64::MAX)),
            (ImageId(3), PerceptualHash(0b1)),
            (ImageId(4), PerceptualHash(u64::MAX ^ 0b11)),
        ];
        assert_eq!(
            duplicate_pairs(&hashes),
            vec![(ImageId(1), ImageId(3)), (ImageId(2), ImageId(4))]
        );
        assert!(duplicate_pairs(&hashes[..2]).is_empty());
        assert!(duplicate_pairs(&[]).is_empty());
    }
}
