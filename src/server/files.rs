//! Image files on disk. Every file is written with `durable::write_with`, its temporary copy
//! under `tmp/` (so that whatever a crash leaves half-written is in one folder, emptied at the
//! next start), then fsynced and renamed into place: a crash leaves either the whole file or
//! nothing at its final name, and the rename itself survives a power cut. Files are written
//! before the record that names them is committed and removed after the record is deleted; a
//! crash between the two leaves an orphan, which `remove_orphans` deletes at the next start.
//!
//! Two layouts live side by side. Pictures are stored by content: the five files of one
//! distinct original under `images/content/{copy}/{hash[0..2]}/{hash}.{ext}`, shared by every
//! image whose original has those bytes (the `pictures` table says which hashes are in use;
//! `pictures.rs` says when files may be written and removed). Images written before that
//! layout keep their files at `images/{copy}/{image_file}` (the legacy layout), served and
//! removed as before.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::durable;
use crate::imaging::{EncodedImage, Variant};

/// Which stored copy of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Copy {
    Original,
    Variant(Variant),
}

impl Copy {
    fn dir_name(self) -> &'static str {
        match self {
            Copy::Original => "original",
            Copy::Variant(v) => v.as_str(),
        }
    }

    fn all() -> impl Iterator<Item = Copy> {
        std::iter::once(Copy::Original).chain(Variant::ALL.into_iter().map(Copy::Variant))
    }
}

/// The folder of content-addressed files, under `images/`.
const CONTENT_DIR: &str = "content";

#[derive(Debug, Clone)]
pub struct FileStore {
    images: PathBuf,
    tmp: PathBuf,
}

/// A content address is lower-case hex (a SHA-256) and an extension of letters and digits;
/// anything else could step outside the store, so it names no path.
fn safe_content_name(hash: &str, extension: &str) -> bool {
    hash.len() >= 8
        && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && !extension.is_empty()
        && extension.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl FileStore {
    pub fn open(data_dir: &Path) -> std::io::Result<FileStore> {
        let store = FileStore {
            images: data_dir.join("images"),
            tmp: data_dir.join("tmp"),
        };
        std::fs::create_dir_all(&store.images)?;
        std::fs::create_dir_all(&store.tmp)?;
        Ok(store)
    }

    /// The path of a stored copy, or `None` if `image_file` is not a safe relative path.
    pub fn path_of(&self, copy: Copy, image_file: &str) -> Option<PathBuf> {
        let relative = Path::new(image_file);
        let safe = !image_file.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        safe.then(|| self.images.join(copy.dir_name()).join(relative))
    }

    /// The path of a stored copy of a picture stored by content, or `None` if the address is
    /// not one this store makes.
    pub fn content_path(&self, copy: Copy, hash: &str, extension: &str) -> Option<PathBuf> {
        safe_content_name(hash, extension).then(|| {
            self.images
                .join(CONTENT_DIR)
                .join(copy.dir_name())
                .join(&hash[..2])
                .join(format!("{hash}.{extension}"))
        })
    }

    /// Whether every copy of a picture stored by content is on disk.
    pub fn has_content(&self, hash: &str, extension: &str) -> bool {
        Copy::all().all(|copy| {
            self.content_path(copy, hash, extension)
                .is_some_and(|p| p.is_file())
        })
    }

    /// Writes a picture's original and its variants (in `Variant::ALL` order) at its content
    /// address. All or nothing: on failure the files already in place are removed again.
    /// Writing a picture that is already there replaces each file atomically by the same
    /// bytes, so a reader never sees a partial file.
    pub fn write_content(
        &self,
        hash: &str,
        extension: &str,
        original: &[u8],
        variants: &[EncodedImage],
    ) -> std::io::Result<()> {
        let path = |copy| {
            self.content_path(copy, hash, extension).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "unsafe content address")
            })
        };
        self.write_copies(path, original, variants)
    }

    /// Writes the original and its variants in the legacy layout, as stores before content
    /// addressing did (tests build such a data directory with it).
    #[cfg(test)]
    pub fn write_set(
        &self,
        image_file: &str,
        original: &[u8],
        variants: &[EncodedImage],
    ) -> std::io::Result<()> {
        let path = |copy| {
            self.path_of(copy, image_file).ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "unsafe image path")
            })
        };
        self.write_copies(path, original, variants)
    }

    fn write_copies(
        &self,
        path: impl Fn(Copy) -> std::io::Result<PathBuf>,
        original: &[u8],
        variants: &[EncodedImage],
    ) -> std::io::Result<()> {
        let options = durable::Options {
            temp_dir: Some(self.tmp.clone()),
            ..durable::Options::default()
        };
        let mut written = Vec::with_capacity(1 + variants.len());
        let copies = std::iter::once((Copy::Original, original)).chain(
            Variant::ALL
                .into_iter()
                .zip(variants)
                .map(|(v, e)| (Copy::Variant(v), e.bytes.as_slice())),
        );
        for (copy, bytes) in copies {
            let result = path(copy).and_then(|target| {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                durable::write_with(&target, bytes, &options)?;
                Ok(target)
            });
            match result {
                Ok(target) => written.push(target),
                Err(err) => {
                    for target in written {
                        let _ = std::fs::remove_file(target);
                    }
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    /// Removes every copy of an image in the legacy layout; missing files are fine (already
    /// gone).
    pub fn remove_set(&self, image_file: &str) {
        Copy::all()
            .filter_map(|copy| self.path_of(copy, image_file))
            .for_each(|path| remove_quietly(&path));
    }

    /// Removes every copy of a picture stored by content. The caller has made sure that no
    /// record uses it (see `pictures.rs`).
    pub fn remove_content(&self, hash: &str, extension: &str) {
        Copy::all()
            .filter_map(|copy| self.content_path(copy, hash, extension))
            .for_each(|path| remove_quietly(&path));
    }

    /// Whether any file is stored in the legacy layout: a store made since content
    /// addressing has none, and its start-up need not list every record's name.
    pub fn has_legacy_files(&self) -> bool {
        Copy::all().any(|copy| {
            std::fs::read_dir(self.images.join(copy.dir_name()))
                .is_ok_and(|mut entries| entries.next().is_some())
        })
    }

    /// Deletes files that no record names and every half-written file in `tmp/`: legacy files
    /// whose `image_file` is not in `legacy`, content files whose hash is not in `hashes`.
    /// With `min_age`, only files last written longer ago than that are removed: another node
    /// sharing the records may be writing the others (`storage::Files::orphan_min_age`).
    /// Returns how many files were removed.
    pub fn remove_orphans(
        &self,
        legacy: &HashSet<String>,
        hashes: &HashSet<String>,
        min_age: Option<Duration>,
    ) -> std::io::Result<usize> {
        let old_enough = |path: &Path| -> std::io::Result<bool> {
            let Some(min_age) = min_age else {
                return Ok(true);
            };
            let modified = std::fs::metadata(path)?.modified()?;
            // A modification time in the future (a clock step) counts as new.
            Ok(modified.elapsed().is_ok_and(|age| age >= min_age))
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            let path = entry?.path();
            if old_enough(&path)? {
                std::fs::remove_file(path)?;
                removed += 1;
            }
        }
        for copy in Copy::all() {
            let root = self.images.join(copy.dir_name());
            if root.exists() {
                removed += remove_unknown_files(
                    &root,
                    &root,
                    &|relative| legacy.contains(relative),
                    &old_enough,
                )?;
            }
            let root = self.images.join(CONTENT_DIR).join(copy.dir_name());
            if root.exists() {
                // `{hash[0..2]}/{hash}.{ext}`: the hash is the file name's stem.
                removed += remove_unknown_files(
                    &root,
                    &root,
                    &|relative| {
                        let name = relative.rsplit('/').next().unwrap_or_default();
                        name.split_once('.')
                            .is_some_and(|(stem, _)| hashes.contains(stem))
                    },
                    &old_enough,
                )?;
            }
        }
        Ok(removed)
    }
}

fn remove_quietly(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
    }
}

fn remove_unknown_files(
    root: &Path,
    dir: &Path,
    known: &dyn Fn(&str) -> bool,
    old_enough: &dyn Fn(&Path) -> std::io::Result<bool>,
) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            removed += remove_unknown_files(root, &path, known, old_enough)?;
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace(std::path::MAIN_SEPARATOR, "/"));
        if relative.is_none_or(|r| !known(&r)) && old_enough(&path)? {
            std::fs::remove_file(&path)?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::ImageFormat;

    fn encoded(bytes: &[u8]) -> EncodedImage {
        EncodedImage {
            format: ImageFormat::Jpeg,
            width: 1,
            height: 1,
            bytes: bytes.to_vec(),
        }
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn a_written_set_is_in_place_and_tmp_is_left_empty() {
        let data = tempfile::tempdir().unwrap();
        let store = FileStore::open(data.path()).unwrap();
        let variants: Vec<EncodedImage> = Variant::ALL.iter().map(|_| encoded(b"v")).collect();
        store
            .write_set("a/001/x__00001.jpg", b"original", &variants)
            .unwrap();
        for copy in Copy::all() {
            let path = store.path_of(copy, "a/001/x__00001.jpg").unwrap();
            assert!(path.is_file(), "{}", path.display());
        }
        assert_eq!(files_in(&data.path().join("tmp")), 0);
    }

    #[test]
    fn orphans_and_half_written_files_are_removed_at_start() {
        let data = tempfile::tempdir().unwrap();
        let store = FileStore::open(data.path()).unwrap();
        let variants: Vec<EncodedImage> = Variant::ALL.iter().map(|_| encoded(b"v")).collect();
        store
            .write_set("a/001/kept__00001.jpg", b"k", &variants)
            .unwrap();
        store
            .write_set("b/002/orphan__00002.jpg", b"o", &variants)
            .unwrap();
        // What an interrupted durable write leaves: its temporary file in tmp/.
        std::fs::write(data.path().join("tmp").join(".imagedesk-0123.tmp"), b"half").unwrap();
        let known = HashSet::from(["a/001/kept__00001.jpg".to_owned()]);
        let removed = store.remove_orphans(&known, &HashSet::new(), None).unwrap();
        assert_eq!(removed, 1 + Copy::all().count());
        assert_eq!(files_in(&data.path().join("tmp")), 0);
        for copy in Copy::all() {
            assert!(
                store
                    .path_of(copy, "a/001/kept__00001.jpg")
                    .unwrap()
                    .is_file()
            );
            assert!(
                !store
                    .path_of(copy, "b/002/orphan__00002.jpg")
                    .unwrap()
                    .exists()
            );
        }
    }

    /// With records shared by other nodes, a start removes only unnamed files older than the
    /// orphan age: a newer one may be another node's upload whose record has not committed.
    #[test]
    fn shared_records_keep_unnamed_files_younger_than_the_orphan_age() {
        let data = tempfile::tempdir().unwrap();
        let store = FileStore::open(data.path()).unwrap();
        let variants: Vec<EncodedImage> = Variant::ALL.iter().map(|_| encoded(b"v")).collect();
        let unnamed = "cd".repeat(32);
        store
            .write_content(&unnamed, "jpg", b"o", &variants)
            .unwrap();
        std::fs::write(data.path().join("tmp").join(".imagedesk-1.tmp"), b"half").unwrap();
        let hour = Some(Duration::from_secs(3600));
        let removed = store
            .remove_orphans(&HashSet::new(), &HashSet::new(), hour)
            .unwrap();
        assert_eq!(removed, 0);
        assert!(store.has_content(&unnamed, "jpg"));
        assert_eq!(files_in(&data.path().join("tmp")), 1);
        // Once they are old enough (here: any age), they go.
        let removed = store
            .remove_orphans(&HashSet::new(), &HashSet::new(), Some(Duration::ZERO))
            .unwrap();
        assert_eq!(removed, 1 + Copy::all().count());
        assert!(!store.has_content(&unnamed, "jpg"));
    }

    #[test]
    fn content_files_are_kept_only_for_known_hashes() {
        let data = tempfile::tempdir().unwrap();
        let store = FileStore::open(data.path()).unwrap();
        let variants: Vec<EncodedImage> = Variant::ALL.iter().map(|_| encoded(b"v")).collect();
        let (kept, orphan) = ("ab".repeat(32), "cd".repeat(32));
        store.write_content(&kept, "jpg", b"k", &variants).unwrap();
        store
            .write_content(&orphan, "jpg", b"o", &variants)
            .unwrap();
        assert!(store.has_content(&kept, "jpg") && store.has_content(&orphan, "jpg"));
        assert!(!store.has_legacy_files());
        let removed = store
            .remove_orphans(&HashSet::new(), &HashSet::from([kept.clone()]), None)
            .unwrap();
        assert_eq!(removed, Copy::all().count());
        assert!(store.has_content(&kept, "jpg"));
        assert!(!store.has_content(&orphan, "jpg"));
        store.remove_content(&kept, "jpg");
        assert!(Copy::all().all(|c| !store.content_path(c, &kept, "jpg").unwrap().exists()));
    }

    #[test]
    fn content_addresses_cannot_leave_the_store() {
        let data = tempfile::tempdir().unwrap();
        let store = FileStore::open(data.path()).unwrap();
        assert!(
            store
                .content_path(Copy::Original, "../../etc", "jpg")
                .is_none()
        );
        assert!(
            store
                .content_path(Copy::Original, &"ab".repeat(32), "j/g")
                .is_none()
        );
    }
}
