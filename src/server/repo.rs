//! SQL of the store, and the rows it reads with their one conversion each to the wire types.
//! Each write function runs inside a transaction the caller opened with `Records::write` or
//! `Records::write_product`, so that the sort_order shift and the one-thumbnail invariant are
//! never seen half done.
//!
//! Every function takes any connection of either database ([`AsConn`]) and runs one SQL text
//! on both ([`on_both!`], placeholders `$1`, `$2`, …); the statements that must differ per
//! database are in `repo/sqlite.rs` (SQLite's query plans, and the image page read outside
//! sqlx) and `repo/postgres.rs` (row locks, the list cache's version).
//!
//! The image record is declared once on the server: [`ImageRow`], whose picture columns are
//! [`StoredFile`]. Its columns are listed once (`RECORD_COLUMNS`, `StoredFile::COLUMNS`), every
//! statement is built from those lists, and the picture's values are bound in one place
//! (`bind_file!`), so a new column is added in this file and in a migration of each database
//! (`migrations/`, `migrations_pg/`).

pub mod postgres;
pub mod sqlite;

use std::sync::LazyLock;

use sqlx::{FromRow, Row as _};

use super::compat::ListOrder;
use super::read_pool::ReadError;
use super::records::{AsConn, Dialect, Records, on_both};
use crate::api::types::{Image, Product};
use crate::imaging::{PerceptualHash, Variant};

/// The largest `sort_order` a record may hold (SPEC §1: 0 ≤ k ≤ 2147483647, BigCommerce's
/// signed 32-bit column).
pub const MAX_SORT_ORDER: i64 = 2_147_483_647;

/// Why an image write did not happen. Its transaction has changed nothing the caller may
/// commit: the caller drops it.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The write would move an image past [`MAX_SORT_ORDER`] (the shift rule), or place a new
    /// one after an image already there.
    #[error(
        "image {image_id} is at sort_order {at}, and {MAX_SORT_ORDER} is the largest allowed: \
         this write would move it or place a new image after it; give image {image_id} a \
         smaller sort_order first"
    )]
    SortOrderFull { image_id: i64, at: i64 },
}

/// An image row as stored: the server's one image record.
#[derive(Debug, Clone, FromRow)]
pub struct ImageRow {
    pub id: i64,
    pub product_id: i64,
    pub is_thumbnail: bool,
    pub sort_order: i64,
    pub description: String,
    pub date_created: i64,
    pub date_modified: i64,
    /// The picture the record names; replaced as a whole when a PUT sends a new one.
    #[sqlx(flatten)]
    pub file: StoredFile,
}

/// The columns of [`ImageRow`] other than its picture's.
const RECORD_COLUMNS: [&str; 7] = [
    "id",
    "product_id",
    "is_thumbnail",
    "sort_order",
    "description",
    "date_created",
    "date_modified",
];

impl ImageRow {
    /// A row of `SELECT_IMAGES` read by position (`RECORD_COLUMNS`, then
    /// `StoredFile::COLUMNS`), which `rusqlite_reads_the_rows_sqlx_reads` holds to `FromRow`.
    pub(super) fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImageRow> {
        let file = RECORD_COLUMNS.len();
        Ok(ImageRow {
            id: row.get(0)?,
            product_id: row.get(1)?,
            is_thumbnail: row.get(2)?,
            sort_order: row.get(3)?,
            description: row.get(4)?,
            date_created: row.get(5)?,
            date_modified: row.get(6)?,
            file: StoredFile {
                image_file: row.get(file)?,
                width: row.get(file + 1)?,
                height: row.get(file + 2)?,
                file_size: row.get(file + 3)?,
                picture_id: row.get(file + 4)?,
                perceptual_hash: row.get(file + 5)?,
            },
        })
    }

    /// The record as the API sends it: dates in RFC 2822, the variants' URLs under `base_url`
    /// (`http://host:port` as the client addressed the server).
    pub fn to_wire(&self, base_url: &str) -> Image {
        // Pushed rather than `format!`ed: two hundred of these make a page, and the formatting
        // machinery was a fifth of an uncached list's time (BENCHMARKS.md).
        let url = |v: Variant| {
            let (variant, file) = (v.as_str(), self.file.image_file.as_str());
            let mut url = String::with_capacity(
                base_url.len() + "/product_images/".len() + variant.len() + 1 + file.len(),
            );
            for part in [base_url, "/product_images/", variant, "/", file] {
                url.push_str(part);
            }
            Some(url)
        };
        Image {
            id: self.id,
            product_id: self.product_id,
            image_file: self.file.image_file.clone(),
            is_thumbnail: self.is_thumbnail,
            sort_order: self.sort_order,
            description: self.description.clone(),
            date_created: rfc2822(self.date_created),
            date_modified: Some(rfc2822(self.date_modified)),
            zoom_url: url(Variant::Zoom),
            standard_url: url(Variant::Standard),
            thumbnail_url: url(Variant::Thumbnail),
            tiny_url: url(Variant::Tiny),
            width: u32::try_from(self.file.width).ok(),
            height: u32::try_from(self.file.height).ok(),
            file_size: u64::try_from(self.file.file_size).ok(),
            perceptual_hash: self
                .file
                .perceptual_hash
                .map(|bits| PerceptualHash::from_i64(bits).to_string()),
        }
    }
}

/// A stored picture: what a new or replaced image record points to, and what was measured when
/// it was written.
#[derive(Debug, Clone, FromRow)]
pub struct StoredFile {
    pub image_file: String,
    pub width: i64,
    pub height: i64,
    pub file_size: i64,
    /// The shared picture stored by content (`pictures`); `None` for an image written before
    /// content addressing, whose files are stored under its `image_file`.
    pub picture_id: Option<i64>,
    /// The picture's perceptual hash (`imaging::PerceptualHash`'s bits), computed at upload;
    /// `None` for pictures stored before it was (migration 0004).
    pub perceptual_hash: Option<i64>,
}

impl StoredFile {
    /// Its columns, in the order [`StoredFile::bind`] binds them.
    const COLUMNS: [&str; 6] = [
        "image_file",
        "width",
        "height",
        "file_size",
        "picture_id",
        "perceptual_hash",
    ];
}

/// Binds a picture's values (`Option<&StoredFile>`) in `StoredFile::COLUMNS` order, on a query
/// of either database; `None` binds NULLs (an update then keeps the picture: see `UPDATE_IMAGE`).
macro_rules! bind_file {
    ($query:expr, $file:expr) => {{
        let file: Option<&StoredFile> = $file;
        $query
            .bind(file.map(|f| f.image_file.as_str()))
            .bind(file.map(|f| f.width))
            .bind(file.map(|f| f.height))
            .bind(file.map(|f| f.file_size))
            .bind(file.and_then(|f| f.picture_id))
            .bind(file.and_then(|f| f.perceptual_hash))
    }};
}

/// A picture stored by content: one row per distinct original, shared by every image whose
/// original has the same bytes.
#[derive(Debug, Clone, FromRow)]
pub struct PictureRow {
    pub id: i64,
    /// SHA-256 of the original, lower-case hex.
    pub hash: String,
    pub extension: String,
    pub width: i64,
    pub height: i64,
    pub file_size: i64,
    /// See [`StoredFile::perceptual_hash`].
    pub perceptual_hash: Option<i64>,
}

/// Files a committed write stopped using, to be removed after the commit (`pictures::release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// An image of the legacy layout: its own five files, named after its `image_file`.
    Legacy(String),
    /// A shared picture whose last image went: its row is deleted in the same transaction.
    Picture { hash: String, extension: String },
}

#[derive(Debug, Clone, FromRow)]
pub struct ProductRow {
    pub id: i64,
    pub name: String,
    pub sku: String,
    pub date_created: i64,
    /// The last write of the product or of any of its images.
    pub date_modified: i64,
}

/// A product as the server sends it: the shared wire [`Product`] and its `date_modified`
/// (SPEC §1), which the shared type does not carry (clients read it as an unknown field until
/// it does).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct StoreProduct {
    #[serde(flatten)]
    pub product: Product,
    /// RFC 2822 with `+0000`.
    pub date_modified: String,
}

impl ProductRow {
    pub fn into_wire(self) -> StoreProduct {
        StoreProduct {
            product: Product {
                id: self.id,
                name: self.name,
                sku: self.sku,
                date_created: rfc2822(self.date_created),
                // Sent by `StoreProduct` itself, always.
                date_modified: None,
            },
            date_modified: rfc2822(self.date_modified),
        }
    }
}

pub(super) const PRODUCT_COLUMNS: &str = "id, name, sku, date_created, date_modified";

/// RFC 2822 with `+0000`, as v2 stores write dates. Written field by field rather than
/// through chrono's `format`, which interprets its pattern on every call: a page of 250
/// products has 500 dates, and the pattern was most of the page's rendering time.
fn rfc2822(timestamp: i64) -> String {
    use chrono::{Datelike as _, Timelike as _};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = chrono::DateTime::from_timestamp(timestamp, 0).unwrap_or_default();
    let Ok(year) = u32::try_from(date.year()) else {
        // Before year 0: never written by this server, but rendered as it always was.
        return format!(
            "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
            DAYS[date.weekday().num_days_from_monday() as usize],
            date.day(),
            MONTHS[date.month0() as usize],
            date.year(),
            date.hour(),
            date.minute(),
            date.second()
        );
    };
    // Digits pushed by hand, not `format!`: fifty of these make a page (see `ImageRow::to_wire`).
    let mut out = String::with_capacity(31);
    out.push_str(DAYS[date.weekday().num_days_from_monday() as usize]);
    out.push_str(", ");
    push_padded(&mut out, date.day(), 2);
    out.push(' ');
    out.push_str(MONTHS[date.month0() as usize]);
    out.push(' ');
    push_padded(&mut out, year, 4);
    out.push(' ');
    push_padded(&mut out, date.hour(), 2);
    out.push(':');
    push_padded(&mut out, date.minute(), 2);
    out.push(':');
    push_padded(&mut out, date.second(), 2);
    out.push_str(" +0000");
    out
}

/// `value` in decimal, zero-padded to `width` digits (more if it needs them).
fn push_padded(out: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut rest = value;
    let mut used = 0;
    while rest > 0 || used == 0 {
        digits[digits.len() - 1 - used] = b'0' + (rest % 10) as u8;
        rest /= 10;
        used += 1;
    }
    let shown = used.max(width).min(digits.len());
    for &digit in &digits[digits.len() - shown..] {
        out.push(char::from(digit));
    }
}

/// Offset and row count of one page of a list.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub offset: i64,
    pub limit: i64,
}

/// `SELECT {every column of ImageRow} FROM images`, for a `WHERE` to follow.
pub(super) static SELECT_IMAGES: LazyLock<String> = LazyLock::new(|| {
    let columns: Vec<&str> = RECORD_COLUMNS
        .iter()
        .chain(&StoredFile::COLUMNS)
        .copied()
        .collect();
    format!("SELECT {} FROM images", columns.join(", "))
});

/// `$first, $first+1, …`: `count` numbered placeholders, which both databases read.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A new record at sort_order `$2`, not the thumbnail (yet), created and modified at `$4`.
static INSERT_IMAGE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO images (product_id, is_thumbnail, sort_order, description, date_created, \
         date_modified, {}) VALUES ($1, FALSE, $2, $3, $4, $4, {}) RETURNING id",
        StoredFile::COLUMNS.join(", "),
        placeholders(5, StoredFile::COLUMNS.len())
    )
});

/// A PUT's changes: `$1` and `$2` (sort_order, description) keep the column when NULL; the
/// picture's columns (`$3`…) are replaced together when `$9` is true, NULLs included (a
/// picture stored under its own name has no `picture_id`).
static UPDATE_IMAGE: LazyLock<String> = LazyLock::new(|| {
    let files = StoredFile::COLUMNS.len();
    let replace = 3 + files;
    let keep_unless_given = ["sort_order", "description"]
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = COALESCE(${}, {column})", i + 1));
    let replace_file = StoredFile::COLUMNS.iter().enumerate().map(|(i, column)| {
        format!(
            "{column} = CASE WHEN ${replace} THEN ${} ELSE {column} END",
            i + 3
        )
    });
    let set: Vec<String> = keep_unless_given.chain(replace_file).collect();
    format!(
        "UPDATE images SET {}, date_modified = ${} WHERE id = ${}",
        set.join(", "),
        replace + 1,
        replace + 2
    )
});

pub async fn product_exists(conn: &mut dyn AsConn, product_id: i64) -> sqlx::Result<bool> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)")
            .bind(product_id)
            .fetch_one(&mut *c)
            .await
    })
}

static SELECT_PRODUCT: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1"));

pub async fn get_product(
    conn: &mut dyn AsConn,
    product_id: i64,
) -> sqlx::Result<Option<ProductRow>> {
    on_both!(conn, |c| {
        sqlx::query_as(&SELECT_PRODUCT)
            .bind(product_id)
            .fetch_optional(&mut *c)
            .await
    })
}

/// Which products a list shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductFilter<'a> {
    /// A case-insensitive substring of the name.
    pub name: Option<&'a str>,
    /// Only products written at or after this time (seconds since the epoch).
    pub min_date_modified: Option<i64>,
}

/// Products in id order, filtered. Each database has its own plan (`repo/sqlite.rs`,
/// `repo/postgres.rs`): SQLite has no statistics to choose one by itself.
pub async fn list_products(
    conn: &mut dyn AsConn,
    filter: ProductFilter<'_>,
    window: Window,
) -> sqlx::Result<Vec<ProductRow>> {
    match conn.conn() {
        super::records::Conn::Sqlite(c) => sqlite::list_products(c, filter, window).await,
        super::records::Conn::Postgres(c) => postgres::list_products(c, filter, window).await,
    }
}

pub async fn product_with_sku(conn: &mut dyn AsConn, sku: &str) -> sqlx::Result<Option<i64>> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT id FROM products WHERE sku = $1 ORDER BY id LIMIT 1")
            .bind(sku)
            .fetch_optional(&mut *c)
            .await
    })
}

pub async fn count_products(conn: &mut dyn AsConn) -> sqlx::Result<i64> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT COUNT(*) FROM products")
            .fetch_one(&mut *c)
            .await
    })
}

pub async fn insert_product(
    conn: &mut dyn AsConn,
    name: &str,
    sku: &str,
    now: i64,
) -> sqlx::Result<i64> {
    on_both!(conn, |c| {
        sqlx::query_scalar(
            "INSERT INTO products (name, sku, date_created, date_modified) VALUES ($1, $2, $3, $3) \
             RETURNING id",
        )
        .bind(name)
        .bind(sku)
        .bind(now)
        .fetch_one(&mut *c)
        .await
    })
}

/// Marks the product as written at `now`: every write of one of its images calls it, inside the
/// write's transaction, so `min_date_modified` never misses a change that committed.
async fn touch_product(conn: &mut dyn AsConn, product_id: i64, now: i64) -> sqlx::Result<()> {
    on_both!(conn, |c, dialect| {
        sqlx::query(dialect.pick(
            "UPDATE products SET date_modified = MAX(date_modified, $1) WHERE id = $2",
            "UPDATE products SET date_modified = GREATEST(date_modified, $1) WHERE id = $2",
        ))
        .bind(now)
        .bind(product_id)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(())
}

/// A product's images in list order: (`sort_order`, `id`), or `id` as a BigCommerce v2 store.
pub async fn list_images(
    conn: &mut dyn AsConn,
    product_id: i64,
    window: Option<Window>,
    order: ListOrder,
) -> sqlx::Result<Vec<ImageRow>> {
    let window = window.unwrap_or(Window {
        offset: 0,
        limit: i64::MAX,
    });
    on_both!(conn, |c| {
        sqlx::query_as(page_sql(order))
            .bind(product_id)
            .bind(window.limit)
            .bind(window.offset)
            .fetch_all(&mut *c)
            .await
    })
}

/// One page of a product's images in `order`: binds the product, the limit and the offset.
pub(super) fn page_sql(order: ListOrder) -> &'static str {
    match order {
        ListOrder::SortOrder => &SELECT_PAGE_BY_SORT_ORDER,
        ListOrder::Id => &SELECT_PAGE_BY_ID,
    }
}

/// One page of a product's images, the read clients make most and the first after every write;
/// `None` if the product does not exist. Without a `window` (a malformed page the caller will
/// refuse) only the product is looked up, so that a missing product is still reported first.
/// On SQLite it bypasses sqlx (`repo/sqlite.rs`, `read_pool.rs`).
pub async fn image_page(
    records: &Records,
    product_id: i64,
    window: Option<Window>,
    order: ListOrder,
) -> Result<Option<Vec<ImageRow>>, ReadError> {
    match records {
        Records::Sqlite(db) => sqlite::image_page(&db.reads, product_id, window, order).await,
        Records::Postgres(_) => {
            let mut conn = records.read().await?;
            let rows = match window {
                Some(window) => list_images(&mut conn, product_id, Some(window), order).await?,
                None => Vec::new(),
            };
            // A row proves its product exists (foreign key): only an empty page costs a
            // second statement.
            if !rows.is_empty() || product_exists(&mut conn, product_id).await? {
                Ok(Some(rows))
            } else {
                Ok(None)
            }
        }
    }
}

static SELECT_PAGE_BY_SORT_ORDER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE product_id = $1 ORDER BY sort_order, id LIMIT $2 OFFSET $3",
        *SELECT_IMAGES
    )
});

static SELECT_PAGE_BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} WHERE product_id = $1 ORDER BY id LIMIT $2 OFFSET $3",
        *SELECT_IMAGES
    )
});

static SELECT_IMAGE: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE product_id = $1 AND id = $2", *SELECT_IMAGES));

pub async fn get_image(
    conn: &mut dyn AsConn,
    product_id: i64,
    image_id: i64,
) -> sqlx::Result<Option<ImageRow>> {
    on_both!(conn, |c| {
        sqlx::query_as(&SELECT_IMAGE)
            .bind(product_id)
            .bind(image_id)
            .fetch_optional(&mut *c)
            .await
    })
}

/// A product's image count, kept by triggers (SQLite's migration 0003, `migrations_pg/`): one
/// row read, however many images the product has.
pub async fn count_images(conn: &mut dyn AsConn, product_id: i64) -> sqlx::Result<i64> {
    let count: Option<i64> = on_both!(conn, |c| {
        sqlx::query_scalar("SELECT image_count FROM products WHERE id = $1")
            .bind(product_id)
            .fetch_optional(&mut *c)
            .await
    })?;
    Ok(count.unwrap_or(0))
}

/// The store's image count, kept by triggers: one row read.
pub async fn count_all_images(conn: &mut dyn AsConn) -> sqlx::Result<i64> {
    let count: Option<i64> = on_both!(conn, |c| {
        sqlx::query_scalar("SELECT value FROM counters WHERE name = 'images'")
            .fetch_optional(&mut *c)
            .await
    })?;
    Ok(count.unwrap_or(0))
}

/// The `image_file` of every image whose files are in the legacy layout.
pub async fn legacy_image_files(conn: &mut dyn AsConn) -> sqlx::Result<Vec<String>> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT image_file FROM images WHERE picture_id IS NULL")
            .fetch_all(&mut *c)
            .await
    })
}

/// The hash of every picture stored by content.
pub async fn picture_hashes(conn: &mut dyn AsConn) -> sqlx::Result<Vec<String>> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT hash FROM pictures")
            .fetch_all(&mut *c)
            .await
    })
}

const PICTURE_COLUMNS: &str = "id, hash, extension, width, height, file_size, perceptual_hash";

static SELECT_PICTURE: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {PICTURE_COLUMNS} FROM pictures WHERE hash = $1"));

pub async fn picture_by_hash(
    conn: &mut dyn AsConn,
    hash: &str,
) -> sqlx::Result<Option<PictureRow>> {
    on_both!(conn, |c| {
        sqlx::query_as(&SELECT_PICTURE)
            .bind(hash)
            .fetch_optional(&mut *c)
            .await
    })
}

/// Where an image's files are: `None` if no image has this `image_file`, `Some(None)` if they
/// are in the legacy layout, else its picture's (hash, extension).
pub async fn picture_of(
    conn: &mut dyn AsConn,
    image_file: &str,
) -> sqlx::Result<Option<Option<(String, String)>>> {
    let row: Option<(Option<String>, Option<String>)> = on_both!(conn, |c| {
        sqlx::query_as(
            "SELECT pictures.hash, pictures.extension FROM images \
             LEFT JOIN pictures ON pictures.id = images.picture_id WHERE images.image_file = $1",
        )
        .bind(image_file)
        .fetch_optional(&mut *c)
        .await
    })?;
    Ok(row.map(|(hash, extension)| hash.zip(extension)))
}

/// The id of the picture with this hash, its row inserted if there is none (the files are
/// already on disk: see `pictures.rs`). The row is written either way, so on PostgreSQL it
/// stays locked until the write commits: a concurrent write that removes the picture's last
/// image waits, then sees the new reference (`release`).
pub async fn upsert_picture(conn: &mut dyn AsConn, picture: &PictureRow) -> sqlx::Result<i64> {
    on_both!(conn, |c| {
        sqlx::query_scalar(
            "INSERT INTO pictures (hash, extension, width, height, file_size, perceptual_hash) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO UPDATE \
             SET perceptual_hash = COALESCE(pictures.perceptual_hash, excluded.perceptual_hash) \
             RETURNING id",
        )
        .bind(&picture.hash)
        .bind(&picture.extension)
        .bind(picture.width)
        .bind(picture.height)
        .bind(picture.file_size)
        .bind(picture.perceptual_hash)
        .fetch_one(&mut *c)
        .await
    })
}

pub async fn image_file_taken(conn: &mut dyn AsConn, image_file: &str) -> sqlx::Result<bool> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM images WHERE image_file = $1)")
            .bind(image_file)
            .fetch_one(&mut *c)
            .await
    })
}

/// What a deleted or replaced picture reference leaves to remove: a legacy image's own files,
/// or a shared picture's row (deleted here) and files if no other image uses it.
async fn release(conn: &mut dyn AsConn, file: &StoredFile) -> sqlx::Result<Option<Released>> {
    let Some(picture_id) = file.picture_id else {
        return Ok(Some(Released::Legacy(file.image_file.clone())));
    };
    let gone: Option<(String, String)> = on_both!(conn, |c, dialect| {
        if dialect == Dialect::Postgres {
            // Waits for a write that is adding an image of this picture (it holds the row
            // since `upsert_picture`); the DELETE below is a new statement, so under READ
            // COMMITTED it sees that image if it committed.
            sqlx::query("SELECT 1 FROM pictures WHERE id = $1 FOR UPDATE")
                .bind(picture_id)
                .execute(&mut *c)
                .await?;
        }
        sqlx::query_as(
            "DELETE FROM pictures WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM images WHERE picture_id = $1) RETURNING hash, extension",
        )
        .bind(picture_id)
        .fetch_optional(&mut *c)
        .await
    })?;
    Ok(gone.map(|(hash, extension)| Released::Picture { hash, extension }))
}

/// SPEC's shift rule: every other image of the product at or after `k` moves one place down.
/// Refused, before anything moves, when that would take an image past [`MAX_SORT_ORDER`]:
/// renumbering instead would move images the client did not ask to move, which a client
/// planning its writes by the shift rule (`api::reorder`) could not foresee.
async fn shift_from(
    conn: &mut dyn AsConn,
    product_id: i64,
    except_id: i64,
    k: i64,
    now: i64,
) -> Result<(), WriteError> {
    let blocking: Option<(i64, i64)> = on_both!(conn, |c| {
        sqlx::query_as(
            "SELECT id, sort_order FROM images \
             WHERE product_id = $1 AND id != $2 AND sort_order >= $3 AND sort_order >= $4 \
             ORDER BY sort_order DESC LIMIT 1",
        )
        .bind(product_id)
        .bind(except_id)
        .bind(k)
        .bind(MAX_SORT_ORDER)
        .fetch_optional(&mut *c)
        .await
    })?;
    if let Some((image_id, at)) = blocking {
        return Err(WriteError::SortOrderFull { image_id, at });
    }
    on_both!(conn, |c| {
        sqlx::query(
            "UPDATE images SET sort_order = sort_order + 1, date_modified = $1 \
             WHERE product_id = $2 AND id != $3 AND sort_order >= $4",
        )
        .bind(now)
        .bind(product_id)
        .bind(except_id)
        .bind(k)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(())
}

/// Fields of a new image record.
pub struct NewImage<'a> {
    pub product_id: i64,
    pub file: &'a StoredFile,
    pub sort_order: Option<i64>,
    pub is_thumbnail: Option<bool>,
    pub description: &'a str,
}

/// Inserts an image, applying the shift rule and the thumbnail invariant. Returns its id.
pub async fn insert_image(
    conn: &mut dyn AsConn,
    new: NewImage<'_>,
    now: i64,
) -> Result<i64, WriteError> {
    let k = match new.sort_order {
        Some(k) => {
            // The new row has no id yet, so "every other image" is every image: except id 0.
            shift_from(conn, new.product_id, 0, k, now).await?;
            k
        }
        None => {
            let last: Option<(i64, i64)> = on_both!(conn, |c| {
                sqlx::query_as(
                    "SELECT id, sort_order FROM images WHERE product_id = $1 \
                     ORDER BY sort_order DESC, id DESC LIMIT 1",
                )
                .bind(new.product_id)
                .fetch_optional(&mut *c)
                .await
            })?;
            match last {
                None => 0,
                // A tie at the largest value would list the new image last too, but two images
                // there could then never move (each move would shift the other past it).
                Some((image_id, at)) if at >= MAX_SORT_ORDER => {
                    return Err(WriteError::SortOrderFull { image_id, at });
                }
                Some((_, at)) => at + 1,
            }
        }
    };
    let id: i64 = on_both!(conn, |c| {
        let query = sqlx::query(&INSERT_IMAGE)
            .bind(new.product_id)
            .bind(k)
            .bind(new.description)
            .bind(now);
        bind_file!(query, Some(new.file))
            .fetch_one(&mut *c)
            .await?
            .try_get("id")
    })?;
    if new.is_thumbnail == Some(true) {
        set_thumbnail(conn, new.product_id, id, now).await?;
    }
    ensure_one_thumbnail(conn, new.product_id, None, now).await?;
    touch_product(conn, new.product_id, now).await?;
    Ok(id)
}

/// Changes of an existing image record (`None` leaves a field as it is).
#[derive(Debug, Default)]
pub struct ImageChanges {
    pub sort_order: Option<i64>,
    pub is_thumbnail: Option<bool>,
    pub description: Option<String>,
    pub file: Option<StoredFile>,
}

/// Applies a PUT. The caller has checked that the image exists. Returns the files of the
/// picture it replaced, if they are no longer used.
pub async fn update_image(
    conn: &mut dyn AsConn,
    current: &ImageRow,
    changes: ImageChanges,
    now: i64,
) -> Result<Option<Released>, WriteError> {
    let replaced = changes.file.is_some();
    let (product_id, id) = (current.product_id, current.id);
    if let Some(k) = changes.sort_order
        && k != current.sort_order
    {
        shift_from(conn, product_id, id, k, now).await?;
    }
    on_both!(conn, |c| {
        let query = sqlx::query(&UPDATE_IMAGE)
            .bind(changes.sort_order)
            .bind(changes.description.as_deref());
        bind_file!(query, changes.file.as_ref())
            .bind(replaced)
            .bind(now)
            .bind(id)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected())
    })?;
    match changes.is_thumbnail {
        Some(true) => set_thumbnail(conn, product_id, id, now).await?,
        Some(false) if current.is_thumbnail => {
            on_both!(conn, |c| {
                sqlx::query("UPDATE images SET is_thumbnail = FALSE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *c)
                    .await
                    .map(|done| done.rows_affected())
            })?;
            ensure_one_thumbnail(conn, product_id, Some(id), now).await?;
        }
        _ => {}
    }
    ensure_one_thumbnail(conn, product_id, None, now).await?;
    touch_product(conn, product_id, now).await?;
    if replaced {
        Ok(release(conn, &current.file).await?)
    } else {
        Ok(None)
    }
}

/// Deletes one image: `None` if it did not exist, else the files it leaves unused (if any).
pub async fn delete_image(
    conn: &mut dyn AsConn,
    product_id: i64,
    image_id: i64,
    now: i64,
) -> sqlx::Result<Option<Option<Released>>> {
    let Some(row) = get_image(conn, product_id, image_id).await? else {
        return Ok(None);
    };
    delete_row(conn, row.id).await?;
    ensure_one_thumbnail(conn, product_id, None, now).await?;
    touch_product(conn, product_id, now).await?;
    Ok(Some(release(conn, &row.file).await?))
}

/// Deletes all of a product's images, or one page of them in list order. Returns the files
/// they leave unused.
pub async fn delete_images(
    conn: &mut dyn AsConn,
    product_id: i64,
    window: Option<Window>,
    order: ListOrder,
    now: i64,
) -> sqlx::Result<Vec<Released>> {
    let mut doomed = list_images(conn, product_id, window, order).await?;
    for row in &doomed {
        delete_row(conn, row.id).await?;
    }
    ensure_one_thumbnail(conn, product_id, None, now).await?;
    if !doomed.is_empty() {
        touch_product(conn, product_id, now).await?;
    }
    // Pictures in id order: two writes that release shared pictures lock them (PostgreSQL)
    // in the same order.
    doomed.sort_by_key(|row| row.file.picture_id);
    let mut released = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in &doomed {
        // Many images of one product may share a picture: look at each picture once.
        if row.file.picture_id.is_none_or(|id| seen.insert(id))
            && let Some(files) = release(conn, &row.file).await?
        {
            released.push(files);
        }
    }
    Ok(released)
}

async fn delete_row(conn: &mut dyn AsConn, image_id: i64) -> sqlx::Result<()> {
    on_both!(conn, |c| {
        sqlx::query("DELETE FROM images WHERE id = $1")
            .bind(image_id)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(())
}

async fn set_thumbnail(
    conn: &mut dyn AsConn,
    product_id: i64,
    image_id: i64,
    now: i64,
) -> sqlx::Result<()> {
    on_both!(conn, |c| {
        sqlx::query(
            "UPDATE images SET is_thumbnail = (id = $2), date_modified = $3 \
             WHERE product_id = $1 AND (is_thumbnail OR id = $2)",
        )
        .bind(product_id)
        .bind(image_id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(())
}

/// Restores "a product that has images has exactly one thumbnail": with none, the first image
/// in list order other than `avoid` gets the flag (`avoid` itself if it is the only image).
async fn ensure_one_thumbnail(
    conn: &mut dyn AsConn,
    product_id: i64,
    avoid: Option<i64>,
    now: i64,
) -> sqlx::Result<()> {
    let thumbnails: Vec<i64> = on_both!(conn, |c| {
        sqlx::query_scalar(
            "SELECT id FROM images WHERE product_id = $1 AND is_thumbnail \
             ORDER BY sort_order, id",
        )
        .bind(product_id)
        .fetch_all(&mut *c)
        .await
    })?;
    if thumbnails.len() == 1 {
        return Ok(());
    }
    if let Some(&first) = thumbnails.first() {
        // More than one can only come from an older database; keep the first.
        return set_thumbnail(conn, product_id, first, now).await;
    }
    let candidate: Option<i64> = on_both!(conn, |c| {
        sqlx::query_scalar(
            "SELECT id FROM images WHERE product_id = $1 \
             ORDER BY (id = $2), sort_order, id LIMIT 1",
        )
        .bind(product_id)
        .bind(avoid.unwrap_or(0))
        .fetch_optional(&mut *c)
        .await
    })?;
    match candidate {
        Some(id) => set_thumbnail(conn, product_id, id, now).await,
        None => Ok(()),
    }
}

/// A create replayed from its `Idempotency-Key`: the first response's status and body.
pub async fn find_idempotent(
    conn: &mut dyn AsConn,
    product_id: i64,
    key: &str,
    not_before: i64,
) -> sqlx::Result<Option<(i64, String)>> {
    on_both!(conn, |c| {
        sqlx::query_as(
            "SELECT status, body FROM idempotency_keys \
             WHERE product_id = $1 AND key = $2 AND created_at >= $3",
        )
        .bind(product_id)
        .bind(key)
        .bind(not_before)
        .fetch_optional(&mut *c)
        .await
    })
}

pub async fn remember_idempotent(
    conn: &mut dyn AsConn,
    product_id: i64,
    key: &str,
    status: i64,
    image_id: i64,
    body: &str,
    now: i64,
) -> sqlx::Result<()> {
    on_both!(conn, |c| {
        sqlx::query(
            "INSERT INTO idempotency_keys (product_id, key, status, image_id, body, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (product_id, key) DO UPDATE \
             SET status = excluded.status, image_id = excluded.image_id, \
             body = excluded.body, created_at = excluded.created_at",
        )
        .bind(product_id)
        .bind(key)
        .bind(status)
        .bind(image_id)
        .bind(body)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(())
}

pub async fn forget_idempotent_before(conn: &mut dyn AsConn, cutoff: i64) -> sqlx::Result<()> {
    on_both!(conn, |c| {
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
            .bind(cutoff)
            .execute(&mut *c)
            .await
            .map(|done| done.rows_affected())
    })?;
    Ok(())
}

pub async fn get_setting(conn: &mut dyn AsConn, name: &str) -> sqlx::Result<Option<String>> {
    on_both!(conn, |c| {
        sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut *c)
            .await
    })
}

pub async fn set_setting(conn: &mut dyn AsConn, name: &str, value: &str) -> sqlx::Result<()> {
    on_both!(conn, |c| {
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(name)
        .bind(value)
        .execute(&mut *c)
        .await
        .map(|done| done.rows_affected())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2822_writes_what_chrono_writes() {
        for timestamp in [0, 1_356_115_944, 1_800_000_000, 951_782_400, 4_102_444_799] {
            let expected = chrono::DateTime::from_timestamp(timestamp, 0)
                .unwrap()
                .format("%a, %d %b %Y %H:%M:%S +0000")
                .to_string();
            assert_eq!(rfc2822(timestamp), expected);
        }
        assert_eq!(rfc2822(1_356_115_944), "Fri, 21 Dec 2012 18:52:24 +0000");
        assert_eq!(rfc2822(-62_135_596_800), "Mon, 01 Jan 0001 00:00:00 +0000");
        let mut padded = String::new();
        for (value, width) in [
            (0, 2),
            (7, 2),
            (31, 2),
            (2026, 4),
            (12345, 4),
            (u32::MAX, 2),
        ] {
            push_padded(&mut padded, value, width);
            padded.push(' ');
        }
        assert_eq!(padded, "00 07 31 2026 12345 4294967295 ");
    }

    async fn insert_raw_image(
        conn: &mut sqlx::SqliteConnection,
        product: i64,
        n: i64,
        sort_order: i64,
        picture: Option<i64>,
    ) {
        sqlx::query(
            "INSERT INTO images (product_id, image_file, is_thumbnail, sort_order, description, \
             date_created, date_modified, width, height, file_size, picture_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(product)
        .bind(format!("p/{n:03}.jpg"))
        .bind(n == 2)
        .bind(sort_order)
        .bind(format!("image {n}, «quoted»"))
        .bind(1_000 + n)
        .bind(2_000 + n)
        .bind(640 + n)
        .bind(480 + n)
        .bind(10_000 + n)
        .bind(picture)
        .execute(conn)
        .await
        .unwrap();
    }

    fn ids(rows: &[ImageRow]) -> Vec<i64> {
        rows.iter().map(|r| r.id).collect()
    }

    /// The plain-SQLite page (`image_page`, read by position) is the very rows sqlx's `FromRow`
    /// reads by name, in both orders and for every window: a column added to `ImageRow` or
    /// moved in `SELECT_IMAGES` fails here, not in production.
    #[tokio::test]
    async fn rusqlite_reads_the_rows_sqlx_reads() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::db::Db::open(&dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        let mut w = db.writer.acquire().await.unwrap();
        sqlx::query("INSERT INTO products (id, name, sku, date_created) VALUES (1, 'a', '', 0), (2, 'b', '', 0)")
            .execute(&mut *w)
            .await
            .unwrap();
        sqlx::query("INSERT INTO pictures (id, hash, extension, width, height, file_size) VALUES (5, 'ab', 'jpg', 1, 1, 1)")
            .execute(&mut *w)
            .await
            .unwrap();
        for (n, sort_order) in [(1, 3), (2, 0), (3, 3), (4, 1)] {
            let picture = (n % 2 == 0).then_some(5);
            insert_raw_image(&mut w, 1, n, sort_order, picture).await;
        }
        drop(w);
        for order in [ListOrder::SortOrder, ListOrder::Id] {
            for (offset, limit) in [(0, 50), (1, 2), (3, 1), (4, 10)] {
                let window = Window { offset, limit };
                let by_sqlx = list_images(
                    &mut db.reader.acquire().await.unwrap(),
                    1,
                    Some(window),
                    order,
                )
                .await
                .unwrap();
                let by_rusqlite = sqlite::image_page(&db.reads, 1, Some(window), order)
                    .await
                    .unwrap()
                    .expect("the product exists");
                assert_eq!(format!("{by_rusqlite:?}"), format!("{by_sqlx:?}"));
            }
        }
        let all = Some(Window {
            offset: 0,
            limit: 50,
        });
        let sorted = sqlite::image_page(&db.reads, 1, all, ListOrder::SortOrder)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ids(&sorted), [2, 4, 1, 3]);
        assert!(sorted[0].is_thumbnail && sorted[1].file.picture_id == Some(5));
        // A product without images has an empty page; a missing one has none; without a
        // window only the product is looked up.
        assert_eq!(
            sqlite::image_page(&db.reads, 2, all, ListOrder::SortOrder)
                .await
                .unwrap()
                .map(|r| r.len()),
            Some(0)
        );
        assert!(
            sqlite::image_page(&db.reads, 3, all, ListOrder::SortOrder)
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            sqlite::image_page(&db.reads, 1, None, ListOrder::SortOrder)
                .await
                .unwrap()
                .map(|r| r.len()),
            Some(0)
        );
        assert!(
            sqlite::image_page(&db.reads, 3, None, ListOrder::SortOrder)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// Read after write: a write committed on the writer pool is in the very next page read on
    /// the plain-SQLite pool, whose connections are already open and have read before.
    #[tokio::test]
    async fn a_page_read_after_a_commit_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = super::super::db::Db::open(&dir.path().join("db.sqlite3"))
            .await
            .unwrap();
        let all = Some(Window {
            offset: 0,
            limit: 50,
        });
        let mut w = db.writer.acquire().await.unwrap();
        sqlx::query("INSERT INTO products (id, name, sku, date_created) VALUES (1, 'a', '', 0)")
            .execute(&mut *w)
            .await
            .unwrap();
        for n in 1..=3 {
            insert_raw_image(&mut w, 1, n, n, None).await;
        }
        let page = |db: &super::super::db::Db| {
            let reads = db.reads.clone();
            async move {
                ids(&sqlite::image_page(&reads, 1, all, ListOrder::SortOrder)
                    .await
                    .unwrap()
                    .unwrap())
            }
        };
        // Several reads at once, so that more than one connection holds a cached page.
        let before = futures_util::future::join_all((0..4).map(|_| page(&db))).await;
        assert!(before.iter().all(|ids| ids == &[1, 2, 3]), "{before:?}");
        let mut tx = sqlx::Connection::begin(&mut *w).await.unwrap();
        sqlx::query("UPDATE images SET sort_order = 0 WHERE id = 3")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let after = futures_util::future::join_all((0..4).map(|_| page(&db))).await;
        assert!(after.iter().all(|ids| ids == &[3, 1, 2]), "{after:?}");
        sqlx::query("DELETE FROM products WHERE id = 1")
            .execute(&mut *w)
            .await
            .unwrap();
        assert!(
            sqlite::image_page(&db.reads, 1, all, ListOrder::SortOrder)
                .await
                .unwrap()
                .is_none()
        );
    }

    // ---------------------------------------------------------------------------------------
    // The same tests on SQLite and on PostgreSQL (`records::test_stores`).

    use crate::server::records::{WriteTx, another_node, test_stores};

    fn file(n: i64, picture_id: Option<i64>) -> StoredFile {
        StoredFile {
            image_file: format!("a/{n:03}/image__{n:05}.jpg"),
            width: 640,
            height: 480,
            file_size: 1000 + n,
            picture_id,
            perceptual_hash: Some(-n),
        }
    }

    async fn add(
        tx: &mut WriteTx,
        product_id: i64,
        n: i64,
        sort_order: Option<i64>,
        is_thumbnail: Option<bool>,
    ) -> i64 {
        let stored = file(n, None);
        let new = NewImage {
            product_id,
            file: &stored,
            sort_order,
            is_thumbnail,
            description: "",
        };
        insert_image(tx, new, 1_000 + n).await.unwrap()
    }

    /// (id, sort_order, is_thumbnail) of the product's images in list order.
    async fn listed(records: &Records, product_id: i64) -> Vec<(i64, i64, bool)> {
        let rows = image_page(records, product_id, Some(ALL), ListOrder::SortOrder)
            .await
            .unwrap()
            .unwrap();
        rows.iter()
            .map(|r| (r.id, r.sort_order, r.is_thumbnail))
            .collect()
    }

    const ALL: Window = Window {
        offset: 0,
        limit: 250,
    };

    async fn new_product(records: &Records, name: &str, sku: &str, now: i64) -> i64 {
        let mut tx = records.write().await.unwrap();
        let id = insert_product(&mut tx, name, sku, now).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// SPEC's shift rule and "exactly one thumbnail", write by write, on both databases: the
    /// same statements give the same lists.
    #[tokio::test]
    async fn the_shift_rule_and_one_thumbnail_hold_on_every_database() {
        let dir = tempfile::tempdir().unwrap();
        for records in test_stores(dir.path()).await {
            let p = new_product(&records, "Lamp", "L-1", 100).await;
            let mut tx = records.write_product(p).await.unwrap();
            let a = add(&mut tx, p, 1, None, None).await;
            let b = add(&mut tx, p, 2, None, None).await;
            let c = add(&mut tx, p, 3, None, None).await;
            tx.commit().await.unwrap();
            assert_eq!(
                listed(&records, p).await,
                [(a, 0, true), (b, 1, false), (c, 2, false)]
            );
            // A new image at 1 moves every image at or after 1 down one place.
            let mut tx = records.write_product(p).await.unwrap();
            let d = add(&mut tx, p, 4, Some(1), Some(true)).await;
            tx.commit().await.unwrap();
            assert_eq!(
                listed(&records, p).await,
                [(a, 0, false), (d, 1, true), (b, 2, false), (c, 3, false)]
            );
            // Unsetting the thumbnail moves it to the first other image; moving an image to 0
            // shifts the others.
            let mut tx = records.write_product(p).await.unwrap();
            let row = get_image(&mut tx, p, d).await.unwrap().unwrap();
            let changes = ImageChanges {
                is_thumbnail: Some(false),
                ..ImageChanges::default()
            };
            update_image(&mut tx, &row, changes, 2_000).await.unwrap();
            let row = get_image(&mut tx, p, c).await.unwrap().unwrap();
            let changes = ImageChanges {
                sort_order: Some(0),
                description: Some("moved «first»".into()),
                ..ImageChanges::default()
            };
            update_image(&mut tx, &row, changes, 2_000).await.unwrap();
            tx.commit().await.unwrap();
            assert_eq!(
                listed(&records, p).await,
                [(c, 0, false), (a, 1, true), (d, 2, false), (b, 3, false)]
            );
            let mut conn = records.read().await.unwrap();
            let moved = get_image(&mut conn, p, c).await.unwrap().unwrap();
            assert_eq!(moved.description, "moved «first»");
            assert_eq!(moved.date_modified, 2_000);
            assert_eq!(moved.file.perceptual_hash, Some(-3));
            assert_eq!(count_images(&mut conn, p).await.unwrap(), 4);
            assert_eq!(count_all_images(&mut conn).await.unwrap(), 4);
            let product = get_product(&mut conn, p).await.unwrap().unwrap();
            assert_eq!((product.date_created, product.date_modified), (100, 2_000));
            drop(conn);
            // Deleting the thumbnail moves the flag to the first image left.
            let mut tx = records.write_product(p).await.unwrap();
            assert_eq!(
                delete_image(&mut tx, p, a, 3_000).await.unwrap(),
                Some(Some(Released::Legacy(file(1, None).image_file)))
            );
            assert_eq!(delete_image(&mut tx, p, a, 3_000).await.unwrap(), None);
            tx.commit().await.unwrap();
            assert_eq!(
                listed(&records, p).await,
                [(c, 0, true), (d, 2, false), (b, 3, false)]
            );
            // Past the largest sort_order: refused, nothing moved.
            let mut tx = records.write_product(p).await.unwrap();
            let row = get_image(&mut tx, p, b).await.unwrap().unwrap();
            let changes = ImageChanges {
                sort_order: Some(MAX_SORT_ORDER),
                ..ImageChanges::default()
            };
            update_image(&mut tx, &row, changes, 4_000).await.unwrap();
            let stored = file(9, None);
            let refused = insert_image(
                &mut tx,
                NewImage {
                    product_id: p,
                    file: &stored,
                    sort_order: None,
                    is_thumbnail: None,
                    description: "",
                },
                4_000,
            )
            .await;
            assert!(
                matches!(refused, Err(WriteError::SortOrderFull { image_id, .. }) if image_id == b),
                "{refused:?}"
            );
            drop(tx);
            // A page of one, then the rest; deleting a page deletes only it.
            let mut tx = records.write_product(p).await.unwrap();
            let window = Window {
                offset: 1,
                limit: 1,
            };
            let released = delete_images(&mut tx, p, Some(window), ListOrder::SortOrder, 5_000)
                .await
                .unwrap();
            assert_eq!(released, [Released::Legacy(file(4, None).image_file)]);
            tx.commit().await.unwrap();
            assert_eq!(listed(&records, p).await, [(c, 0, true), (b, 3, false)]);
            let mut tx = records.write_product(p).await.unwrap();
            assert_eq!(
                delete_images(&mut tx, p, None, ListOrder::Id, 6_000)
                    .await
                    .unwrap()
                    .len(),
                2
            );
            tx.commit().await.unwrap();
            assert_eq!(listed(&records, p).await, []);
            let mut conn = records.read().await.unwrap();
            assert_eq!(count_images(&mut conn, p).await.unwrap(), 0);
            assert_eq!(count_all_images(&mut conn).await.unwrap(), 0);
            assert!(
                image_page(&records, p + 1, Some(ALL), ListOrder::SortOrder)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                image_page(&records, p, None, ListOrder::SortOrder)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    }

    /// Products, their filters, idempotency keys and settings read and write the same on both
    /// databases.
    #[tokio::test]
    async fn products_keys_and_settings_on_every_database() {
        let dir = tempfile::tempdir().unwrap();
        for records in test_stores(dir.path()).await {
            let lamp = new_product(&records, "Brass Desk LAMP", "L-1", 100).await;
            let mug = new_product(&records, "Mug", "M-1", 200).await;
            let old = new_product(&records, "Old lamp", "L-2", 50).await;
            assert!(lamp < mug && mug < old);
            let mut conn = records.read().await.unwrap();
            assert!(product_exists(&mut conn, mug).await.unwrap());
            assert!(!product_exists(&mut conn, old + 1).await.unwrap());
            assert_eq!(count_products(&mut conn).await.unwrap(), 3);
            assert_eq!(product_with_sku(&mut conn, "M-1").await.unwrap(), Some(mug));
            assert_eq!(product_with_sku(&mut conn, "X").await.unwrap(), None);
            let names = |rows: Vec<ProductRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
            let lamps = ProductFilter {
                name: Some("lamp"),
                min_date_modified: None,
            };
            assert_eq!(
                names(list_products(&mut conn, lamps, ALL).await.unwrap()),
                [lamp, old]
            );
            let recent = ProductFilter {
                name: None,
                min_date_modified: Some(100),
            };
            assert_eq!(
                names(list_products(&mut conn, recent, ALL).await.unwrap()),
                [lamp, mug]
            );
            let recent_lamps = ProductFilter {
                name: Some("LAMP"),
                min_date_modified: Some(100),
            };
            assert_eq!(
                names(list_products(&mut conn, recent_lamps, ALL).await.unwrap()),
                [lamp]
            );
            let second = Window {
                offset: 1,
                limit: 1,
            };
            assert_eq!(
                names(
                    list_products(&mut conn, ProductFilter::default(), second)
                        .await
                        .unwrap()
                ),
                [mug]
            );
            drop(conn);

            let mut tx = records.write_product(mug).await.unwrap();
            assert_eq!(find_idempotent(&mut tx, mug, "k", 0).await.unwrap(), None);
            remember_idempotent(&mut tx, mug, "k", 201, 7, "{\"id\":7}", 1_000)
                .await
                .unwrap();
            remember_idempotent(&mut tx, mug, "k", 201, 8, "{\"id\":8}", 1_500)
                .await
                .unwrap();
            remember_idempotent(&mut tx, lamp, "k", 201, 9, "{}", 500)
                .await
                .unwrap();
            set_setting(&mut tx, "demo_seeded", "0").await.unwrap();
            set_setting(&mut tx, "demo_seeded", "1").await.unwrap();
            tx.commit().await.unwrap();
            let mut conn = records.read().await.unwrap();
            assert_eq!(
                find_idempotent(&mut conn, mug, "k", 1_000).await.unwrap(),
                Some((201, "{\"id\":8}".to_owned()))
            );
            assert_eq!(
                find_idempotent(&mut conn, mug, "k", 1_501).await.unwrap(),
                None
            );
            assert_eq!(find_idempotent(&mut conn, old, "k", 0).await.unwrap(), None);
            assert_eq!(
                get_setting(&mut conn, "demo_seeded")
                    .await
                    .unwrap()
                    .as_deref(),
                Some("1")
            );
            assert_eq!(get_setting(&mut conn, "other").await.unwrap(), None);
            drop(conn);
            let mut tx = records.write().await.unwrap();
            forget_idempotent_before(&mut tx, 1_000).await.unwrap();
            tx.commit().await.unwrap();
            let mut conn = records.read().await.unwrap();
            assert!(
                find_idempotent(&mut conn, lamp, "k", 0)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert!(
                find_idempotent(&mut conn, mug, "k", 0)
                    .await
                    .unwrap()
                    .is_some()
            );
        }
    }

    /// A shared picture's row lives while an image points to it, on both databases.
    #[tokio::test]
    async fn a_picture_goes_with_its_last_image_on_every_database() {
        let dir = tempfile::tempdir().unwrap();
        for records in test_stores(dir.path()).await {
            let p = new_product(&records, "P", "", 1).await;
            let q = new_product(&records, "Q", "", 1).await;
            let picture = PictureRow {
                id: 0,
                hash: "ab".repeat(32),
                extension: "jpg".into(),
                width: 3,
                height: 2,
                file_size: 10,
                perceptual_hash: None,
            };
            let mut tx = records.write_product(p).await.unwrap();
            let id = upsert_picture(&mut tx, &picture).await.unwrap();
            let hashed = PictureRow {
                perceptual_hash: Some(42),
                ..picture.clone()
            };
            assert_eq!(upsert_picture(&mut tx, &hashed).await.unwrap(), id);
            let (one, two) = (file(1, Some(id)), file(2, Some(id)));
            for (product, stored) in [(p, &one), (q, &two)] {
                let new = NewImage {
                    product_id: product,
                    file: stored,
                    sort_order: None,
                    is_thumbnail: None,
                    description: "",
                };
                insert_image(&mut tx, new, 5).await.unwrap();
            }
            assert!(image_file_taken(&mut tx, &one.image_file).await.unwrap());
            assert!(
                !image_file_taken(&mut tx, "z/000/none__00000.jpg")
                    .await
                    .unwrap()
            );
            tx.commit().await.unwrap();
            let mut conn = records.read().await.unwrap();
            let found = picture_by_hash(&mut conn, &picture.hash)
                .await
                .unwrap()
                .unwrap();
            assert_eq!((found.id, found.perceptual_hash), (id, Some(42)));
            assert_eq!(
                picture_of(&mut conn, &two.image_file).await.unwrap(),
                Some(Some((picture.hash.clone(), "jpg".to_owned())))
            );
            assert_eq!(picture_of(&mut conn, "nothing.jpg").await.unwrap(), None);
            assert_eq!(
                picture_hashes(&mut conn).await.unwrap(),
                std::slice::from_ref(&picture.hash)
            );
            assert!(legacy_image_files(&mut conn).await.unwrap().is_empty());
            drop(conn);
            let mut tx = records.write_product(p).await.unwrap();
            let released = delete_images(&mut tx, p, None, ListOrder::SortOrder, 9)
                .await
                .unwrap();
            assert!(released.is_empty(), "Q still uses the picture");
            tx.commit().await.unwrap();
            let mut tx = records.write_product(q).await.unwrap();
            let row = list_images(&mut tx, q, None, ListOrder::SortOrder)
                .await
                .unwrap();
            // Replacing the picture releases it.
            let changes = ImageChanges {
                file: Some(file(3, None)),
                ..ImageChanges::default()
            };
            assert_eq!(
                update_image(&mut tx, &row[0], changes, 10).await.unwrap(),
                Some(Released::Picture {
                    hash: picture.hash.clone(),
                    extension: "jpg".into()
                })
            );
            tx.commit().await.unwrap();
            let mut conn = records.read().await.unwrap();
            assert!(
                picture_by_hash(&mut conn, &picture.hash)
                    .await
                    .unwrap()
                    .is_none()
            );
            assert_eq!(
                legacy_image_files(&mut conn).await.unwrap(),
                [file(3, None).image_file]
            );
        }
    }

    /// Two nodes over one store append to one product at once, 20 each: every write sees the
    /// ones committed before it (the product's row lock on PostgreSQL, the single writer on
    /// SQLite), so no two images tie, none is lost, and there is one thumbnail.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_appends_from_two_nodes_never_tie() {
        let dir = tempfile::tempdir().unwrap();
        for records in test_stores(dir.path()).await {
            let nodes = [records.clone(), another_node(&records).await];
            let p = new_product(&records, "P", "", 1).await;
            let mut writes = Vec::new();
            for n in 0..40 {
                let node = nodes[n % 2].clone();
                writes.push(tokio::spawn(async move {
                    let mut tx = node.write_product(p).await.unwrap();
                    add(&mut tx, p, n as i64, None, None).await;
                    // Widens the window between the read of the last place and the commit.
                    tokio::task::yield_now().await;
                    tx.commit().await.unwrap();
                }));
            }
            for write in writes {
                write.await.unwrap();
            }
            let listed = listed(&records, p).await;
            let mut places: Vec<i64> = listed.iter().map(|(_, at, _)| *at).collect();
            places.sort_unstable();
            assert_eq!(places, (0..40).collect::<Vec<_>>(), "{listed:?}");
            assert_eq!(listed.iter().filter(|(_, _, thumb)| *thumb).count(), 1);
            let mut conn = records.read().await.unwrap();
            assert_eq!(count_images(&mut conn, p).await.unwrap(), 40);
            assert_eq!(count_all_images(&mut conn).await.unwrap(), 40);
        }
    }
}
