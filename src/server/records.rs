//! Where the server's records live, behind one interface: SQLite in the data directory (one
//! node, the default) or PostgreSQL (`serve --database postgres://…`, any number of nodes).
//!
//! A handler asks [`Records`] for a connection to read ([`Records::read`]) or a transaction to
//! write ([`Records::write`], [`Records::write_product`]) and hands it to the functions of
//! `repo.rs`, which take any [`AsConn`] and never ask which database it is. Each of them runs
//! its SQL on the connection through [`on_both!`]: one text (placeholders `$1`, `$2`, … which
//! both databases read), compiled once per database, so the shift rule and the thumbnail
//! invariant are the same statements on both. The few statements that must differ (SQLite's
//! `INDEXED BY` query plans, PostgreSQL's row locks) are chosen by [`Dialect`] or live in
//! `repo/sqlite.rs` and `repo/postgres.rs`.
//!
//! Across nodes (PostgreSQL) every write of a product's images locks the product's row first
//! ([`Records::write_product`]), so writes to one product run one at a time in some order
//! whatever node they reach, and each sees the writes committed before it: SQLite's single
//! writer gives the same for one node.

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};

use super::db::Db;
use super::list_cache::Freshness;
use super::postgres_db::PgDb;
use super::{Config, RecordsAt};

/// The store's records: SQLite or PostgreSQL.
#[derive(Clone)]
pub enum Records {
    Sqlite(Db),
    Postgres(PgDb),
}

/// Which SQL a statement that cannot be written once for both must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// `sqlite` on SQLite, `postgres` on PostgreSQL.
    pub fn pick<T>(self, sqlite: T, postgres: T) -> T {
        match self {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
        }
    }
}

/// A borrowed connection (or transaction) of either database.
pub enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

/// What the functions of `repo.rs` take: anything that lends a connection of either database
/// (a [`Reader`], a [`WriteTx`], or a plain sqlx connection or transaction of either).
pub trait AsConn: Send {
    fn conn(&mut self) -> Conn<'_>;
}

/// Runs the same expression on whichever connection `conn` lends: `|c| …` gets a
/// `&mut SqliteConnection` in one arm and a `&mut PgConnection` in the other, each compiled
/// with its own types; `|c, dialect| …` also names the [`Dialect`].
macro_rules! on_both {
    ($conn:expr, |$c:ident| $body:expr) => {
        on_both!($conn, |$c, _dialect| $body)
    };
    ($conn:expr, |$c:ident, $dialect:ident| $body:expr) => {
        match $crate::server::records::AsConn::conn(&mut *$conn) {
            $crate::server::records::Conn::Sqlite($c) => {
                #[allow(unused_variables)]
                let $dialect = $crate::server::records::Dialect::Sqlite;
                $body
            }
            $crate::server::records::Conn::Postgres($c) => {
                #[allow(unused_variables)]
                let $dialect = $crate::server::records::Dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_both;

impl AsConn for Conn<'_> {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

impl AsConn for SqliteConnection {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Sqlite(self)
    }
}

impl AsConn for PgConnection {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Postgres(self)
    }
}

impl AsConn for PoolConnection<Sqlite> {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Sqlite(self)
    }
}

impl AsConn for PoolConnection<Postgres> {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Postgres(self)
    }
}

impl AsConn for Transaction<'_, Sqlite> {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Sqlite(self)
    }
}

impl AsConn for Transaction<'_, Postgres> {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Postgres(self)
    }
}

/// A connection for reads, back to its pool when dropped.
pub enum Reader {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl AsConn for Reader {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Reader::Sqlite(c) => Conn::Sqlite(c),
            Reader::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// A write transaction: committed by [`WriteTx::commit`], rolled back when dropped.
pub enum WriteTx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl AsConn for WriteTx {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            WriteTx::Sqlite(tx) => Conn::Sqlite(tx),
            WriteTx::Postgres(tx) => Conn::Postgres(tx),
        }
    }
}

impl WriteTx {
    pub async fn commit(self) -> sqlx::Result<()> {
        match self {
            WriteTx::Sqlite(tx) => tx.commit().await,
            WriteTx::Postgres(tx) => tx.commit().await,
        }
    }
}

impl Records {
    /// Opens the records the configuration names and brings their schema up to date: SQLite's
    /// file in the data directory (created if missing), or the PostgreSQL database (migrated
    /// under sqlx's advisory lock, so nodes that start together migrate once).
    pub async fn open(config: &Config) -> anyhow::Result<Records> {
        Ok(match &config.records {
            RecordsAt::Sqlite => {
                Records::Sqlite(Db::open(&config.data_dir.join("imagedesk.sqlite3")).await?)
            }
            RecordsAt::Postgres(url) => Records::Postgres(PgDb::open(url).await?),
        })
    }

    /// A connection for reads; with SQLite's WAL (and PostgreSQL's snapshots) it sees every
    /// write committed before it was asked for, and never waits for a writer.
    pub async fn read(&self) -> sqlx::Result<Reader> {
        Ok(match self {
            Records::Sqlite(db) => Reader::Sqlite(db.reader.acquire().await?),
            Records::Postgres(db) => Reader::Postgres(db.reader.acquire().await?),
        })
    }

    /// A write transaction that writes no product's images (a new product, a setting).
    /// SQLite's single-connection writer queues it behind the other writes.
    pub async fn write(&self) -> sqlx::Result<WriteTx> {
        Ok(match self {
            Records::Sqlite(db) => WriteTx::Sqlite(db.writer.begin().await?),
            Records::Postgres(db) => WriteTx::Postgres(db.writer.begin().await?),
        })
    }

    /// A write transaction on one product's images. On PostgreSQL the product's row is locked
    /// (and its version bumped, see `list_cache.rs`) before anything else, so that writes to
    /// one product from any node run one at a time: the shift rule, the one-thumbnail
    /// invariant, the image limit and the `Idempotency-Key` look-up each see the writes
    /// committed before, and none that is not. (PostgreSQL's READ COMMITTED gives each later
    /// statement a snapshot taken after the lock was granted.) On SQLite the single writer
    /// already runs write transactions one at a time.
    pub async fn write_product(&self, product_id: i64) -> sqlx::Result<WriteTx> {
        match self {
            Records::Sqlite(db) => Ok(WriteTx::Sqlite(db.writer.begin().await?)),
            Records::Postgres(db) => {
                let mut tx = db.writer.begin().await?;
                super::repo::postgres::lock_product(&mut tx, product_id).await?;
                Ok(WriteTx::Postgres(tx))
            }
        }
    }

    /// What a cached page of `product_id`'s images must match to be served (`None`: the
    /// product does not exist, take the uncached road). SQLite needs no read: this node is
    /// the only writer and empties its cache after every write. PostgreSQL is shared by other
    /// nodes, whose writes this node's cache cannot see: the product's version is read (one
    /// row by primary key) and a page is served only if it was read at that version.
    pub async fn freshness(&self, product_id: i64) -> sqlx::Result<Option<Freshness>> {
        match self {
            Records::Sqlite(_) => Ok(Some(Freshness::Local)),
            Records::Postgres(db) => {
                let mut conn = db.reader.acquire().await?;
                let version = super::repo::postgres::product_version(&mut conn, product_id).await?;
                Ok(version.map(Freshness::Version))
            }
        }
    }
}

#[cfg(test)]
#[path = "../../tests/common/postgres.rs"]
mod test_postgres;

/// The stores a records test runs on: a fresh SQLite file in `dir`, and a fresh database on
/// the test PostgreSQL cluster (`tests/common/postgres.rs`), both migrated.
#[cfg(test)]
pub(crate) async fn test_stores(dir: &std::path::Path) -> Vec<Records> {
    let sqlite = Db::open(&dir.join("records.sqlite3"))
        .await
        .expect("a SQLite store");
    let url = tokio::task::spawn_blocking(test_postgres::database)
        .await
        .expect("a test database");
    let RecordsAt::Postgres(url) = url.parse().expect("a PostgreSQL URL") else {
        unreachable!("the fixture gives postgres:// URLs")
    };
    let postgres = PgDb::open(&url).await.expect("a PostgreSQL store");
    vec![Records::Sqlite(sqlite), Records::Postgres(postgres)]
}

/// A second node over the same store: the same pools on SQLite (one node is all SQLite
/// serves), new pools over the same database on PostgreSQL.
#[cfg(test)]
pub(crate) async fn another_node(records: &Records) -> Records {
    match records {
        Records::Sqlite(_) => records.clone(),
        Records::Postgres(db) => {
            Records::Postgres(PgDb::open(&db.url).await.expect("a second node"))
        }
    }
}
