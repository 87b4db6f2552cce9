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
