//! SQLite connection pools. Writes go through a pool of exactly one connection, so that write
//! transactions queue in the process instead of failing with `SQLITE_BUSY`; reads use a separate
//! pool and, thanks to WAL, never wait for a writer.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

#[derive(Clone)]
pub struct Db {
    pub reader: SqlitePool,
    pub writer: SqlitePool,
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
            .max_connections(4)
            // A local file cannot drop a connection: the default ping before every acquire
            // only adds a round trip to the connection's thread.
            .test_before_acquire(false)
            .connect_with(options.read_only(true))
            .await
            .with_context(|| format!("could not open the database {}", path.display()))?;
        Ok(Db { reader, writer })
    }
}
