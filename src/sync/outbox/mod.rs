//! The durable outbox: every query on the `outbox` table lives here.
//!
//! Callers hand it typed edits ([`Edit`]) and get typed rows back ([`Queued`], or
//! [`Unreadable`] for a row this version cannot read). Coalescing is decided by the pure
//! [`coalesce`] and carried out by [`Outbox::apply`] inside the caller's transaction.

mod coalesce;
mod edit;

use std::collections::{HashMap, HashSet};

use sqlx::SqliteConnection;

pub(crate) use coalesce::{Change, Successor, coalesce};
pub(crate) use edit::{Base, Edit, EditState, NewEdit, Queued, Source, Unreadable};

use super::SyncError;
use super::clock::now_ms;
use super::model::{HeldConflict, ImageId, OutboxEntry, SyncState};

/// A row as SQLite holds it; only this module sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct Row {
    seq: i64,
    kind: String,
    product_id: i64,
    image_id: Option<i64>,
    payload: String,
    revision: i64,
    base_modified: Option<String>,
    base_value: Option<String>,
    idempotency_key: Option<String>,
    state: String,
    attempts: i64,
    last_attempt_ms: Option<i64>,
    last_error: Option<String>,
    created_ms: i64,
    held_value: Option<String>,
    held_modified: Option<String>,
}

/// A row read back: an edit, or what could not be read of it.
pub(crate) type Decoded = Result<Queued, Unreadable>;

/// The reason an unreadable row is marked failed with, so it is reported once.
const UNREADABLE: &str = "this edit was queued by another version of imagedesk and cannot be read by this one; discard it, or open the store with that version";

impl Row {
    fn decode(self) -> Decoded {
        let edit = Edit::from_columns(&self.kind, self.image_id, &self.payload);
        let state = EditState::from_columns(
            &self.state,
            self.last_error.as_deref(),
            self.held_value.as_deref(),
            self.held_modified.as_deref(),
        );
        match (edit, state) {
            (Ok(edit), Some(state)) => Ok(Queued {
                seq: self.seq,
                product_id: self.product_id,
                edit,
                revision: self.revision,
                base: Base {
                    value: self.base_value,
                    modified: self.base_modified,
                },
                idempotency_key: self.idempotency_key,
                state,
                attempts: self.attempts,
                last_attempt_ms: self.last_attempt_ms,
                created_ms: self.created_ms,
            }),
            (edit, _) => Err(Unreadable {
                seq: self.seq,
                product_id: self.product_id,
                image: self.image_id.map(ImageId),
                reason: edit
                    .err()
                    .unwrap_or_else(|| format!("its state '{}' is unknown", self.state)),
            }),
        }
    }
}

fn readable(rows: Vec<Row>) -> Vec<Queued> {
    rows.into_iter().filter_map(|r| r.decode().ok()).collect()
}

/// The outbox, over one connection (a transaction's, or a pool's).
pub(crate) struct Outbox<'c> {
    conn: &'c mut SqliteConnection,
}

impl<'c> Outbox<'c> {
    pub fn on(conn: &'c mut SqliteConnection) -> Outbox<'c> {
        Outbox { conn }
    }

    // -- reading ---------------------------------------------------------------------------------

    pub async fn get(&mut self, seq: i64) -> Result<Option<Decoded>, SyncError> {
        let row: Option<Row> = sqlx::query_as("SELECT * FROM outbox WHERE seq = ?")
            .bind(seq)
            .fetch_optional(&mut *self.conn)
            .await?;
        Ok(row.map(Row::decode))
    }

    /// The product's readable edits, oldest first (what coalescing and merging look at;
    /// unreadable rows are left alone).
    pub async fn of_product(&mut self, product_id: i64) -> Result<Vec<Queued>, SyncError> {
        let rows: Vec<Row> =
            sqlx::query_as("SELECT * FROM outbox WHERE product_id = ? ORDER BY seq")
                .bind(product_id)
                .fetch_all(&mut *self.conn)
                .await?;
        Ok(readable(rows))
    }

    /// Every row, oldest first, for the queue view.
    pub async fn entries(&mut self) -> Result<Vec<OutboxEntry>, SyncError> {
        let rows: Vec<Row> = sqlx::query_as("SELECT * FROM outbox ORDER BY seq")
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| match row.decode() {
                Ok(q) => OutboxEntry {
                    seq: q.seq,
                    kind: Some(q.edit.kind()),
                    product_id: q.product_id,
                    image: q.edit.image(),
                    held: held_conflict(&q),
                    failed: match q.state {
                        EditState::Failed { reason } => Some(reason),
                        EditState::Pending | EditState::Held { .. } => None,
                    },
                },
                Err(u) => OutboxEntry {
                    seq: u.seq,
                    kind: None,
                    product_id: u.product_id,
                    image: u.image,
                    failed: Some(format!("{UNREADABLE} ({})", u.reason)),
                    held: None,
                },
            })
            .collect())
    }

    /// How many edits wait to be sent, wait for the person (held) and were refused.
    pub async fn counts(&mut self) -> Result<QueueCounts, SyncError> {
        let (waiting, held, failed): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(state = ?1), 0), COALESCE(SUM(state = ?2), 0),
                COALESCE(SUM(state NOT IN (?1, ?2)), 0) FROM outbox",
        )
        .bind(EditState::PENDING)
        .bind(EditState::HELD)
        .fetch_one(&mut *self.conn)
        .await?;
        Ok(QueueCounts {
            waiting: waiting.max(0) as u64,
            held: held.max(0) as u64,
            failed: failed.max(0) as u64,
        })
    }

    /// Queued edits per product (failed ones too), for the product list's badges.
    pub async fn count_by_product(&mut self) -> Result<HashMap<i64, u64>, SyncError> {
        let rows: Vec<(i64, i64)> =
            sqlx::query_as("SELECT product_id, COUNT(*) FROM outbox GROUP BY product_id")
                .fetch_all(&mut *self.conn)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(p, n)| (p, n.max(0) as u64))
            .collect())
    }

    /// Products that have queued edits: a pull must not drop them.
    pub async fn products(&mut self) -> Result<HashSet<i64>, SyncError> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT DISTINCT product_id FROM outbox")
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Products with edits waiting to be sent.
    pub async fn products_with_pending(&mut self) -> Result<Vec<i64>, SyncError> {
        let rows: Vec<(i64,)> =
            sqlx::query_as("SELECT DISTINCT product_id FROM outbox WHERE state = ?")
                .bind(EditState::PENDING)
                .fetch_all(&mut *self.conn)
                .await?;
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// How each image of the product stands: pending edits counted, or the first refusal.
    pub async fn sync_states(
        &mut self,
        product_id: i64,
    ) -> Result<HashMap<ImageId, SyncState>, SyncError> {
        let rows: Vec<Row> =
            sqlx::query_as("SELECT * FROM outbox WHERE product_id = ? ORDER BY seq")
                .bind(product_id)
                .fetch_all(&mut *self.conn)
                .await?;
        let mut states: HashMap<ImageId, SyncState> = HashMap::new();
        for row in rows {
            let (image, failure) = match row.decode() {
                Ok(q) => (
                    q.edit.image(),
                    match q.state {
                        EditState::Failed { reason } => Some(reason),
                        EditState::Pending | EditState::Held { .. } => None,
                    },
                ),
                Err(u) => (u.image, Some(format!("{UNREADABLE} ({})", u.reason))),
            };
            let Some(image) = image else { continue };
            let entry = states.entry(image).or_insert(SyncState::Pending(0));
            match (failure, &mut *entry) {
                (Some(_), SyncState::Failed(_)) => {}
                (Some(reason), _) => *entry = SyncState::Failed(reason),
                (None, SyncState::Pending(n)) => *n += 1,
                (None, SyncState::Failed(_) | SyncState::Synced) => {}
            }
        }
        Ok(states)
    }

    #[cfg(test)]
    /// The oldest pending edit that can go now: one whose image the store already knows, or
    /// one that needs no store id (a create, a reorder, a delete-all). Edits of an image whose
    /// create failed wait for it. An unreadable row is handed out once, to be reported.
    pub async fn next_ready(&mut self) -> Result<Option<Decoded>, SyncError> {
        Ok(self.ready(1).await?.into_iter().next())
    }

    /// The `limit` oldest pending edits that can go now, by the rule of [`Outbox::next_ready`],
    /// oldest first: what the worker chooses among when it sends creates side by side.
    pub async fn ready(&mut self, limit: i64) -> Result<Vec<Decoded>, SyncError> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT o.* FROM outbox o LEFT JOIN images i ON i.local_id = o.image_id
             WHERE o.state = ? AND (
                o.kind IN ('create', 'reorder', 'delete_all') OR o.image_id IS NULL
                OR i.local_id IS NULL OR i.server_id IS NOT NULL)
             ORDER BY o.seq LIMIT ?",
        )
        .bind(EditState::PENDING)
        .bind(limit)
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(rows.into_iter().map(Row::decode).collect())
    }

    /// Engine-owned picture copies that queued edits refer to (unreadable rows keep theirs
    /// too: their blob name is found in the JSON without understanding the edit).
    pub async fn blobs(&mut self) -> Result<HashSet<String>, SyncError> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT payload FROM outbox")
            .fetch_all(&mut *self.conn)
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(payload,)| {
                let value: serde_json::Value = serde_json::from_str(&payload).ok()?;
                let blob = value.get("source")?.get("blob")?.as_str()?;
                Some(blob.to_owned())
            })
            .collect())
    }

    /// Images with a queued delete (a discarded delete-all must not show them again).
    pub async fn images_being_deleted(&mut self) -> Result<HashSet<ImageId>, SyncError> {
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT image_id FROM outbox WHERE kind = 'delete' AND image_id IS NOT NULL",
        )
        .fetch_all(&mut *self.conn)
        .await?;
        Ok(rows.into_iter().map(|(i,)| ImageId(i)).collect())
    }

    // -- writing ---------------------------------------------------------------------------------

    pub async fn append(&mut self, new: &NewEdit) -> Result<i64, SyncError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO outbox (kind, product_id, image_id, payload, base_modified, base_value,
                idempotency_key, created_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq",
        )
        .bind(new.edit.kind().as_str())
        .bind(new.product_id)
        .bind(new.edit.image().map(|i| i.0))
        .bind(details(&new.edit)?)
        .bind(&new.base.modified)
        .bind(&new.base.value)
        .bind(&new.idempotency_key)
        .bind(now_ms())
        .fetch_one(&mut *self.conn)
        .await?)
    }

    /// Carries out a coalescing decision. Returns the picture copies no edit refers to any
    /// more, and the images to forget (their rows are the replica's business).
    pub async fn apply(&mut self, changes: Vec<Change>) -> Result<Applied, SyncError> {
        let mut applied = Applied::default();
        for change in changes {
            match change {
                Change::Append(new) => {
                    self.append(&new).await?;
                }
                Change::Fold { seq, edit } => {
                    let mut state = EditState::Pending;
                    if let Some(Ok(before)) = self.get(seq).await? {
                        applied.unused_blobs.extend(
                            before
                                .edit
                                .blob()
                                .filter(|b| edit.blob().as_ref() != Some(b)),
                        );
                        state = before.state.after_fold(&edit);
                    }
                    sqlx::query(
                        "UPDATE outbox SET kind = ?, image_id = ?, payload = ?,
                            revision = revision + 1, state = ?, last_error = NULL
                         WHERE seq = ?",
                    )
                    .bind(edit.kind().as_str())
                    .bind(edit.image().map(|i| i.0))
                    .bind(details(&edit)?)
                    .bind(if state.is_held() {
                        EditState::HELD
                    } else {
                        EditState::PENDING
                    })
                    .bind(seq)
                    .execute(&mut *self.conn)
                    .await?;
                    if !state.is_held() {
                        self.clear_held(seq).await?;
                    }
                }
                Change::Bump { seq } => {
                    sqlx::query("UPDATE outbox SET revision = revision + 1 WHERE seq = ?")
                        .bind(seq)
                        .execute(&mut *self.conn)
                        .await?;
                }
                Change::Remove { seq } => {
                    applied.unused_blobs.extend(self.remove(seq).await?);
                }
                Change::Forget(image) => {
                    let removed = self.remove_for_image(image).await?;
                    applied
                        .unused_blobs
                        .extend(removed.iter().filter_map(|q| q.edit.blob()));
                    applied.forgotten.push(image);
                }
            }
        }
        Ok(applied)
    }

    /// Removes one edit; returns the picture copy it kept alive, if any.
    pub async fn remove(&mut self, seq: i64) -> Result<Option<String>, SyncError> {
        let blob = match self.get(seq).await? {
            Some(Ok(queued)) => queued.edit.blob(),
            _ => None,
        };
        sqlx::query("DELETE FROM outbox WHERE seq = ?")
            .bind(seq)
            .execute(&mut *self.conn)
            .await?;
        Ok(blob)
    }

    /// Removes an edit the store confirmed, unless a later edit was folded into it since it
    /// was sent. Returns whether it was removed.
    pub async fn retire(&mut self, seq: i64, revision: i64) -> Result<bool, SyncError> {
        Ok(
            sqlx::query("DELETE FROM outbox WHERE seq = ? AND revision = ?")
                .bind(seq)
                .bind(revision)
                .execute(&mut *self.conn)
                .await?
                .rows_affected()
                > 0,
        )
    }

    /// Removes every edit queued for an image (readable or not); returns the readable ones.
    pub async fn remove_for_image(&mut self, image: ImageId) -> Result<Vec<Queued>, SyncError> {
        let rows: Vec<Row> = sqlx::query_as("SELECT * FROM outbox WHERE image_id = ?")
            .bind(image.0)
            .fetch_all(&mut *self.conn)
            .await?;
        sqlx::query("DELETE FROM outbox WHERE image_id = ?")
            .bind(image.0)
            .execute(&mut *self.conn)
            .await?;
        Ok(readable(rows))
    }

    /// Marks an edit refused. A create refused outright (`definite`: a 4xx that is not 408,
    /// 409 or 429) on its first send created nothing, so a retry starts over with a fresh key
    /// and no attempts. Any other create keeps its key and count: an earlier send may have
    /// landed (a 409 is a key still being processed, SPEC §3), and a retry must look for it.
    pub async fn mark_failed(
        &mut self,
        seq: i64,
        reason: &str,
        definite: bool,
        fresh_key: &str,
    ) -> Result<(), SyncError> {
        sqlx::query(
            "UPDATE outbox SET state = ?, last_error = ?,
                idempotency_key = CASE WHEN kind = 'create' AND ? AND attempts <= 1
                    THEN ? ELSE idempotency_key END,
                attempts = CASE WHEN kind = 'create' AND ? AND attempts <= 1
                    THEN 0 ELSE attempts END
             WHERE seq = ?",
        )
        .bind(EditState::FAILED)
        .bind(reason)
        .bind(definite)
        .bind(fresh_key)
        .bind(definite)
        .bind(seq)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Parks a row this version cannot read, so that it is reported once and never sent.
    pub async fn mark_unreadable(&mut self, unreadable: &Unreadable) -> Result<(), SyncError> {
        sqlx::query("UPDATE outbox SET state = ?, last_error = ? WHERE seq = ?")
            .bind(EditState::FAILED)
            .bind(format!("{UNREADABLE} ({})", unreadable.reason))
            .bind(unreadable.seq)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Makes a failed edit pending again (a held one waits for the person's choice).
    pub async fn retry(&mut self, seq: i64) -> Result<(), SyncError> {
        sqlx::query("UPDATE outbox SET state = ?, last_error = NULL WHERE seq = ? AND state != ?")
            .bind(EditState::PENDING)
            .bind(seq)
            .bind(EditState::HELD)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Counts a send before it is made, so that after a crash the worker knows a create may
    /// have landed. Returns the edit as it is now (a fold may have changed it just before).
    pub async fn begin_attempt(&mut self, seq: i64) -> Result<Option<Queued>, SyncError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_attempt_ms = ?
             WHERE seq = ? AND state = ?",
        )
        .bind(now_ms())
        .bind(seq)
        .bind(EditState::PENDING)
        .execute(&mut *self.conn)
        .await?;
        Ok(match self.get(seq).await? {
            Some(Ok(queued)) if queued.state == EditState::Pending => Some(queued),
            _ => None,
        })
    }

    /// Records the first half of a file replace (the new record's id) before the second.
    /// Keeps the revision: this is the worker's own progress, not a new value.
    pub async fn record_progress(&mut self, seq: i64, edit: &Edit) -> Result<(), SyncError> {
        sqlx::query("UPDATE outbox SET payload = ? WHERE seq = ?")
            .bind(details(edit)?)
            .bind(seq)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Holds an edit the store competes with: it is not sent until the person chooses, and
    /// its base moves to the store's value (so the same value is not reported twice).
    pub async fn hold(
        &mut self,
        seq: i64,
        theirs: &str,
        modified: Option<&str>,
    ) -> Result<(), SyncError> {
        sqlx::query(
            "UPDATE outbox SET state = ?, held_value = ?, held_modified = ?, last_error = NULL,
                base_value = ?, base_modified = ?
             WHERE seq = ?",
        )
        .bind(EditState::HELD)
        .bind(theirs)
        .bind(modified)
        .bind(theirs)
        .bind(modified)
        .bind(seq)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    /// Lets a held edit go (the person kept theirs, or the store came round to it): it is
    /// pending again. Returns whether it was held.
    pub async fn release(&mut self, seq: i64) -> Result<bool, SyncError> {
        let released = sqlx::query("UPDATE outbox SET state = ? WHERE seq = ? AND state = ?")
            .bind(EditState::PENDING)
            .bind(seq)
            .bind(EditState::HELD)
            .execute(&mut *self.conn)
            .await?
            .rows_affected()
            > 0;
        self.clear_held(seq).await?;
        Ok(released)
    }

    async fn clear_held(&mut self, seq: i64) -> Result<(), SyncError> {
        sqlx::query("UPDATE outbox SET held_value = NULL, held_modified = NULL WHERE seq = ?")
            .bind(seq)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    /// Moves an edit's base to the store's current value (a conflict was reported, or the
    /// store caught up).
    pub async fn rebase(
        &mut self,
        seq: i64,
        value: &str,
        modified: Option<&str>,
    ) -> Result<(), SyncError> {
        sqlx::query("UPDATE outbox SET base_value = ?, base_modified = ? WHERE seq = ?")
            .bind(value)
            .bind(modified)
            .bind(seq)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }
}

/// The queue's counts by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct QueueCounts {
    /// Pending: the worker sends them.
    pub waiting: u64,
    /// Held: the store changed the same field; the person chooses.
    pub held: u64,
    /// Refused, or unreadable: they wait for a retry or a discard.
    pub failed: u64,
}

/// Both sides of a held edit, for the queue view.
fn held_conflict(queued: &Queued) -> Option<HeldConflict> {
    let EditState::Held {
        theirs,
        theirs_modified,
    } = &queued.state
    else {
        return None;
    };
    Some(HeldConflict {
        field: queued.edit.conflict_field()?,
        mine: queued.edit.value().unwrap_or_default(),
        theirs: theirs.clone(),
        theirs_modified: theirs_modified.clone(),
    })
}

/// What carrying out changes left for the caller.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    pub unused_blobs: Vec<String>,
    /// Images whose row must go: the store never saw them.
    pub forgotten: Vec<ImageId>,
}

fn details(edit: &Edit) -> Result<String, SyncError> {
    edit.details_json()
        .map_err(|e| SyncError::Corrupt(format!("an edit could not be written: {e}")))
}

/// 128 random bits as hex: idempotency keys, and names of engine-owned files.
pub(crate) fn random_hex() -> String {
    use rand::RngCore as _;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::sync::model::EditKind;

    async fn outbox_db() -> sqlx::SqlitePool {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::migrate!("./src/sync/migrations")
            .run(&pool)
            .await
            .unwrap();
        pool
    }

    fn describe(image: i64, text: &str) -> NewEdit {
        NewEdit::plain(
            1,
            Edit::Describe {
                image: ImageId(image),
                description: text.into(),
            },
        )
    }

    #[tokio::test]
    async fn edits_read_back_as_they_were_queued() {
        let pool = outbox_db().await;
        let mut conn = pool.acquire().await.unwrap();
        let mut outbox = Outbox::on(&mut conn);
        let seq = outbox.append(&describe(4, "front")).await.unwrap();
        let queued = outbox.get(seq).await.unwrap().unwrap().unwrap();
        assert_eq!(queued.edit, describe(4, "front").edit);
        assert_eq!(queued.state, EditState::Pending);
        outbox
            .mark_failed(seq, "too long", true, "k")
            .await
            .unwrap();
        let entries = outbox.entries().await.unwrap();
        assert_eq!(entries[0].kind, Some(EditKind::Describe));
        assert_eq!(entries[0].failed.as_deref(), Some("too long"));
        assert_eq!(
            outbox.counts().await.unwrap(),
            QueueCounts {
                waiting: 0,
                held: 0,
                failed: 1
            }
        );
    }

    #[tokio::test]
    async fn a_row_this_version_cannot_read_is_kept_reported_once_and_never_guessed_at() {
        let pool = outbox_db().await;
        sqlx::query(
            "INSERT INTO outbox (kind, product_id, image_id, payload, created_ms)
             VALUES ('rotate', 1, NULL, '{\"degrees\":90}', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        let mut conn = pool.acquire().await.unwrap();
        let mut outbox = Outbox::on(&mut conn);
        let seq = outbox.append(&describe(4, "front")).await.unwrap();

        // The worker is handed the unreadable row first (it is older), as unreadable.
        let Some(Err(unreadable)) = outbox.next_ready().await.unwrap() else {
            panic!("the unknown edit must come back as unreadable");
        };
        assert!(
            unreadable.reason.contains("rotate"),
            "{}",
            unreadable.reason
        );
        outbox.mark_unreadable(&unreadable).await.unwrap();
        // Parked: the next ready edit is the readable one, and the unknown one is never
        // handed out again.
        let Some(Ok(next)) = outbox.next_ready().await.unwrap() else {
            panic!("the readable edit must come next");
        };
        assert_eq!(next.seq, seq);
        outbox.remove(seq).await.unwrap();
        assert!(outbox.next_ready().await.unwrap().is_none());

        // Kept, shown as failed with no kind, and untouched by coalescing.
        let entries = outbox.entries().await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].kind, None);
        assert!(entries[0].failed.is_some());
        assert!(outbox.of_product(1).await.unwrap().is_empty());
        let payload: String = sqlx::query_scalar("SELECT payload FROM outbox")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(
            payload, "{\"degrees\":90}",
            "its details are left as written"
        );
    }

    #[tokio::test]
    async fn folding_bumps_the_revision_so_an_in_flight_send_does_not_retire_it() {
        let pool = outbox_db().await;
        let mut conn = pool.acquire().await.unwrap();
        let mut outbox = Outbox::on(&mut conn);
        let seq = outbox.append(&describe(4, "a")).await.unwrap();
        let sent = outbox.get(seq).await.unwrap().unwrap().unwrap();
        let queue = outbox.of_product(1).await.unwrap();
        let changes = coalesce(&queue, describe(4, "b"), Successor::NotThumbnail);
        outbox.apply(changes).await.unwrap();
        assert!(!outbox.retire(seq, sent.revision).await.unwrap());
        let now = outbox.get(seq).await.unwrap().unwrap().unwrap();
        assert_eq!(now.edit, describe(4, "b").edit);
        assert!(outbox.retire(seq, now.revision).await.unwrap());
    }

    #[tokio::test]
    async fn a_held_edit_is_not_handed_out_but_the_edits_after_it_are() {
        let pool = outbox_db().await;
        let mut conn = pool.acquire().await.unwrap();
        let mut outbox = Outbox::on(&mut conn);
        let held = outbox.append(&describe(4, "mine")).await.unwrap();
        let after = outbox.append(&describe(5, "other image")).await.unwrap();
        outbox
            .hold(held, "theirs", Some("2026-01-01"))
            .await
            .unwrap();
        let next = outbox.next_ready().await.unwrap().unwrap().unwrap();
        assert_eq!(next.seq, after, "the edit queued after the held one may go");
        let counts = outbox.counts().await.unwrap();
        assert_eq!((counts.waiting, counts.held, counts.failed), (1, 1, 0));
        let entries = outbox.entries().await.unwrap();
        assert_eq!(
            entries[0].held,
            Some(HeldConflict {
                field: crate::sync::ConflictField::Description,
                mine: "mine".into(),
                theirs: "theirs".into(),
                theirs_modified: Some("2026-01-01".into()),
            })
        );
        assert_eq!(entries[0].failed, None, "held is not refused");
        assert_eq!(entries[1].held, None);
        let base = outbox.get(held).await.unwrap().unwrap().unwrap().base;
        assert_eq!(
            base.value.as_deref(),
            Some("theirs"),
            "rebased: the same store value is not reported again"
        );

        // Retry is for refused edits: it does not let a held one go.
        outbox.retry(held).await.unwrap();
        assert!(
            outbox
                .get(held)
                .await
                .unwrap()
                .unwrap()
                .unwrap()
                .state
                .is_held()
        );

        outbox.retire(after, 0).await.unwrap();
        assert!(outbox.next_ready().await.unwrap().is_none());
        assert!(outbox.release(held).await.unwrap());
        assert!(!outbox.release(held).await.unwrap(), "released once");
        let next = outbox.next_ready().await.unwrap().unwrap().unwrap();
        assert_eq!((next.seq, next.state), (held, EditState::Pending));
        assert_eq!(outbox.entries().await.unwrap()[0].held, None);
    }

    #[tokio::test]
    async fn a_newer_value_folded_into_a_held_edit_stays_held_unless_it_is_the_stores() {
        let pool = outbox_db().await;
        let mut conn = pool.acquire().await.unwrap();
        let mut outbox = Outbox::on(&mut conn);
        let seq = outbox.append(&describe(4, "mine")).await.unwrap();
        outbox.hold(seq, "theirs", None).await.unwrap();

        let queue = outbox.of_product(1).await.unwrap();
        let changes = coalesce(&queue, describe(4, "mine, again"), Successor::NotThumbnail);
        outbox.apply(changes).await.unwrap();
        let entries = outbox.entries().await.unwrap();
        assert_eq!(entries.len(), 1, "folded");
        let held = entries[0]
            .held
            .clone()
            .expect("still held: the person has not chosen");
        assert_eq!(
            (held.mine.as_str(), held.theirs.as_str()),
            ("mine, again", "theirs")
        );

        let queue = outbox.of_product(1).await.unwrap();
        let changes = coalesce(&queue, describe(4, "theirs"), Successor::NotThumbnail);
        outbox.apply(changes).await.unwrap();
        let queued = outbox.get(seq).await.unwrap().unwrap().unwrap();
        assert_eq!(
            queued.state,
            EditState::Pending,
            "the same value as the store's leaves nothing to choose"
        );
        assert_eq!(outbox.entries().await.unwrap()[0].held, None);
    }
}
