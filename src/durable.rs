//! The one way imagedesk writes a file that must never be seen half-written or lost once the
//! call returned: write a temporary file beside the target, fsync it, rename it over the
//! target, then fsync the directory so the rename itself survives a power cut.
//!
//! Every module that persists a file (the server's pictures, the engine's queued uploads and
//! tile cache, the app's tokens, exported CSV, the embedded store's connection file) goes
//! through [`write`] or [`write_with`], so each has the same crash behaviour.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use rand::Rng as _;

/// Who may read the written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// The process's umask decides (usually readable by everyone).
    #[default]
    Default,
    /// Only the owner may read or write it (mode 0600 on Unix): tokens, connection files.
    OwnerOnly,
}

/// How a durable write is done.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub access: Access,
    /// Where the temporary file goes; the target's directory when `None`. It must be on the
    /// same file system as the target, or the rename fails.
    pub temp_dir: Option<PathBuf>,
}

/// Writes `bytes` to `target` durably, readable as the umask says.
pub fn write(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(target, bytes, &Options::default())
}

/// Writes `bytes` to `target` durably, readable by its owner only.
pub fn write_private(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(
        target,
        bytes,
        &Options {
            access: Access::OwnerOnly,
            temp_dir: None,
        },
    )
}

/// Writes `bytes` to `target`: temporary file, fsync, rename, fsync of the target's directory.
/// On any error the temporary file is removed and the target is untouched.
pub fn write_with(target: &Path, bytes: &[u8], options: &Options) -> std::io::Result<()> {
    let dir = parent_dir(target);
    let temp_dir = options.temp_dir.as_deref().unwrap_or(dir);
    let tmp = temp_dir.join(format!(
        ".imagedesk-{:016x}.tmp",
        rand::rng().random::<u64>()
    ));
    let result = write_then_rename(&tmp, target, bytes, options.access);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}

fn write_then_rename(
    tmp: &Path,
    target: &Path,
    bytes: &[u8],
    access: Access,
) -> std::io::Result<()> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    if access == Access::OwnerOnly {
        use std::os::unix::fs::OpenOptionsExt as _;
        open.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = access;
    let mut file = open.open(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, target)
}

/// The directory a relative or absolute path lives in (`.` for a bare file name).
fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable. Not every platform can open a directory (Windows cannot):
/// there the rename is as durable as the file system makes it.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_target_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        write(&target, b"first").unwrap();
        write(&target, b"second").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target remains");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("token");
        write_private(&target, b"secret").unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_failed_write_leaves_the_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("kept.txt");
        write(&target, b"kept").unwrap();
        let missing = dir.path().join("no-such-dir");
        let err = write_with(
            &target,
            b"lost",
            &Options {
                access: Access::Default,
                temp_dir: Some(missing),
            },
        );
        assert!(err.is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
    }
}
