//! Plain SQLite connections for the reads that must be fast even uncached (a product's image
//! list: the first read after every write), run on tokio's blocking pool.
//!
//! Why not sqlx's reader pool: profiled under load (BENCHMARKS.md, "GET images.json"), an
//! uncached list spent its time around the query, not in it. sqlx copies every value of every
//! row (`sqlite3_value_dup`, one `malloc` behind SQLite's global memory mutex each, and a `free`
//! later on another thread), sends the rows one message at a time from the connection's own
//! thread, and pings that thread again when the connection goes back to its pool. Here a read
//! is one hop to a blocking thread that steps cached prepared statements and builds the rows
//! from the statement's columns directly.
//!
//! Connections are opened read-only, on first need, up to `max` at once (a semaphore bounds
//! the blocking threads reading together). Every statement runs in its own read transaction
//! (autocommit); with WAL a read that starts after a write committed on the writer pool sees
//! that write: the read-after-write promise the app and the list cache rely on.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

/// Prepared statements kept per connection (a handful of reads use this pool).
const STATEMENT_CACHE: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A page read through sqlx (PostgreSQL's, see `repo::image_page`).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the read task stopped: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the read pool is closed")]
    Closed,
}

pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// A pool over the database at `path`, which the writer has created (and migrated).
    pub fn new(path: &Path, max: usize) -> ReadPool {
        ReadPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max.max(1))),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        // Only pushes and pops happen under the lock: a poisoned list is still a list.
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(conn)
    }

    /// Runs `read` on one of the pool's connections, on a blocking thread. The closure runs to
    /// its end even if the caller stops waiting, so a connection always goes back whole.
    pub async fn read<T, F>(self: &Arc<Self>, read: F) -> Result<T, ReadError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ReadError::Closed)?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = pool.idle().pop();
            let conn = match taken {
                Some(conn) => conn,
                None => pool.open()?,
            };
            let result = read(&conn);
            pool.idle().push(conn);
            Ok(result?)
        })
        .await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads run on at most `max` connections, reused rather than reopened.
    #[tokio::test]
    async fn connections_are_reused_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);",
            )
            .unwrap();
        let pool = Arc::new(ReadPool::new(&path, 2));
        let reads = (0..20).map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.read(|conn| conn.query_row("SELECT x FROM t", [], |r| r.get::<_, i64>(0)))
                    .await
                    .unwrap()
            })
        });
        for read in reads {
            assert_eq!(read.await.unwrap(), 7);
        }
        let idle = pool.idle().len();
        assert!((1..=2).contains(&idle), "{idle} connections kept");
    }

    /// A read-only connection refuses writes: this pool cannot change the store.
    #[tokio::test]
    async fn refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER);")
            .unwrap();
        let pool = Arc::new(ReadPool::new(&path, 1));
        let written = pool
            .read(|conn| conn.execute("INSERT INTO t VALUES (1)", []))
            .await;
        assert!(matches!(written, Err(ReadError::Sqlite(_))), "{written:?}");
    }
}
