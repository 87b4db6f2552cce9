//! PostgreSQL connection pools (`serve --database postgres://…`), shared by every node of a
//! store. Reads and writes have pools of their own, so that writers waiting for a product's
//! row lock (`Records::write_product`) never hold every connection a read needs.
//!
//! TLS follows the URL (`?sslmode=require`, `verify-full`, …) and goes through rustls with
//! the webpki roots: the binary links no OpenSSL.

use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::PostgresUrl;

/// Connections of the read pool, per node.
const READERS: u32 = 16;
/// Connections of the write pool, per node: writes to different products run in parallel.
const WRITERS: u32 = 8;

#[derive(Clone)]
pub struct PgDb {
    pub reader: PgPool,
    pub writer: PgPool,
    /// Where it is, for tests that open a second node over it.
    #[cfg(test)]
    pub url: PostgresUrl,
}

impl PgDb {
    /// Connects and migrates (`migrations_pg/`). sqlx takes an advisory lock around the
    /// migration, so nodes that start together migrate once and the others wait for it.
    pub async fn open(url: &PostgresUrl) -> anyhow::Result<PgDb> {
        let options = PgConnectOptions::from_str(url.as_str())
            .with_context(|| format!("invalid --database URL {url:?}"))?
            .application_name("imagedesk");
        let pool = |max: u32| {
            PgPoolOptions::new()
                .max_connections(max)
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(30))
                .connect_lazy_with(options.clone())
        };
        let writer = pool(WRITERS);
        drop(
            writer
                .acquire()
                .await
                .with_context(|| format!("could not connect to the database {url:?}"))?,
        );
        sqlx::migrate!("./migrations_pg")
            .run(&writer)
            .await
            .with_context(|| format!("could not migrate the database {url:?}"))?;
        Ok(PgDb {
            reader: pool(READERS),
            writer,
            #[cfg(test)]
            url: url.clone(),
        })
    }
}
