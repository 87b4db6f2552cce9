//! The replica's `perceptual_hashes` rows as the sync layer writes them when a store record
//! arrives: the hash the store sent (imagedesk's server computes it at upload), kept under the
//! key of the picture it was made from. Apart from `phash.rs` (which computes the missing
//! ones from tiles) so that the replica's writers can keep a store's hash without importing
//! the engine's shared state.

use super::SyncError;
use crate::imaging::PerceptualHash;

/// The picture an image shows now, as a key: the engine's own copy while its upload is
/// pending, else the store's public file name (new for every new picture), else its tile URL.
pub(super) fn picture_key(
    image_file: &str,
    local_file: Option<&str>,
    thumbnail_url: Option<&str>,
) -> Option<String> {
    if let Some(path) = local_file {
        return Some(format!("local:{path}"));
    }
    if !image_file.is_empty() {
        return Some(format!("file:{image_file}"));
    }
    thumbnail_url.map(|url| format!("url:{url}"))
}

/// Keeps the hash the store sent with an image's record (imagedesk's server computes it at
/// upload), under the key of the picture the row now shows, so that [`perceptual_hashes`]
/// neither downloads nor decodes anything for it. A record without one (a real BigCommerce
/// store) changes nothing: the hash is then computed from the tile when first asked for.
pub(crate) async fn keep_store_hash(
    conn: &mut sqlx::SqliteConnection,
    local_id: i64,
    image: &crate::api::Image,
) -> Result<(), SyncError> {
    let Some(hash) = image.perceptual_hash.as_deref().and_then(parse_store_hash) else {
        return Ok(());
    };
    let Some(picture) = picture_key(&image.image_file, None, None) else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO perceptual_hashes (local_id, picture, hash) VALUES (?, ?, ?)
         ON CONFLICT (local_id) DO UPDATE SET picture = excluded.picture, hash = excluded.hash",
    )
    .bind(local_id)
    .bind(picture)
    .bind(hash.to_i64())
    .execute(conn)
    .await?;
    Ok(())
}

/// The store's 16 hex digits as a hash.
fn parse_store_hash(text: &str) -> Option<PerceptualHash> {
    (text.len() == 16)
        .then(|| u64::from_str_radix(text, 16).ok())
        .flatten()
        .map(PerceptualHash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_hash_is_read_from_its_hex_digits() {
        assert_eq!(
            parse_store_hash("0123456789abcdef"),
            Some(PerceptualHash(0x0123_4567_89ab_cdef))
        );
        assert_eq!(
            parse_store_hash(&PerceptualHash(u64::MAX).to_string()),
            Some(PerceptualHash(u64::MAX))
        );
        assert_eq!(parse_store_hash("123"), None);
        assert_eq!(parse_store_hash("0123456789abcdeg"), None);
    }

    #[test]
    fn a_new_picture_is_a_new_key() {
        let before = picture_key("a.jpg", None, Some("http://x/t/a.jpg"));
        assert_eq!(before.as_deref(), Some("file:a.jpg"));
        assert_ne!(before, picture_key("b.jpg", None, None));
        assert_eq!(
            picture_key("", Some("/blobs/1"), None).as_deref(),
            Some("local:/blobs/1")
        );
        assert_eq!(picture_key("", None, None), None);
    }
}
