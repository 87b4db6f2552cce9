//! The replica database: connection pools, schema, and the reads the UI makes.
//!
//! As in the server, writes go through a pool of exactly one connection so that write
//! transactions queue in the process (the outbox's coalescing relies on that), and reads use a
//! separate pool that WAL never blocks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use super::SyncError;
use super::model::{ImageId, LocalImage, OutboxEntry, ProductSummary, SyncState};
use super::outbox::{Outbox, QueueCounts};
use super::store_hashes;
use crate::api::Image;

#[derive(Clone)]
pub(crate) struct Replica {
    pub reader: SqlitePool,
    pub writer: SqlitePool,
    pub blobs: PathBuf,
}

impl Replica {
    pub async fn open(dir: &Path) -> Result<Replica, SyncError> {
        let blobs = dir.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(|e| SyncError::io(&blobs, e))?;
        let path = dir.join("replica.sqlite");
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an edit the call acknowledged survives a power cut, not just a crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(30));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./src/sync/migrations").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Replica {
            reader,
            writer,
            blobs,
        })
    }

    pub async fn products(&self) -> Result<Vec<ProductSummary>, SyncError> {
        let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
            "SELECT p.id, p.name, p.sku,
                (SELECT COUNT(*) FROM images i WHERE i.product_id = p.id AND i.hidden = 0),
                (SELECT COUNT(*) FROM images i WHERE i.product_id = p.id AND i.hidden = 0
                    AND i.is_thumbnail = 1)
             FROM products p ORDER BY p.id",
        )
        .fetch_all(&self.reader)
        .await?;
        let pending = Outbox::on(&mut *self.reader.acquire().await?)
            .count_by_product()
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, sku, count, thumbs)| ProductSummary {
                id,
                name,
                sku,
                image_count: count.max(0) as u64,
                has_thumbnail: thumbs > 0,
                pending_edits: pending.get(&id).copied().unwrap_or(0),
            })
            .collect())
    }

    /// The product's visible images in display order, with their sync states.
    pub async fn images(&self, product_id: i64) -> Result<Vec<LocalImage>, SyncError> {
        let rows: Vec<ImageRow> = sqlx::query_as(
            "SELECT * FROM images WHERE product_id = ? AND hidden = 0
             ORDER BY position, local_id",
        )
        .bind(product_id)
        .fetch_all(&self.reader)
        .await?;
        let states = self.sync_states(product_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let sync = states
                    .get(&ImageId(row.local_id))
                    .cloned()
                    .unwrap_or(SyncState::Synced);
                row.into_local(sync)
            })
            .collect())
    }

    /// Every visible image of every product, by product id then display order, in one query:
    /// the store commands that read the whole catalogue (counts, report, export) would
    /// otherwise ask once per product (100,000 queries for a large store).
    pub async fn catalogue_images(&self) -> Result<Vec<LocalImage>, SyncError> {
        let rows: Vec<ImageRow> = sqlx::query_as(
            "SELECT * FROM images WHERE hidden = 0 ORDER BY product_id, position, local_id",
        )
        .fetch_all(&self.reader)
        .await?;
        let mut states: HashMap<i64, HashMap<ImageId, SyncState>> = HashMap::new();
        let with_edits = Outbox::on(&mut *self.reader.acquire().await?)
            .count_by_product()
            .await?;
        for &product_id in with_edits.keys() {
            states.insert(product_id, self.sync_states(product_id).await?);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let sync = states
                    .get(&row.product_id)
                    .and_then(|s| s.get(&ImageId(row.local_id)))
                    .cloned()
                    .unwrap_or(SyncState::Synced);
                row.into_local(sync)
            })
            .collect())
    }

    pub async fn image(&self, id: ImageId) -> Result<Option<LocalImage>, SyncError> {
        let row: Option<ImageRow> =
            sqlx::query_as("SELECT * FROM images WHERE local_id = ? AND hidden = 0")
                .bind(id.0)
                .fetch_optional(&self.reader)
                .await?;
        let Some(row) = row else { return Ok(None) };
        let states = self.sync_states(row.product_id).await?;
        let sync = states
            .get(&ImageId(row.local_id))
            .cloned()
            .unwrap_or(SyncState::Synced);
        Ok(Some(row.into_local(sync)))
    }

    async fn sync_states(&self, product_id: i64) -> Result<HashMap<ImageId, SyncState>, SyncError> {
        Outbox::on(&mut *self.reader.acquire().await?)
            .sync_states(product_id)
            .await
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>, SyncError> {
        Outbox::on(&mut *self.reader.acquire().await?)
            .entries()
            .await
    }

    /// The queue's counts, read on the writer so that an edit just made counts.
    pub async fn queue_counts(&self) -> Result<QueueCounts, SyncError> {
        Outbox::on(&mut *self.writer.acquire().await?)
            .counts()
            .await
    }

    pub fn blob_path(&self, blob: &str) -> PathBuf {
        self.blobs.join(blob)
    }

    /// Removes engine-owned picture copies that no queued edit refers to (left by a crash
    /// between writing the copy and committing its edit).
    pub async fn remove_orphan_blobs(&self) -> Result<usize, SyncError> {
        let known = Outbox::on(&mut *self.writer.acquire().await?)
            .blobs()
            .await?;
        let entries = std::fs::read_dir(&self.blobs).map_err(|e| SyncError::io(&self.blobs, e))?;
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !known.contains(&name) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// The store's record of an image, as the replica keeps it: every field the store owns. A pull
/// compares whole records, so a field added here (and to the wire type and the table) syncs
/// without touching the merge.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub(crate) struct StoreRecord {
    pub sort_order: i64,
    pub is_thumbnail: bool,
    pub description: String,
    pub image_file: String,
    pub date_created: String,
    pub date_modified: Option<String>,
    pub zoom_url: Option<String>,
    pub standard_url: Option<String>,
    pub thumbnail_url: Option<String>,
    pub tiny_url: Option<String>,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub file_size: Option<i64>,
}

impl From<&Image> for StoreRecord {
    fn from(image: &Image) -> StoreRecord {
        StoreRecord {
            sort_order: image.sort_order,
            is_thumbnail: image.is_thumbnail,
            description: image.description.clone(),
            image_file: image.image_file.clone(),
            date_created: image.date_created.clone(),
            date_modified: image.date_modified.clone(),
            zoom_url: image.zoom_url.clone(),
            standard_url: image.standard_url.clone(),
            thumbnail_url: image.thumbnail_url.clone(),
            tiny_url: image.tiny_url.clone(),
            width: image.width.map(i64::from),
            height: image.height.map(i64::from),
            file_size: image.file_size.and_then(|v| i64::try_from(v).ok()),
        }
    }
}

impl StoreRecord {
    /// The store's record with the fields that pending local edits protect taken from
    /// `local` instead: what the row should hold after a pull.
    pub fn keeping(mut self, local: &StoreRecord, keep: Keep) -> StoreRecord {
        if keep.description {
            self.description.clone_from(&local.description);
        }
        if keep.thumbnail {
            self.is_thumbnail = local.is_thumbnail;
        }
        if keep.picture {
            // The picture is the file and everything derived from it.
            self.image_file.clone_from(&local.image_file);
            self.zoom_url.clone_from(&local.zoom_url);
            self.standard_url.clone_from(&local.standard_url);
            self.thumbnail_url.clone_from(&local.thumbnail_url);
            self.tiny_url.clone_from(&local.tiny_url);
            self.width = local.width;
            self.height = local.height;
            self.file_size = local.file_size;
        }
        self
    }
}

/// An `images` row: the store's record plus what only the replica knows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ImageRow {
    pub local_id: i64,
    pub server_id: Option<i64>,
    pub product_id: i64,
    pub position: i64,
    #[sqlx(flatten)]
    pub record: StoreRecord,
    pub local_file: Option<String>,
    pub hidden: bool,
}

impl ImageRow {
    fn into_local(self, sync: SyncState) -> LocalImage {
        let record = self.record;
        LocalImage {
            id: ImageId(self.local_id),
            server_id: self.server_id,
            product_id: self.product_id,
            sort_order: record.sort_order,
            is_thumbnail: record.is_thumbnail,
            description: record.description,
            image_file: record.image_file,
            date_created: record.date_created,
            date_modified: record.date_modified,
            zoom_url: record.zoom_url,
            standard_url: record.standard_url,
            thumbnail_url: record.thumbnail_url,
            tiny_url: record.tiny_url,
            width: record.width.and_then(|v| u32::try_from(v).ok()),
            height: record.height.and_then(|v| u32::try_from(v).ok()),
            file_size: record.file_size.and_then(|v| u64::try_from(v).ok()),
            local_file: self.local_file.map(PathBuf::from),
            sync,
        }
    }
}

pub(crate) async fn image_row(
    conn: &mut SqliteConnection,
    id: i64,
) -> Result<Option<ImageRow>, SyncError> {
    Ok(sqlx::query_as("SELECT * FROM images WHERE local_id = ?")
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub(crate) async fn product_rows(
    conn: &mut SqliteConnection,
    product_id: i64,
) -> Result<Vec<ImageRow>, SyncError> {
    Ok(
        sqlx::query_as("SELECT * FROM images WHERE product_id = ? ORDER BY position, local_id")
            .bind(product_id)
            .fetch_all(conn)
            .await?,
    )
}

/// Writes the store's record into a row, except the fields named in `keep`; the local copy
/// of an upload goes once the picture is the store's.
pub(crate) async fn write_server_fields(
    conn: &mut SqliteConnection,
    row: &ImageRow,
    image: &Image,
    keep: Keep,
) -> Result<(), SyncError> {
    let record = StoreRecord::from(image).keeping(&row.record, keep);
    let local_file = if keep.picture {
        row.local_file.as_deref()
    } else {
        None
    };
    write_record(conn, row.local_id, image.id, &record, local_file).await?;
    if !keep.picture {
        store_hashes::keep_store_hash(conn, row.local_id, image).await?;
    }
    Ok(())
}

/// The one statement that stores a record in a row.
async fn write_record(
    conn: &mut SqliteConnection,
    local_id: i64,
    server_id: i64,
    record: &StoreRecord,
    local_file: Option<&str>,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE images SET server_id = ?, sort_order = ?, is_thumbnail = ?, description = ?,
            image_file = ?, date_created = ?, date_modified = ?, zoom_url = ?,
            standard_url = ?, thumbnail_url = ?, tiny_url = ?, width = ?, height = ?,
            file_size = ?, local_file = ?
         WHERE local_id = ?",
    )
    .bind(server_id)
    .bind(record.sort_order)
    .bind(record.is_thumbnail)
    .bind(&record.description)
    .bind(&record.image_file)
    .bind(&record.date_created)
    .bind(&record.date_modified)
    .bind(&record.zoom_url)
    .bind(&record.standard_url)
    .bind(&record.thumbnail_url)
    .bind(&record.tiny_url)
    .bind(record.width)
    .bind(record.height)
    .bind(record.file_size)
    .bind(local_file)
    .bind(local_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Fields with pending local edits, which a record from the store must not overwrite.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Keep {
    pub description: bool,
    pub thumbnail: bool,
    pub picture: bool,
}

pub(crate) async fn insert_server_image(
    conn: &mut SqliteConnection,
    image: &Image,
    position: i64,
) -> Result<i64, SyncError> {
    let local_id: i64 = sqlx::query_scalar(
        "INSERT INTO images (server_id, product_id, position) VALUES (?, ?, ?) RETURNING local_id",
    )
    .bind(image.id)
    .bind(image.product_id)
    .bind(position)
    .fetch_one(&mut *conn)
    .await?;
    write_record(conn, local_id, image.id, &StoreRecord::from(image), None).await?;
    store_hashes::keep_store_hash(conn, local_id, image).await?;
    Ok(local_id)
}

/// Facts about the store the engine learns from its answers and keeps across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreFact {
    /// The store echoed `Idempotency-Key` on its last answer to a keyed create, so it honours
    /// keys (SPEC §1) and a create that may have landed can be resent with its key.
    EchoesIdempotencyKey,
    /// `false` once the store's product list was seen to ignore `min_date_modified` or to
    /// carry no dates: changes are then found by a paced sweep (see `pull`).
    FiltersProductsByDate,
}

impl StoreFact {
    fn name(self) -> &'static str {
        match self {
            StoreFact::EchoesIdempotencyKey => "echoes_idempotency_key",
            StoreFact::FiltersProductsByDate => "filters_products_by_date",
        }
    }
}

/// A number the engine keeps about the store, beside the facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreMark {
    /// The newest product `date_modified` seen (store seconds since the epoch): the next
    /// product listing asks only for products changed since.
    ProductWatermark,
    /// When the product list was last read in full (unix ms).
    ProductsListedAt,
}

impl StoreMark {
    fn name(self) -> &'static str {
        match self {
            StoreMark::ProductWatermark => "product_watermark",
            StoreMark::ProductsListedAt => "products_listed_at",
        }
    }
}

pub(crate) async fn store_mark(
    conn: &mut SqliteConnection,
    mark: StoreMark,
) -> Result<Option<i64>, SyncError> {
    read_store_value(conn, mark.name()).await
}

pub(crate) async fn set_store_mark(
    conn: &mut SqliteConnection,
    mark: StoreMark,
    value: i64,
) -> Result<(), SyncError> {
    write_store_value(conn, mark.name(), value).await
}

/// A fact as last recorded; `None` until the store has told.
pub(crate) async fn store_fact(
    conn: &mut SqliteConnection,
    fact: StoreFact,
) -> Result<Option<bool>, SyncError> {
    Ok(read_store_value(conn, fact.name()).await?.map(|v| v != 0))
}

pub(crate) async fn set_store_fact(
    conn: &mut SqliteConnection,
    fact: StoreFact,
    value: bool,
) -> Result<(), SyncError> {
    write_store_value(conn, fact.name(), i64::from(value)).await
}

/// Facts and marks share one table of named numbers.
async fn read_store_value(
    conn: &mut SqliteConnection,
    name: &str,
) -> Result<Option<i64>, SyncError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM store_facts WHERE name = ?")
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

async fn write_store_value(
    conn: &mut SqliteConnection,
    name: &str,
    value: i64,
) -> Result<(), SyncError> {
    sqlx::query(
        "INSERT INTO store_facts (name, value) VALUES (?, ?)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(value)
    .execute(conn)
    .await?;
    Ok(())
}

/// Rewrites every picture address that starts with `old` (an origin, `scheme://host:port`) to
/// start with `new` instead, in the rows and in the tile cache's keys, so that products not
/// pulled since the store moved do not show dead tiles. Returns the rows changed.
pub(crate) async fn move_origin(
    conn: &mut SqliteConnection,
    old: &str,
    new: &str,
) -> Result<u64, SyncError> {
    // `substr` on the origin plus its `/`, not LIKE: an origin may hold `_` or `%`.
    let prefix = format!("{old}/");
    let result = sqlx::query(
        "UPDATE images SET
            zoom_url = CASE WHEN substr(zoom_url, 1, length(?1)) = ?1
                THEN ?2 || substr(zoom_url, length(?3) + 1) ELSE zoom_url END,
            standard_url = CASE WHEN substr(standard_url, 1, length(?1)) = ?1
                THEN ?2 || substr(standard_url, length(?3) + 1) ELSE standard_url END,
            thumbnail_url = CASE WHEN substr(thumbnail_url, 1, length(?1)) = ?1
                THEN ?2 || substr(thumbnail_url, length(?3) + 1) ELSE thumbnail_url END,
            tiny_url = CASE WHEN substr(tiny_url, 1, length(?1)) = ?1
                THEN ?2 || substr(tiny_url, length(?3) + 1) ELSE tiny_url END
         WHERE substr(zoom_url, 1, length(?1)) = ?1
            OR substr(standard_url, 1, length(?1)) = ?1
            OR substr(thumbnail_url, 1, length(?1)) = ?1
            OR substr(tiny_url, 1, length(?1)) = ?1",
    )
    .bind(&prefix)
    .bind(new)
    .bind(old)
    .execute(&mut *conn)
    .await?;
    // The cached bytes are the same picture under its new address.
    sqlx::query(
        "UPDATE OR IGNORE tiles SET url = ?2 || substr(url, length(?3) + 1)
         WHERE substr(url, 1, length(?1)) = ?1",
    )
    .bind(&prefix)
    .bind(new)
    .bind(old)
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// `scheme://host[:port]` of an absolute URL, or `None` for anything else.
pub(crate) fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+')
    {
        return None;
    }
    let host_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if host_len == 0 {
        return None;
    }
    Some(&url[..scheme.len() + 3 + host_len])
}
