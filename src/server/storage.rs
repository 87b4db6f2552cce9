//! Where the picture files are kept (`--storage`): a local directory (`files.rs`, the default:
//! pictures stored by content, durable writes, in-process locks) or a bucket of S3-compatible
//! object storage (`bucket.rs`: five objects per image, named after its `image_file`). The
//! handlers match on [`Files`] where the two differ: how an upload is stored, how a copy is
//! served, how files are removed and cleaned up at start.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use super::bucket::Bucket;
use super::files::FileStore;
use super::{Config, FilesAt, RecordsAt};

/// How old an unnamed file must be before a start removes it when other nodes may be writing
/// (SPEC §3: one hour), unless `Config::orphan_min_age` says otherwise (tests).
pub const ORPHAN_MIN_AGE: Duration = Duration::from_secs(3600);

/// The picture files of a store.
#[derive(Debug, Clone)]
pub enum Files {
    /// `images/` in the data directory.
    Local(FileStore),
    /// A bucket shared by every node.
    Bucket(Arc<Bucket>),
}

impl Files {
    /// Opens the image folders, or connects to the bucket and checks that it exists.
    pub async fn open(config: &Config) -> anyhow::Result<Files> {
        match &config.files {
            FilesAt::Local => {
                let files = FileStore::open(&config.data_dir).with_context(|| {
                    format!(
                        "could not create the image folders in {}",
                        config.data_dir.display()
                    )
                })?;
                Ok(Files::Local(files))
            }
            FilesAt::S3(location) => Ok(Files::Bucket(Arc::new(
                Bucket::open(location, &config.s3).await?,
            ))),
        }
    }

    /// The local store, where pictures are stored by content.
    pub fn local(&self) -> Option<&FileStore> {
        match self {
            Files::Local(files) => Some(files),
            Files::Bucket(_) => None,
        }
    }

    /// How old an unnamed file must be for the start-up clean-up to remove it: any age when
    /// this node is alone on its SQLite records and local files (whatever is unnamed is left
    /// by a crash), [`Config::orphan_min_age`] when records or files are shared with other
    /// nodes, which may be writing files whose records have not committed yet.
    pub fn orphan_min_age(config: &Config) -> Option<Duration> {
        let shared = config.records != RecordsAt::Sqlite || config.files != FilesAt::Local;
        shared.then_some(config.orphan_min_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::S3Location;

    #[test]
    fn only_a_lone_node_removes_unnamed_files_of_any_age() {
        let mut config = Config::local("/nowhere", "t");
        assert_eq!(Files::orphan_min_age(&config), None);
        config.records = "postgres://u@h/db".parse().unwrap();
        assert_eq!(Files::orphan_min_age(&config), Some(ORPHAN_MIN_AGE));
        config.records = RecordsAt::Sqlite;
        config.files = FilesAt::S3(S3Location {
            bucket: "b".into(),
            prefix: String::new(),
        });
        config.orphan_min_age = Duration::from_secs(5);
        assert_eq!(Files::orphan_min_age(&config), Some(Duration::from_secs(5)));
        assert_eq!(ORPHAN_MIN_AGE, Duration::from_secs(3600));
    }
}
