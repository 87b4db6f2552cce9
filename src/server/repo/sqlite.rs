//! The statements of `repo.rs` that are SQLite's own: its query plans for the product list
//! (`INDEXED BY`, the unary `+`: SQLite keeps no statistics to choose by itself), and the
//! image page read outside sqlx on the plain-SQLite pool (`read_pool.rs`).

use std::sync::Arc;

use sqlx::SqliteConnection;

use super::super::compat::ListOrder;
use super::super::read_pool::{ReadError, ReadPool};
use super::{ImageRow, PRODUCT_COLUMNS, ProductFilter, ProductRow, Window, page_sql};

/// Past this many products changed since a date, walking the products in id order and
/// skipping the others is cheaper than sorting the changed ones by id.
const FEW_CHANGED: i64 = 5000;

/// Products in id order, filtered.
///
/// With `min_date_modified`, the plan depends on how many products changed since then, which
/// SQLite cannot know without statistics: a probe of at most [`FEW_CHANGED`] entries of
/// `products_by_date_modified` tells. Few (the usual "what changed since my last look"): read
/// them through that index and sort them by id. Many: walk the table in id order and skip the
/// rest (the unary `+` keeps SQLite off the index).
pub(super) async fn list_products(
    conn: &mut SqliteConnection,
    filter: ProductFilter<'_>,
    window: Window,
) -> sqlx::Result<Vec<ProductRow>> {
    let Some(since) = filter.min_date_modified else {
        return sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products \
             WHERE (?1 IS NULL OR instr(lower(name), lower(?1)) > 0) \
             ORDER BY id LIMIT ?2 OFFSET ?3"
        ))
        .bind(filter.name)
        .bind(window.limit)
        .bind(window.offset)
        .fetch_all(conn)
        .await;
    };
    let many: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM products INDEXED BY products_by_date_modified \
         WHERE date_modified >= ? ORDER BY date_modified LIMIT 1 OFFSET ?",
    )
    .bind(since)
    .bind(FEW_CHANGED)
    .fetch_optional(&mut *conn)
    .await?;
    if many.is_none() && filter.name.is_none() {
        // The page's ids come from the index alone (it holds the id), sorted; only those 250
        // rows are read from the table: 4× faster than reading every changed row (measured at
        // 2,000 changed of 100,000).
        return sqlx::query_as(&format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN \
             (SELECT id FROM products INDEXED BY products_by_date_modified \
              WHERE date_modified >= ?1 ORDER BY id LIMIT ?2 OFFSET ?3) \
             ORDER BY id"
        ))
        .bind(since)
        .bind(window.limit)
        .bind(window.offset)
        .fetch_all(conn)
        .await;
    }
    let changed = if many.is_some() {
        "FROM products WHERE +date_modified >= ?4"
    } else {
        "FROM products INDEXED BY products_by_date_modified WHERE date_modified >= ?4"
    };
    sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} {changed} \
         AND (?1 IS NULL OR instr(lower(name), lower(?1)) > 0) \
         ORDER BY id LIMIT ?2 OFFSET ?3"
    ))
    .bind(filter.name)
    .bind(window.limit)
    .bind(window.offset)
    .bind(since)
    .fetch_all(conn)
    .await
}

/// One page of a product's images, read on the plain-SQLite pool (`read_pool.rs`) because it is
/// the read clients make most and the first after every write (see `repo::image_page`). The
/// page comes first: a row proves its product exists (foreign key), so only an empty page
/// costs a second statement.
pub(super) async fn image_page(
    reads: &Arc<ReadPool>,
    product_id: i64,
    window: Option<Window>,
    order: ListOrder,
) -> Result<Option<Vec<ImageRow>>, ReadError> {
    let sql = page_sql(order);
    reads
        .read(move |conn| {
            let rows = match window {
                Some(window) => conn
                    .prepare_cached(sql)?
                    .query_map(
                        (product_id, window.limit, window.offset),
                        ImageRow::from_sqlite,
                    )?
                    .collect::<rusqlite::Result<Vec<ImageRow>>>()?,
                None => Vec::new(),
            };
            if !rows.is_empty() {
                return Ok(Some(rows));
            }
            let exists = conn
                .prepare_cached("SELECT 1 FROM products WHERE id = ?")?
                .exists([product_id])?;
            Ok(exists.then_some(rows))
        })
        .await
}
