//! The replica database: connection pools, schema, and the reads the UI makes.
//!
//! As in the server, writes go through a pool of exactly one connection so that write
//! transactions queue in the process (the outbox's coalescing relies on that), and reads use a
//! separate pool that WAL never blocks.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{SqliteConnection, SqlitePool};

use super::SyncError;
use super::model::{EditKind, ImageId, LocalImage, OutboxEntry, ProductSummary, SyncState};

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
        let rows: Vec<(i64, String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT p.id, p.name, p.sku,
                (SELECT COUNT(*) FROM images i WHERE i.product_id = p.id AND i.hidden = 0),
                (SELECT COUNT(*) FROM images i WHERE i.product_id = p.id AND i.hidden = 0
                    AND i.is_thumbnail = 1),
                (SELECT COUNT(*) FROM outbox o WHERE o.product_id = p.id)
             FROM products p ORDER BY p.id",
        )
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, sku, count, thumbs, pending)| ProductSummary {
                id,
                name,
                sku,
                image_count: count.max(0) as u64,
                has_thumbnail: thumbs > 0,
                pending_edits: pending.max(0) as u64,
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
                    .get(&row.local_id)
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
            .get(&row.local_id)
            .cloned()
            .unwrap_or(SyncState::Synced);
        Ok(Some(row.into_local(sync)))
    }

    async fn sync_states(&self, product_id: i64) -> Result<HashMap<i64, SyncState>, SyncError> {
        let ops: Vec<(Option<i64>, String, Option<String>)> = sqlx::query_as(
            "SELECT image_id, state, last_error FROM outbox WHERE product_id = ? ORDER BY seq",
        )
        .bind(product_id)
        .fetch_all(&self.reader)
        .await?;
        let mut states: HashMap<i64, SyncState> = HashMap::new();
        for (image, state, error) in ops {
            let Some(image) = image else { continue };
            let entry = states.entry(image).or_insert(SyncState::Pending(0));
            match (state.as_str(), &mut *entry) {
                ("failed", SyncState::Failed(_)) => {}
                ("failed", _) => *entry = SyncState::Failed(error.unwrap_or_default()),
                (_, SyncState::Pending(n)) => *n += 1,
                _ => {}
            }
        }
        Ok(states)
    }

    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>, SyncError> {
        let rows: Vec<OpRow> = sqlx::query_as("SELECT * FROM outbox ORDER BY seq")
            .fetch_all(&self.reader)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|op| {
                Some(OutboxEntry {
                    seq: op.seq,
                    kind: op.kind()?,
                    product_id: op.product_id,
                    image: op.image_id.map(ImageId),
                    failed: (op.state == "failed").then(|| op.last_error.unwrap_or_default()),
                })
            })
            .collect())
    }

    /// (pending, failed) edit counts.
    pub async fn queue_counts(&self) -> Result<(u64, u64), SyncError> {
        let (pending, failed): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'failed'), 0)
             FROM outbox",
        )
        .fetch_one(&self.writer)
        .await?;
        Ok((pending.max(0) as u64, failed.max(0) as u64))
    }

    pub fn blob_path(&self, blob: &str) -> PathBuf {
        self.blobs.join(blob)
    }

    /// Removes engine-owned picture copies that no queued edit refers to (left by a crash
    /// between writing the copy and committing its edit).
    pub async fn remove_orphan_blobs(&self) -> Result<usize, SyncError> {
        let payloads: Vec<(String,)> = sqlx::query_as("SELECT payload FROM outbox")
            .fetch_all(&self.writer)
            .await?;
        let mut known = std::collections::HashSet::new();
        for (payload,) in payloads {
            if let Ok(Payload {
                source: Some(Source::File { blob, .. }),
                ..
            }) = serde_json::from_str(&payload)
            {
                known.insert(blob);
            }
        }
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

/// An `images` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ImageRow {
    pub local_id: i64,
    pub server_id: Option<i64>,
    pub product_id: i64,
    pub position: i64,
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
    pub local_file: Option<String>,
    pub hidden: bool,
}

impl ImageRow {
    fn into_local(self, sync: SyncState) -> LocalImage {
        LocalImage {
            id: ImageId(self.local_id),
            server_id: self.server_id,
            product_id: self.product_id,
            is_thumbnail: self.is_thumbnail,
            description: self.description,
            image_file: self.image_file,
            date_created: self.date_created,
            date_modified: self.date_modified,
            zoom_url: self.zoom_url,
            standard_url: self.standard_url,
            thumbnail_url: self.thumbnail_url,
            tiny_url: self.tiny_url,
            width: self.width.and_then(|v| u32::try_from(v).ok()),
            height: self.height.and_then(|v| u32::try_from(v).ok()),
            file_size: self.file_size.and_then(|v| u64::try_from(v).ok()),
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

/// Copies the store's record into a row, except the fields named in `keep`.
pub(crate) async fn write_server_fields(
    conn: &mut SqliteConnection,
    local_id: i64,
    image: &crate::api::Image,
    keep: Keep,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE images SET server_id = ?, sort_order = ?, date_created = ?, date_modified = ?,
            description = CASE WHEN ? THEN description ELSE ? END,
            is_thumbnail = CASE WHEN ? THEN is_thumbnail ELSE ? END,
            image_file = CASE WHEN ? THEN image_file ELSE ? END,
            zoom_url = CASE WHEN ? THEN zoom_url ELSE ? END,
            standard_url = CASE WHEN ? THEN standard_url ELSE ? END,
            thumbnail_url = CASE WHEN ? THEN thumbnail_url ELSE ? END,
            tiny_url = CASE WHEN ? THEN tiny_url ELSE ? END,
            width = CASE WHEN ? THEN width ELSE ? END,
            height = CASE WHEN ? THEN height ELSE ? END,
            file_size = CASE WHEN ? THEN file_size ELSE ? END,
            local_file = CASE WHEN ? THEN local_file ELSE NULL END
         WHERE local_id = ?",
    )
    .bind(image.id)
    .bind(image.sort_order)
    .bind(&image.date_created)
    .bind(&image.date_modified)
    .bind(keep.description)
    .bind(&image.description)
    .bind(keep.thumbnail)
    .bind(image.is_thumbnail)
    .bind(keep.picture)
    .bind(&image.image_file)
    .bind(keep.picture)
    .bind(&image.zoom_url)
    .bind(keep.picture)
    .bind(&image.standard_url)
    .bind(keep.picture)
    .bind(&image.thumbnail_url)
    .bind(keep.picture)
    .bind(&image.tiny_url)
    .bind(keep.picture)
    .bind(image.width.map(i64::from))
    .bind(keep.picture)
    .bind(image.height.map(i64::from))
    .bind(keep.picture)
    .bind(image.file_size.and_then(|v| i64::try_from(v).ok()))
    .bind(keep.picture)
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
    image: &crate::api::Image,
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
    write_server_fields(conn, local_id, image, Keep::default()).await?;
    Ok(local_id)
}

/// Where a queued picture comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub(crate) enum Source {
    /// A copy in the engine's blob directory, and the name the user's file had.
    File {
        blob: String,
        file_name: String,
    },
    Url {
        url: String,
    },
}

impl Source {
    /// The engine-owned copy this source refers to, if any.
    pub fn blob(&self) -> Option<String> {
        match self {
            Source::File { blob, .. } => Some(blob.clone()),
            Source::Url { .. } => None,
        }
    }
}

/// The details of a queued edit (which fields are used depends on its kind).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    /// Replacing from a file: the store's new record once created, before the old is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_server_id: Option<i64>,
}

/// An `outbox` row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct OpRow {
    pub seq: i64,
    pub kind: String,
    pub product_id: i64,
    pub image_id: Option<i64>,
    pub payload: String,
    pub revision: i64,
    pub base_value: Option<String>,
    pub idempotency_key: Option<String>,
    pub state: String,
    pub attempts: i64,
    pub last_attempt_ms: Option<i64>,
    pub last_error: Option<String>,
}

impl OpRow {
    pub fn kind(&self) -> Option<EditKind> {
        EditKind::parse(&self.kind)
    }

    pub fn payload(&self) -> Payload {
        // Rows are only written by this module; an unreadable payload means an empty one.
        serde_json::from_str(&self.payload).unwrap_or_default()
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
