//! Image files on disk. Every file is written with `durable::write_with`, its temporary copy
//! under `tmp/` (so that whatever a crash leaves half-written is in one folder, emptied at the
//! next start), then fsynced and renamed into place: a crash leaves either the whole file or
//! nothing at its final name, and the rename itself survives a power cut. Files are written
//! before the record that names them is committed and removed after the record is deleted; a
//! crash between the two leaves an orphan, which `remove_orphans` deletes at the next start.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

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

#[derive(Debug, Clone)]
pub struct FileStore {
    images: PathBuf,
    tmp: PathBuf,
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

    /// Writes the original and its variants (in `Variant::ALL` order). All or nothing: on
    /// failure the files already in place are removed again.
    pub fn write_set(
        &self,
        image_file: &str,
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
            match self.write_one(copy, image_file, bytes, &options) {
                Ok(path) => written.push(path),
                Err(err) => {
                    for path in written {
                        let _ = std::fs::remove_file(path);
                    }
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    fn write_one(
        &self,
        copy: Copy,
        image_file: &str,
        bytes: &[u8],
        options: &durable::Options,
    ) -> std::io::Result<PathBuf> {
        let target = self.path_of(copy, image_file).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "unsafe image path")
        })?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        durable::write_with(&target, bytes, options)?;
        Ok(target)
    }

    /// Removes every copy of an image; missing files are fine (already gone).
    pub fn remove_set(&self, image_file: &str) {
        for copy in Copy::all() {
            if let Some(path) = self.path_of(copy, image_file) {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
                }
            }
        }
    }

    /// Deletes files that no record names and every half-written file in `tmp/`. Returns how
    /// many files were removed.
    pub fn remove_orphans(&self, known: &HashSet<String>) -> std::io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.tmp)? {
            std::fs::remove_file(entry?.path())?;
            removed += 1;
        }
        for copy in Copy::all() {
            let root = self.images.join(copy.dir_name());
            if root.exists() {
                removed += remove_unknown_files(&root, &root, known)?;
            }
        }
        Ok(removed)
    }
}

fn remove_unknown_files(
    root: &Path,
    dir: &Path,
    known: &HashSet<String>,
) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            removed += remove_unknown_files(root, &path, known)?;
            continue;
        }
        let relative = path
            .strip_prefix(root)
            .ok()
            .and_then(|p| p.to_str())
            .map(|p| p.replace(std::path::MAIN_SEPARATOR, "/"));
        if relative.is_none_or(|r| !known.contains(&r)) {
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
        let removed = store.remove_orphans(&known).unwrap();
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
}
