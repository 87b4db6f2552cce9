//! The catalogue as the product list and the counts view read it: pages of products, sorted
//! and searched in SQL over the replica, and the catalogue's totals.
//!
//! A store of 100,000 products never reaches the app whole: the UI asks for the rows it draws
//! (and a few pages around them). Counts come from `products.image_count` /
//! `thumbnail_count`, which triggers keep (migration 0003), so no query here counts image
//! rows; search of three or more characters goes through the FTS5 trigram index
//! `product_search`, shorter text through a prefix range on the name and SKU indexes, and a
//! number also matches the product id exactly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::SqlitePool;

use super::SyncError;
use super::model::ProductSummary;

/// The column a page is sorted by. Ties are broken by id, in the same direction, so that the
/// order is total and pages never overlap or skip a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProductSort {
    #[default]
    Id,
    Name,
    Sku,
    Images,
    Thumbnail,
    Pending,
}

impl ProductSort {
    /// The ORDER BY key. Name, SKU and image count are written as their indexes are (0003), so
    /// that a page is read in index order instead of sorting the catalogue.
    fn key(self) -> &'static str {
        match self {
            ProductSort::Id => "p.id",
            ProductSort::Name => "p.name COLLATE NOCASE",
            ProductSort::Sku => "p.sku COLLATE NOCASE",
            ProductSort::Images => "p.image_count",
            ProductSort::Thumbnail => "(p.thumbnail_count > 0)",
            ProductSort::Pending => "pending",
        }
    }
}

/// Which products, in which order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ProductQuery {
    /// Part of the name or SKU (any case), or the product id; blank: every product.
    pub search: String,
    pub sort: ProductSort,
    pub descending: bool,
}

/// One page of a [`ProductQuery`]: `rows` from `offset`, and how many products match in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    pub total: u64,
    pub offset: u64,
    pub rows: Vec<ProductSummary>,
}

/// The whole local copy in a few numbers, for the counts view and the status bar.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CatalogueTotals {
    pub products: u64,
    /// Visible images the replica knows of (the store may have more: see `never_read`).
    pub images: u64,
    /// Products with images of which none is the thumbnail.
    pub without_thumbnail: u64,
    /// Queued edits, failed ones included (as the per-product pending column counts them).
    pub edits_queued: u64,
    /// Products whose images have never been read from the store: their counts are not known.
    pub never_read: u64,
    /// The oldest read of a product's images (the counts are at least this fresh), if any.
    pub oldest_read: Option<SystemTime>,
    /// (images per product, products with that many), fewest images first: the chart.
    pub by_image_count: Vec<(u64, u64)>,
}

/// The search text as a WHERE clause and its arguments.
struct Filter {
    sql: String,
    args: Vec<Arg>,
}

enum Arg {
    Int(i64),
    Text(String),
}

/// The search text as one FTS5 phrase: the trigram tokenizer makes it a case-insensitive
/// substring match of the name or the SKU. Quotes inside are doubled, so any text is a valid
/// query and never query syntax.
fn phrase(text: &str) -> String {
    format!("\"{}\"", text.replace('"', "\"\""))
}

/// A search that may also be a product id (`12` or `#12`).
fn as_id(text: &str) -> Option<i64> {
    text.trim_start_matches('#').parse::<i64>().ok()
}

fn filter(search: &str) -> Filter {
    let text = search.trim();
    if text.is_empty() {
        return Filter {
            sql: String::new(),
            args: Vec::new(),
        };
    }
    let mut clauses = Vec::new();
    let mut args = Vec::new();
    if let Some(id) = as_id(text) {
        clauses.push("p.id = ?".to_owned());
        args.push(Arg::Int(id));
    }
    if text.chars().count() >= 3 {
        clauses.push(
            "p.id IN (SELECT rowid FROM product_search WHERE product_search MATCH ?)".to_owned(),
        );
        args.push(Arg::Text(phrase(text)));
    } else {
        // Too short for a trigram: names and SKUs that start with it, as a range on the
        // NOCASE indexes (NOCASE folds ASCII to lower case, so the bounds are lower case).
        let low = text.to_ascii_lowercase();
        let high = format!("{low}\u{10FFFF}");
        clauses.push(
            "(p.name COLLATE NOCASE >= ? AND p.name COLLATE NOCASE < ?)
             OR (p.sku COLLATE NOCASE >= ? AND p.sku COLLATE NOCASE < ?)"
                .to_owned(),
        );
        args.extend([
            Arg::Text(low.clone()),
            Arg::Text(high.clone()),
            Arg::Text(low),
            Arg::Text(high),
        ]);
    }
    Filter {
        sql: format!("WHERE {}", clauses.join(" OR ")),
        args,
    }
}

fn bind_all<'q>(
    mut query: sqlx::query::QueryAs<'q, sqlx::Sqlite, PageRow, sqlx::sqlite::SqliteArguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, PageRow, sqlx::sqlite::SqliteArguments<'q>> {
    for arg in args {
        query = match arg {
            Arg::Int(n) => query.bind(*n),
            Arg::Text(t) => query.bind(t.as_str()),
        };
    }
    query
}

type PageRow = (i64, String, String, i64, i64, i64);

/// Rows `offset..offset + limit` of `query`, and how many match.
pub(crate) async fn product_page(
    reader: &SqlitePool,
    query: &ProductQuery,
    offset: u64,
    limit: u64,
) -> Result<ProductPage, SyncError> {
    let text = query.search.trim();
    if query.sort == ProductSort::Id && text.chars().count() >= 3 {
        return search_by_id(reader, text, query.descending, offset, limit).await;
    }
    let filter = filter(&query.search);
    let direction = if query.descending { "DESC" } else { "ASC" };
    // One read transaction for the count and the rows, so they agree with each other.
    let mut tx = reader.begin().await?;
    let total: i64 = {
        let sql = format!("SELECT COUNT(*) FROM products p {}", filter.sql);
        let mut count = sqlx::query_scalar::<_, i64>(&sql);
        for arg in &filter.args {
            count = match arg {
                Arg::Int(n) => count.bind(*n),
                Arg::Text(t) => count.bind(t.as_str()),
            };
        }
        count.fetch_one(&mut *tx).await?
    };
    // Pending edits are counted per row returned (an index lookup each), except when the page
    // is sorted by them.
    let sql = format!(
        "SELECT p.id, p.name, p.sku, p.image_count, p.thumbnail_count,
            (SELECT COUNT(*) FROM outbox o WHERE o.product_id = p.id) AS pending
         FROM products p {}
         ORDER BY {} {direction}, p.id {direction}
         LIMIT ? OFFSET ?",
        filter.sql,
        query.sort.key()
    );
    let rows: Vec<PageRow> = bind_all(sqlx::query_as(&sql), &filter.args)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ProductPage {
        total: total.max(0) as u64,
        offset,
        rows: rows.into_iter().map(summary).collect(),
    })
}

/// A search in id order (the product list's): the FTS index yields its matches in rowid
/// order, so a page reads only up to its own rows instead of collecting and sorting every
/// match (24,000 for "walnut" in the benchmark's catalogue), and the count is the index's own.
/// The exact id match is merged into the same order.
async fn search_by_id(
    reader: &SqlitePool,
    text: &str,
    descending: bool,
    offset: u64,
    limit: u64,
) -> Result<ProductPage, SyncError> {
    let phrase = phrase(text);
    let id = as_id(text);
    let direction = if descending { "DESC" } else { "ASC" };
    let mut tx = reader.begin().await?;
    let matches: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM product_search WHERE product_search MATCH ?")
            .bind(&phrase)
            .fetch_one(&mut *tx)
            .await?;
    // The product with that id, when its name and SKU do not hold the number too.
    let extra: i64 = match id {
        Some(id) => {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM products WHERE id = ?1)
                    AND NOT EXISTS (SELECT 1 FROM product_search
                                    WHERE product_search MATCH ?2 AND rowid = ?1)",
            )
            .bind(id)
            .bind(&phrase)
            .fetch_one(&mut *tx)
            .await?
        }
        None => 0,
    };
    let sql = format!(
        "SELECT p.id, p.name, p.sku, p.image_count, p.thumbnail_count,
            (SELECT COUNT(*) FROM outbox o WHERE o.product_id = p.id)
         FROM products p
         WHERE p.id IN (SELECT rowid FROM product_search WHERE product_search MATCH ?1
                        UNION SELECT id FROM products WHERE id = ?2
                        ORDER BY 1 {direction} LIMIT ?3 OFFSET ?4)
         ORDER BY p.id {direction}"
    );
    let rows: Vec<PageRow> = sqlx::query_as(&sql)
        .bind(&phrase)
        .bind(id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(ProductPage {
        total: (matches + extra).max(0) as u64,
        offset,
        rows: rows.into_iter().map(summary).collect(),
    })
}

/// The catalogue's totals and how fresh its counts are.
pub(crate) async fn catalogue_totals(reader: &SqlitePool) -> Result<CatalogueTotals, SyncError> {
    let mut tx = reader.begin().await?;
    let (products, images, without, never, oldest): (i64, i64, i64, i64, Option<i64>) =
        sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(image_count), 0),
                COALESCE(SUM(image_count > 0 AND thumbnail_count = 0), 0),
                COALESCE(SUM(images_read_at IS NULL), 0), MIN(images_read_at)
             FROM products",
        )
        .fetch_one(&mut *tx)
        .await?;
    let queued: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox")
        .fetch_one(&mut *tx)
        .await?;
    // Read off the image-count index: one entry per distinct count, not per product.
    let by_count: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT image_count, COUNT(*) FROM products GROUP BY image_count ORDER BY image_count",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(CatalogueTotals {
        products: products.max(0) as u64,
        images: images.max(0) as u64,
        without_thumbnail: without.max(0) as u64,
        edits_queued: queued.max(0) as u64,
        never_read: never.max(0) as u64,
        oldest_read: oldest
            .and_then(|ms| u64::try_from(ms).ok())
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
        by_image_count: by_count
            .into_iter()
            .map(|(images, products)| (images.max(0) as u64, products.max(0) as u64))
            .collect(),
    })
}

/// One product's row as the list shows it (the product opened, which may be on no page held).
pub(crate) async fn product_summary(
    reader: &SqlitePool,
    id: i64,
) -> Result<Option<ProductSummary>, SyncError> {
    let row: Option<PageRow> = sqlx::query_as(
        "SELECT p.id, p.name, p.sku, p.image_count, p.thumbnail_count,
            (SELECT COUNT(*) FROM outbox o WHERE o.product_id = p.id)
         FROM products p WHERE p.id = ?",
    )
    .bind(id)
    .fetch_optional(reader)
    .await?;
    Ok(row.map(summary))
}

fn summary((id, name, sku, images, thumbnails, pending): PageRow) -> ProductSummary {
    ProductSummary {
        id,
        name,
        sku,
        image_count: images.max(0) as u64,
        has_thumbnail: thumbnails > 0,
        pending_edits: pending.max(0) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::replica::Replica;

    /// A replica with products 1..=n named "Product {id}" (every 10th also "Oak …"), SKU
    /// "SKU-{id:05}", and `id % 4` images each, the first the thumbnail except on even ids.
    async fn replica(n: i64) -> (tempfile::TempDir, Replica) {
        let dir = tempfile::tempdir().unwrap();
        let replica = Replica::open(dir.path()).await.unwrap();
        let mut tx = replica.writer.begin().await.unwrap();
        for id in 1..=n {
            let name = if id % 10 == 0 {
                format!("Oak chair {id}")
            } else {
                format!("Product {id}")
            };
            sqlx::query("INSERT INTO products (id, name, sku) VALUES (?, ?, ?)")
                .bind(id)
                .bind(name)
                .bind(format!("SKU-{id:05}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            for position in 0..id % 4 {
                sqlx::query(
                    "INSERT INTO images (product_id, position, is_thumbnail) VALUES (?, ?, ?)",
                )
                .bind(id)
                .bind(position)
                .bind(position == 0 && id % 2 == 1)
                .execute(&mut *tx)
                .await
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
        (dir, replica)
    }

    fn query(search: &str, sort: ProductSort, descending: bool) -> ProductQuery {
        ProductQuery {
            search: search.into(),
            sort,
            descending,
        }
    }

    async fn ids(replica: &Replica, q: &ProductQuery, offset: u64, limit: u64) -> Vec<i64> {
        product_page(&replica.reader, q, offset, limit)
            .await
            .unwrap()
            .rows
            .iter()
            .map(|p| p.id)
            .collect()
    }

    #[tokio::test]
    async fn search_finds_substrings_of_name_and_sku_and_the_id() {
        let (_dir, replica) = replica(200).await;
        // A substring of the name, in another case.
        let oak = product_page(
            &replica.reader,
            &query("OAK CH", ProductSort::Id, false),
            0,
            100,
        )
        .await
        .unwrap();
        assert_eq!(oak.total, 20);
        assert!(oak.rows.iter().all(|p| p.name.starts_with("Oak chair")));
        // Inside the SKU.
        assert_eq!(
            ids(&replica, &query("u-0012", ProductSort::Id, false), 0, 100).await,
            (120..=129).collect::<Vec<_>>()
        );
        // The id itself, and names that contain it ("Product 150" holds "150"; so do others).
        let by_id = ids(&replica, &query("150", ProductSort::Id, false), 0, 100).await;
        assert!(by_id.contains(&150), "{by_id:?}");
        assert_eq!(
            ids(&replica, &query("#7", ProductSort::Id, false), 0, 100).await,
            [7]
        );
        // Two characters: a prefix of the name or SKU.
        let short = product_page(&replica.reader, &query("oa", ProductSort::Id, false), 0, 5)
            .await
            .unwrap();
        assert_eq!(short.total, 20);
        assert_eq!(short.rows.first().map(|p| p.id), Some(10));
        // Quotes and FTS syntax are text, not query syntax.
        let odd = product_page(
            &replica.reader,
            &query("\"a\" OR *", ProductSort::Id, false),
            0,
            5,
        )
        .await
        .unwrap();
        assert_eq!(odd.total, 0);
        assert_eq!(
            product_page(&replica.reader, &query("", ProductSort::Id, false), 0, 5)
                .await
                .unwrap()
                .total,
            200
        );
        // The id-ordered search (read off the index in order) selects what the general
        // query does, in both directions and across pages.
        for text in ["150", "oak", "sku-001", "#12", "Product 19", "nothing"] {
            let mut general: Vec<i64> =
                ids(&replica, &query(text, ProductSort::Name, false), 0, 500).await;
            general.sort_unstable();
            let general_total = product_page(
                &replica.reader,
                &query(text, ProductSort::Name, false),
                0,
                1,
            )
            .await
            .unwrap()
            .total;
            let mut paged = Vec::new();
            for page in 0..20 {
                paged
                    .extend(ids(&replica, &query(text, ProductSort::Id, false), page * 7, 7).await);
            }
            assert_eq!(paged, general, "{text}");
            let fast = product_page(&replica.reader, &query(text, ProductSort::Id, true), 0, 500)
                .await
                .unwrap();
            assert_eq!(fast.total, general_total, "{text}");
            let mut descending: Vec<i64> = fast.rows.iter().map(|p| p.id).collect();
            descending.reverse();
            assert_eq!(descending, general, "{text}");
        }
    }

    #[tokio::test]
    async fn pages_follow_the_sort_without_overlap() {
        let (_dir, replica) = replica(200).await;
        let by_images = query("", ProductSort::Images, true);
        let mut all = Vec::new();
        for page in 0..4 {
            all.extend(ids(&replica, &by_images, page * 50, 50).await);
        }
        assert_eq!(all.len(), 200);
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 200, "pages overlap");
        // Three images (id % 4 == 3) first, ties by id descending.
        assert_eq!(&all[..3], &[199, 195, 191]);
        assert_eq!(all.last(), Some(&4));

        let by_name = ids(&replica, &query("", ProductSort::Name, false), 0, 3).await;
        assert_eq!(
            by_name,
            [10, 100, 110],
            "\"Oak …\" sorts before \"Product …\""
        );
        let by_sku = ids(&replica, &query("", ProductSort::Sku, true), 10, 2).await;
        assert_eq!(by_sku, [190, 189]);
        let without_thumbnail =
            ids(&replica, &query("", ProductSort::Thumbnail, false), 0, 3).await;
        assert_eq!(without_thumbnail, [2, 4, 6]);
        let page = product_page(&replica.reader, &by_images, 190, 50)
            .await
            .unwrap();
        assert_eq!((page.total, page.offset, page.rows.len()), (200, 190, 10));
    }

    #[tokio::test]
    async fn counts_and_totals_follow_inserts_deletes_and_hides() {
        let (_dir, replica) = replica(8).await;
        let totals = catalogue_totals(&replica.reader).await.unwrap();
        // Images: 1+2+3+0+1+2+3+0; with images but no thumbnail: 2 and 6.
        assert_eq!(totals.products, 8);
        assert_eq!(totals.images, 12);
        assert_eq!(totals.without_thumbnail, 2);
        assert_eq!(totals.never_read, 8);
        assert_eq!(totals.oldest_read, None);
        assert_eq!(totals.by_image_count, [(0, 2), (1, 2), (2, 2), (3, 2)]);

        let w = &replica.writer;
        sqlx::query("UPDATE images SET hidden = 1 WHERE product_id = 3 AND position = 0")
            .execute(w)
            .await
            .unwrap();
        sqlx::query("DELETE FROM images WHERE product_id = 2 AND position = 1")
            .execute(w)
            .await
            .unwrap();
        sqlx::query("INSERT INTO images (product_id, position, is_thumbnail) VALUES (4, 0, 1)")
            .execute(w)
            .await
            .unwrap();
        sqlx::query("UPDATE products SET images_read_at = 5000 WHERE id IN (1, 2)")
            .execute(w)
            .await
            .unwrap();
        sqlx::query("UPDATE products SET images_read_at = 9000 WHERE id = 3")
            .execute(w)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO outbox (kind, product_id, payload, created_ms) VALUES ('describe', 5, '{}', 0)",
        )
        .execute(w)
        .await
        .unwrap();

        let row = |id: i64| {
            let reader = replica.reader.clone();
            async move { product_summary(&reader, id).await.unwrap().unwrap() }
        };
        let three = row(3).await;
        assert_eq!((three.image_count, three.has_thumbnail), (2, false));
        assert_eq!(row(2).await.image_count, 1);
        let four = row(4).await;
        assert_eq!((four.image_count, four.has_thumbnail), (1, true));
        assert_eq!(row(5).await.pending_edits, 1);
        assert_eq!(
            ids(&replica, &query("", ProductSort::Pending, true), 0, 1).await,
            [5]
        );

        let totals = catalogue_totals(&replica.reader).await.unwrap();
        assert_eq!(totals.images, 11);
        assert_eq!(
            totals.without_thumbnail, 3,
            "products 2, 3 and 6; 4 has one now"
        );
        assert_eq!(totals.never_read, 5);
        assert_eq!(totals.edits_queued, 1);
        assert_eq!(
            totals.oldest_read,
            Some(UNIX_EPOCH + Duration::from_millis(5000))
        );
        // A renamed product is found by its new name only.
        sqlx::query("UPDATE products SET name = 'Walnut desk' WHERE id = 6")
            .execute(w)
            .await
            .unwrap();
        assert_eq!(
            ids(&replica, &query("walnut", ProductSort::Id, false), 0, 10).await,
            [6]
        );
        assert!(
            ids(&replica, &query("Product 6", ProductSort::Id, false), 0, 10)
                .await
                .is_empty()
        );
    }
}
