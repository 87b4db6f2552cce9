//! SQLite connection pools. Writes go through a pool of exactly one connection, so that write
//! transactions queue in the process instead of failing with `SQLITE_BUSY`; reads use a separate
//! pool and, thanks to WAL, never wait for a writer. The image lists read through `reads`
//! (`read_pool.rs`), plain SQLite connections on the blocking pool, which cost a fraction of
//! sqlx's per-row overhead.

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::read_pool::ReadPool;

/// Connections of each read pool.
const READERS: usize = 4;

#[derive(Clone)]
pub struct Db {
    pub reader: SqlitePool,
    pub writer: SqlitePool,
    /// The reads that bypass sqlx (`repo::image_page`).
    pub reads: Arc<ReadPool>,
}

impl Db {
    pub async fn open(path: &Path) -> anyhow::Result<Db> {
        let url = format!("sqlite://{}", path.display());
        let options = SqliteConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database path {}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed write survives a power cut, not just a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .with_context(|| format!("could not open the database {}", path.display()))?;
        sqlx::migrate!()
            .run(&writer)
            .await
            .context("could not migrate the database")?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS as u32)
            // A local file cannot drop a connection: the default ping before every acquire
            // only adds a round trip to the connection's thread.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("could not open the database {}", path.display()))?;
        // Opened after the writer created the file and its WAL: read-only connections cannot.
        let reads = Arc::new(ReadPool::new(path, READERS));
        Ok(Db {
            reader,
            writer,
            reads,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use sqlx::Connection as _;

    /// A store written before migration 0003 gets its counts from the rows it already has,
    /// and its images stay in the legacy layout (no picture).
    #[tokio::test]
    async fn migration_0003_counts_existing_images() {
        let dir = tempfile::tempdir().unwrap();
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(dir.path().join("old.sqlite3"))
            .create_if_missing(true)
            .foreign_keys(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let mut before = sqlx::migrate!();
        before.migrations = Cow::Owned(
            before
                .migrations
                .iter()
                .filter(|m| m.version <= 2)
                .cloned()
                .collect(),
        );
        before.run(&mut conn).await.unwrap();
        sqlx::query(
            "INSERT INTO products (id, name, sku, date_created) VALUES (1, 'a', '', 0), (2, 'b', '', 0)",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        for (n, product) in [1, 1, 1, 2].into_iter().enumerate() {
            sqlx::query(
                "INSERT INTO images (product_id, image_file, sort_order, date_created, \
                 date_modified, width, height, file_size) VALUES (?, ?, ?, 0, 0, 1, 1, 1)",
            )
            .bind(product)
            .bind(format!("a/001/x__{n:05}.jpg"))
            .bind(n as i64)
            .execute(&mut conn)
            .await
            .unwrap();
        }
        sqlx::migrate!().run(&mut conn).await.unwrap();
        assert_eq!(
            super::super::repo::count_images(&mut conn, 1)
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            super::super::repo::count_images(&mut conn, 2)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            super::super::repo::count_all_images(&mut conn)
                .await
                .unwrap(),
            4
        );
        let legacy = super::super::repo::legacy_image_files(&mut conn)
            .await
            .unwrap();
        assert_eq!(legacy.len(), 4);
        // The triggers keep them from now on.
        sqlx::query("DELETE FROM images WHERE product_id = 1")
            .execute(&mut conn)
            .await
            .unwrap();
        assert_eq!(
            super::super::repo::count_images(&mut conn, 1)
                .await
                .unwrap(),
            0
        );
        assert_eq!(
            super::super::repo::count_all_images(&mut conn)
                .await
                .unwrap(),
            1
        );
    }
}
