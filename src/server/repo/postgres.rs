//! The statements of `repo.rs` that are PostgreSQL's own: the row lock every write of a
//! product's images starts with, the version the list cache checks, and the product list
//! (PostgreSQL's planner chooses between `products_by_date_modified` and the primary key from
//! its statistics, so one statement per filter is enough).

use std::sync::LazyLock;

use sqlx::PgConnection;

use super::{PRODUCT_COLUMNS, ProductFilter, ProductRow, Window};

/// Locks the product's row until the transaction ends and bumps its version: writes to one
/// product from every node queue here (`Records::write_product`). A product that does not
/// exist locks nothing; the write then finds no images, or fails on the foreign key.
pub(crate) async fn lock_product(conn: &mut PgConnection, product_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE products SET version = version + 1 WHERE id = $1")
        .bind(product_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The key of the transaction-scoped advisory lock that orders every transaction's picture rows
/// ("imag" in ASCII; any constant no other code takes).
const PICTURE_ROWS_LOCK: i64 = 0x696d_6167;

/// Takes, until the transaction ends, the one lock every transaction takes before it locks any
/// row of `pictures` (adding a reference in `upsert_picture`, releasing one in `release`).
/// Writes of two products that share pictures would otherwise lock them in opposite orders (a
/// swap: each adds the picture the other releases) and PostgreSQL would fail one of them as a
/// deadlock. Taken again in the same transaction it is granted at once. Only content-addressed
/// local pictures have rows: a store with its files in a bucket never takes it.
pub(crate) async fn lock_picture_rows(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PICTURE_ROWS_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// The key of the session-scoped advisory lock the demo seed runs under ("demo" in ASCII).
const DEMO_SEED_LOCK: i64 = 0x6465_6d6f;

/// Waits for, and takes, the demo seed's lock on this connection's session: nodes that start
/// together with `--seed-demo` seed one after the other, so the later ones find it done. The
/// lock goes with the session: the caller closes the connection when the seed ends (or fails).
pub(crate) async fn lock_demo_seed(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(DEMO_SEED_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// The product's version (`None`: no such product), bumped by every write of its images.
pub(crate) async fn product_version(
    conn: &mut PgConnection,
    product_id: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT version FROM products WHERE id = $1")
        .bind(product_id)
        .fetch_optional(conn)
        .await
}

static ALL_PRODUCTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {PRODUCT_COLUMNS} FROM products \
         WHERE ($1::text IS NULL OR strpos(lower(name), lower($1)) > 0) \
         ORDER BY id LIMIT $2 OFFSET $3"
    )
});

static CHANGED_PRODUCTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {PRODUCT_COLUMNS} FROM products WHERE date_modified >= $4 \
         AND ($1::text IS NULL OR strpos(lower(name), lower($1)) > 0) \
         ORDER BY id LIMIT $2 OFFSET $3"
    )
});

/// Products in id order, filtered by a case-insensitive substring of the name and by
/// `date_modified`.
pub(super) async fn list_products(
    conn: &mut PgConnection,
    filter: ProductFilter<'_>,
    window: Window,
) -> sqlx::Result<Vec<ProductRow>> {
    if filter.name.is_some_and(|name| name.contains('\0')) {
        // PostgreSQL's text holds no NUL, so no name contains one (and binding it would fail).
        return Ok(Vec::new());
    }
    let query = match filter.min_date_modified {
        None => sqlx::query_as(&ALL_PRODUCTS),
        Some(_) => sqlx::query_as(&CHANGED_PRODUCTS),
    };
    let query = query
        .bind(filter.name)
        .bind(window.limit)
        .bind(window.offset);
    match filter.min_date_modified {
        None => query.fetch_all(conn).await,
        Some(since) => query.bind(since).fetch_all(conn).await,
    }
}
