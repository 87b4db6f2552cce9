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
//! Locks are striped by hash (a fixed number of mutexes), so memory does not grow with the
//! number of pictures; two hashes that share a stripe only wait for one another.

use sha2::{Digest as _, Sha256};

use super::files::FileStore;
use super::repo::{self, Released};
use super::state::AppState;

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
        Released::Legacy(image_file) => {
            let files = state.files.clone();
            // Failures are logged inside; a leftover file is removed at the next start.
            let _ = tokio::task::spawn_blocking(move || files.remove_set(&image_file)).await;
        }
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
        Ok(false) => remove_content(state.files.clone(), hash, extension).await,
        // Keeping files is safe: an unreferenced one is removed at the next start.
        Err(e) => tracing::warn!("could not check whether picture {hash} is still used: {e}"),
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
