//! When the files of a picture stored by content may be written and removed.
//!
//! Several images may share one picture (the same original bytes), so a picture's files
//! outlive any one image, and two requests may race over them: an upload of bytes whose last
//! image is being deleted must not find its files removed after its record commits. The rule:
//!
//! - a `pictures` row exists only while an image points to it, and its files exist while it
//!   does (they are written before the row commits and removed only after it is gone);
//! - an upload holds its hash's lock from deciding that the files are there (or writing them)
//!   until its record has committed (or it has cleaned up after a failure);
//! - a write that deleted a picture's row takes the same lock after committing, looks again,
//!   and removes the files only if no row came back meanwhile.
//!
//! So whichever commits first, the files are removed only when no committed row names them.
//! Pictures in a bucket (`--storage`) are not stored by content: each image has its own
//! objects (`bucket.rs`), written before its record commits and removed after it is deleted,
//! as in the legacy layout ([`Released::Legacy`], [`remove_own_files`]).
//!
//! Locks are striped by hash (a fixed number of mutexes), so memory does not grow with the
//! number of pictures; two hashes that share a stripe only wait for one another.

use sha2::{Digest as _, Sha256};

use super::files::FileStore;
use super::repo::{self, Released};
use super::state::AppState;
use super::storage::Files;

/// The content address of an original: SHA-256 of its bytes, lower-case hex.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// Removes the files a committed write stopped using: a legacy image's own files at once, a
/// shared picture's only if no record uses it any more (looked up again under its lock).
pub async fn release(state: &AppState, released: Released) {
    match released {
        // Failures are logged inside; a leftover file is removed at the next start.
        Released::Legacy(image_file) => remove_own_files(state, image_file).await,
        Released::Picture { hash, extension } => {
            let _guard = state.picture_locks.lock(&hash).await;
            remove_if_unused(state, &hash, &extension).await;
        }
    }
}

/// Removes a picture's files if no row names its hash. The caller holds the hash's lock.
pub async fn remove_if_unused(state: &AppState, hash: &str, extension: &str) {
    let still_used = match state.records.read().await {
        Ok(mut conn) => repo::picture_by_hash(&mut conn, hash)
            .await
            .map(|p| p.is_some()),
        Err(e) => Err(e),
    };
    match still_used {
        Ok(true) => {}
        Ok(false) => match state.files.local() {
            Some(files) => remove_content(files.clone(), hash, extension).await,
            // A bucket holds no pictures stored by content (its images have no picture row).
            None => tracing::warn!("picture {hash} has no files to remove in a bucket"),
        },
        // Keeping files is safe: an unreferenced one is removed at the next start.
        Err(e) => tracing::warn!("could not check whether picture {hash} is still used: {e}"),
    }
}

/// Removes the files of one image that has its own (the legacy layout on disk, every image in a
/// bucket).
pub async fn remove_own_files(state: &AppState, image_file: String) {
    match &state.files {
        Files::Local(files) => {
            let files = files.clone();
            let _ = tokio::task::spawn_blocking(move || files.remove_set(&image_file)).await;
        }
        Files::Bucket(bucket) => bucket.remove_set(&image_file).await,
    }
}

/// Removes an image's own files unless a committed record names them: the clean-up of an
/// upload whose record did not commit (its name was checked free when it was chosen, and is
/// looked up again here in case another record took it meanwhile).
pub async fn remove_own_files_if_unnamed(state: &AppState, image_file: String) {
    let named = match state.records.read().await {
        Ok(mut conn) => repo::image_file_taken(&mut conn, &image_file).await,
        Err(e) => Err(e),
    };
    match named {
        Ok(false) => remove_own_files(state, image_file).await,
        Ok(true) => {}
        // Keeping files is safe: an unreferenced one is removed by a later start.
        Err(e) => tracing::warn!("could not check whether {image_file} is named: {e}"),
    }
}

async fn remove_content(files: FileStore, hash: &str, extension: &str) {
    let (hash, extension) = (hash.to_owned(), extension.to_owned());
    let _ = tokio::task::spawn_blocking(move || files.remove_content(&hash, &extension)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_is_sha256_hex() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
