//! Pull: folding the store's records into the replica without losing local edits.
//!
//! A field with a pending local edit keeps its local value. If the store changed that field too
//! since the edit was made (to another value than the local one), the edit is held, not sent,
//! until the person chooses, and a [`Conflict`] carries both values. Fields the user did not
//! touch take the store's value. Images the store deleted disappear, and edits
//! queued for them are dropped and reported.

use std::collections::{HashMap, HashSet};

use sqlx::SqliteConnection;

use super::SyncError;
use super::edits::{Applied, forget_image};
use super::model::{Conflict, ConflictField, Event, ImageId};
use super::outbox::{Edit, EditState, Outbox, Queued};
use super::replica::{self, Keep, Replica, StoreRecord};
use crate::api::{Image, Product, RecordKind, UnreadableRecord};

/// The records of a listing that could not be read: those whose id was still read, and whether
/// any was not. A record without an id may be any of the replica's rows, so while one is listed
/// no row counts as deleted on the store.
#[derive(Debug, Default)]
pub(crate) struct Unread {
    pub ids: HashSet<i64>,
    pub some_without_id: bool,
}

impl Unread {
    /// The unreadable records of `kind` in a listing; `id` reads a record's id.
    pub fn of(
        records: &[UnreadableRecord],
        kind: RecordKind,
        id: impl Fn(&UnreadableRecord) -> Option<i64>,
    ) -> Unread {
        let mut unread = Unread::default();
        for record in records.iter().filter(|r| r.kind == kind) {
            match id(record) {
                Some(id) => {
                    unread.ids.insert(id);
                }
                None => unread.some_without_id = true,
            }
        }
        unread
    }

    /// Whether the store may still hold record `id` although the listing did not show it.
    pub fn may_hold(&self, id: i64) -> bool {
        self.some_without_id || self.ids.contains(&id)
    }
}

/// What a merge found that the UI must hear about.
#[derive(Debug, Default)]
pub(crate) struct MergeReport {
    pub events: Vec<Event>,
    pub unused_blobs: Vec<String>,
}

/// Folds the store's product list into the replica. `unreadable` are products the store
/// listed but that could not be read: they are not gone, so their rows stay.
/// `complete`: the list holds every product, so rows it lacks are gone (a list of the
/// products changed since a date only adds and updates).
pub(crate) async fn merge_products(
    replica: &Replica,
    products: &[Product],
    unreadable: &Unread,
    complete: bool,
) -> Result<bool, SyncError> {
    let mut tx = replica.writer.begin().await?;
    let mut changed = false;
    for p in products {
        let result = sqlx::query(
            "INSERT INTO products (id, name, sku, date_created, date_modified)
                VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, sku = excluded.sku,
                date_created = excluded.date_created, date_modified = excluded.date_modified
             WHERE name IS NOT excluded.name OR sku IS NOT excluded.sku
                OR date_created IS NOT excluded.date_created
                OR date_modified IS NOT excluded.date_modified",
        )
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.sku)
        .bind(&p.date_created)
        .bind(&p.date_modified)
        .execute(&mut *tx)
        .await?;
        changed |= result.rows_affected() > 0;
    }
    if !complete {
        tx.commit().await?;
        return Ok(changed);
    }
    let known: HashSet<i64> = products.iter().map(|p| p.id).collect();
    let with_edits = Outbox::on(&mut tx).products().await?;
    let local: Vec<(i64,)> = sqlx::query_as("SELECT id FROM products")
        .fetch_all(&mut *tx)
        .await?;
    for (id,) in local.into_iter().filter(|(id,)| {
        !known.contains(id) && !with_edits.contains(id) && !unreadable.may_hold(*id)
    }) {
        sqlx::query("DELETE FROM images WHERE product_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM products WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        changed = true;
    }
    tx.commit().await?;
    Ok(changed)
}

/// Removes a product the store no longer has, with its images, unless edits wait on it (they
/// will fail on their own and say so). Returns whether a row went.
pub(crate) async fn forget_product(replica: &Replica, product_id: i64) -> Result<bool, SyncError> {
    let mut tx = replica.writer.begin().await?;
    if Outbox::on(&mut tx).products().await?.contains(&product_id) {
        return Ok(false);
    }
    sqlx::query("DELETE FROM images WHERE product_id = ?")
        .bind(product_id)
        .execute(&mut *tx)
        .await?;
    let gone = sqlx::query("DELETE FROM products WHERE id = ?")
        .bind(product_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        > 0;
    tx.commit().await?;
    Ok(gone)
}

/// The fields of one image that pending edits protect from the store's values.
pub(crate) async fn keep_for(
    conn: &mut SqliteConnection,
    image: ImageId,
    product_id: i64,
) -> Result<Keep, SyncError> {
    let queue = Outbox::on(conn).of_product(product_id).await?;
    Ok(Keep {
        description: queue
            .iter()
            .any(|q| matches!(q.edit, Edit::Describe { image: i, .. } if i == image)),
        picture: queue
            .iter()
            .any(|q| matches!(q.edit, Edit::Replace { image: i, .. } if i == image)),
        thumbnail: queue
            .iter()
            .any(|q| matches!(q.edit, Edit::SetThumbnail { .. })),
    })
}

/// Origins (`scheme://host:port`) of picture addresses that moved: an image the replica and
/// the store both have, whose address has the same path under another origin (a store that
/// restarted on another port, pictures moved to a CDN). Every row under the old origin is then
/// rewritten, not only this product's.
fn moved_origins(rows: &[replica::ImageRow], server: &[Image]) -> Vec<(String, String)> {
    let by_id: HashMap<i64, &Image> = server.iter().map(|i| (i.id, i)).collect();
    let mut moves: Vec<(String, String)> = Vec::new();
    for row in rows {
        let Some(image) = row.server_id.and_then(|id| by_id.get(&id)) else {
            continue;
        };
        let pairs = [
            (&row.record.zoom_url, &image.zoom_url),
            (&row.record.standard_url, &image.standard_url),
            (&row.record.thumbnail_url, &image.thumbnail_url),
            (&row.record.tiny_url, &image.tiny_url),
        ];
        for (local, store) in pairs {
            let (Some(local), Some(store)) = (local.as_deref(), store.as_deref()) else {
                continue;
            };
            let (Some(old), Some(new)) = (replica::origin_of(local), replica::origin_of(store))
            else {
                continue;
            };
            let same_path = local[old.len()..] == store[new.len()..];
            if old != new && same_path && !moves.iter().any(|(o, _)| o == old) {
                moves.push((old.to_owned(), new.to_owned()));
            }
        }
    }
    moves
}

/// Whether the store changed a field since the edit was based on it. The values decide, not
/// `date_modified`: it has one-second resolution, and it also moves when only another field
/// (or the sort order) changed.
fn store_changed(queued: &Queued, server_value: &str) -> bool {
    queued.base.value.as_deref() != Some(server_value)
}

/// A queued edit whose field the store changed since the edit's base.
struct Found<'a> {
    op: &'a Queued,
    /// The image the edit is about (for a thumbnail, the one the person chose).
    image: ImageId,
    field: ConflictField,
    mine: &'a str,
    theirs: &'a str,
    modified: Option<&'a str>,
}

impl Found<'_> {
    /// Holds the edit when the store's value competes with it (and reports that), else only
    /// moves its base: the store already has the local value, or the edit was refused (its
    /// Retry or Discard is the person's choice already). A held edit the store came round to
    /// is let go, as sending it changes nothing.
    async fn settle(
        self,
        conn: &mut SqliteConnection,
        product_id: i64,
    ) -> Result<Option<Event>, SyncError> {
        let mut outbox = Outbox::on(conn);
        let competes = self.theirs != self.mine;
        match (&self.op.state, competes) {
            (EditState::Pending | EditState::Held { .. }, true) => {
                outbox.hold(self.op.seq, self.theirs, self.modified).await?;
                Ok(Some(Event::Conflict(Conflict {
                    seq: self.op.seq,
                    product_id,
                    image: self.image,
                    field: self.field,
                    local: self.mine.to_owned(),
                    server: self.theirs.to_owned(),
                })))
            }
            (EditState::Held { .. }, false) => {
                outbox.release(self.op.seq).await?;
                outbox
                    .rebase(self.op.seq, self.theirs, self.modified)
                    .await?;
                Ok(None)
            }
            _ => {
                outbox
                    .rebase(self.op.seq, self.theirs, self.modified)
                    .await?;
                Ok(None)
            }
        }
    }
}

/// Folds the store's full image list of one product into the replica. `unreadable` are images
/// the store listed but that could not be read: their rows stay as they are (all rows, when one
/// of them had no readable id).
pub(crate) async fn merge_images(
    replica: &Replica,
    product_id: i64,
    server: &[Image],
    unreadable: &Unread,
) -> Result<MergeReport, SyncError> {
    let mut report = MergeReport::default();
    let mut tx = replica.writer.begin().await?;
    let mut rows = replica::product_rows(&mut tx, product_id).await?;
    let mut changed = false;
    let moves = moved_origins(&rows, server);
    for (old, new) in &moves {
        let rewritten = replica::move_origin(&mut tx, old, new).await?;
        tracing::info!("the store's pictures moved from {old} to {new}: {rewritten} rows follow");
        changed = true;
    }
    if !moves.is_empty() {
        rows = replica::product_rows(&mut tx, product_id).await?;
    }
    let queue = Outbox::on(&mut tx).of_product(product_id).await?;
    let mut describes: HashMap<ImageId, (&Queued, &str)> = HashMap::new();
    let mut replaces: HashMap<ImageId, (&Queued, Option<i64>)> = HashMap::new();
    for queued in &queue {
        match &queued.edit {
            Edit::Describe { image, description } => {
                describes.insert(*image, (queued, description.as_str()));
            }
            Edit::Replace {
                image,
                new_server_id,
                ..
            } => {
                replaces.insert(*image, (queued, *new_server_id));
            }
            _ => {}
        }
    }
    let thumbnail_op = queue
        .iter()
        .rev()
        .find(|q| matches!(q.edit, Edit::SetThumbnail { .. }));
    let reorder_pending = queue.iter().any(|q| q.edit == Edit::Reorder);
    // A create or file replace that may have reached the store without us hearing back: its
    // record would look like a stranger's until the worker resends and adopts it.
    let unconfirmed = queue
        .iter()
        .any(|q| matches!(q.edit, Edit::Create { .. } | Edit::Replace { .. }) && q.attempts > 0);
    let replacement_ids: HashSet<i64> = replaces.values().filter_map(|(_, id)| *id).collect();
    let server_by_id: HashMap<i64, &Image> = server.iter().map(|i| (i.id, i)).collect();
    let mut applied = Applied::default();
    let mut local_of_server: HashMap<i64, i64> = HashMap::new();

    for row in &rows {
        let Some(server_id) = row.server_id else {
            continue;
        };
        local_of_server.insert(server_id, row.local_id);
        let local = ImageId(row.local_id);
        let Some(image) = server_by_id.get(&server_id) else {
            if unreadable.may_hold(server_id) {
                // Listed but not readable: still on the store, so nothing to delete.
                continue;
            }
            let replaced = replaces
                .get(&local)
                .and_then(|(_, id)| *id)
                .is_some_and(|id| server_by_id.contains_key(&id));
            if replaced {
                continue;
            }
            let edits = forget_image(&mut tx, local, &mut applied).await?;
            changed = true;
            // A queued delete of an image the store already deleted is simply done.
            let queued_delete = queue
                .iter()
                .any(|q| q.edit == Edit::Delete { image: local });
            let dropped = edits - usize::from(queued_delete);
            if dropped > 0 {
                report.events.push(Event::EditsDropped {
                    product_id,
                    image: ImageId(row.local_id),
                    edits: dropped,
                    reason: "the image was deleted on the store".into(),
                });
            }
            continue;
        };
        if let Some((op, mine)) = describes.get(&local)
            && store_changed(op, &image.description)
        {
            let found = Found {
                op,
                image: local,
                field: ConflictField::Description,
                mine,
                theirs: &image.description,
                modified: image.date_modified.as_deref(),
            };
            report
                .events
                .extend(found.settle(&mut tx, product_id).await?);
        }
        if let Some((op, new_server_id)) = replaces.get(&local)
            && store_changed(op, &image.image_file)
        {
            if new_server_id.is_some() {
                // Half sent (the new record exists): holding it would leave that record behind,
                // so it finishes, and the store's picture is replaced.
                tracing::info!(
                    "image {local}: the store changed the picture while a replace of it was half sent; the replace finishes"
                );
                Outbox::on(&mut tx)
                    .rebase(op.seq, &image.image_file, image.date_modified.as_deref())
                    .await?;
            } else {
                let found = Found {
                    op,
                    image: local,
                    field: ConflictField::Picture,
                    mine: &row.record.image_file,
                    theirs: &image.image_file,
                    modified: image.date_modified.as_deref(),
                };
                report
                    .events
                    .extend(found.settle(&mut tx, product_id).await?);
            }
        }
        let keep = Keep {
            description: describes.contains_key(&local),
            picture: replaces.contains_key(&local) || row.local_file.is_some(),
            thumbnail: thumbnail_op.is_some(),
        };
        // Whole records are compared, so a field the store adds syncs without a rule here.
        if StoreRecord::from(*image).keeping(&row.record, keep) != row.record {
            replica::write_server_fields(&mut tx, row, image, keep).await?;
            changed = true;
        }
    }

    let mut next_position: i64 = rows.iter().map(|r| r.position + 1).max().unwrap_or(0);
    if !unconfirmed {
        for image in server {
            if local_of_server.contains_key(&image.id) || replacement_ids.contains(&image.id) {
                continue;
            }
            let local_id = replica::insert_server_image(&mut tx, image, next_position).await?;
            if thumbnail_op.is_some() {
                // A pending thumbnail choice stands until it is sent.
                sqlx::query("UPDATE images SET is_thumbnail = 0 WHERE local_id = ?")
                    .bind(local_id)
                    .execute(&mut *tx)
                    .await?;
            }
            local_of_server.insert(image.id, local_id);
            next_position += 1;
            changed = true;
        }
    }

    if let Some(op) = thumbnail_op
        && let Some(server_thumb) = server.iter().find(|i| i.is_thumbnail)
        && let Some(&local_thumb) = local_of_server.get(&server_thumb.id)
    {
        let server_value = ImageId(local_thumb).to_string();
        if op.base.value.as_deref() != Some(server_value.as_str()) {
            let local = op.edit.image().map(|i| i.to_string()).unwrap_or_default();
            let found = Found {
                op,
                image: op.edit.image().unwrap_or(ImageId(local_thumb)),
                field: ConflictField::Thumbnail,
                mine: &local,
                theirs: &server_value,
                modified: None,
            };
            report
                .events
                .extend(found.settle(&mut tx, product_id).await?);
        }
    }

    if !reorder_pending {
        // The store's order, then images it does not have yet, in their local order.
        let rows = replica::product_rows(&mut tx, product_id).await?;
        let rank: HashMap<i64, usize> = server
            .iter()
            .enumerate()
            .map(|(i, img)| (img.id, i))
            .collect();
        // Keys in steps of two: an image of the store's list at 2·rank+1; an image the store
        // listed but could not be read just after the one before it locally (or first), as its
        // place is unknown; images the store does not have yet after all of them.
        let mut after: usize = 0;
        let mut order: Vec<(usize, usize, i64, i64)> = rows
            .iter()
            .enumerate()
            .map(|(local_rank, row)| {
                let listed = row.server_id.and_then(|id| rank.get(&id).copied());
                let key = match (listed, row.server_id) {
                    (Some(r), _) => {
                        after = 2 * r + 2;
                        2 * r + 1
                    }
                    (None, Some(id)) if unreadable.may_hold(id) => after,
                    _ => 2 * server.len() + 2,
                };
                (key, local_rank, row.local_id, row.position)
            })
            .collect();
        order.sort();
        for (position, (_, _, local_id, old)) in order.into_iter().enumerate() {
            if old != position as i64 {
                sqlx::query("UPDATE images SET position = ? WHERE local_id = ?")
                    .bind(position as i64)
                    .bind(local_id)
                    .execute(&mut *tx)
                    .await?;
                changed = true;
            }
        }
    }
    tx.commit().await?;
    report.unused_blobs = applied.unused_blobs;
    if changed || !report.events.is_empty() {
        report.events.push(Event::ImagesChanged { product_id });
    }
    Ok(report)
}
