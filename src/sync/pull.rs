//! Reading the store into the replica without reading all of it.
//!
//! A real store has 100,000 products and a request quota of a few per second shared by every
//! app of the merchant (SPEC §2), so the engine never lists every product's images on a timer.
//! Instead:
//! - **Products** are listed in full once, then only those changed since the newest
//!   `date_modified` seen (the *watermark*, `?min_date_modified=`), plus a product count that
//!   notices deletions: a round with nothing changed costs two requests.
//! - **Images** of a product are read when the user opens it ([`pull_product`] first in a
//!   round), when its `date_modified` moved since its images were last read, and by a paced
//!   background **sweep** ([`next_to_sweep`]) of the products never read (oldest read first),
//!   which runs between rounds and survives restarts (the replica keeps each product's read
//!   time). Against a store whose product list ignores the filter, or sends no dates, the sweep
//!   reads each product again once its last read is older than `sweep_again_after` (one
//!   request per product per hour at most), and the product list is read once per that time.
//!
//! Dates are the store's, with one-second resolution: a write landing in the same second as our
//! read of a product leaves its `date_modified` unchanged. So a read counts as *settled* (its
//! date is remembered and the product is not read again until the date moves) only when the
//! store's clock has surely passed that second: the product's date is older than the
//! watermark, or the watermark was first seen more than [`SETTLE`] ago (the store's clock runs
//! at ours; its value is never compared with ours).

use std::collections::{HashMap, HashSet};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::SyncError;
use super::clock::now_ms;
use super::edits::remove_blobs;
use super::merge;
use super::model::Event;
use super::replica::{self, StoreFact, StoreMark};
use super::worker::Shared;
use crate::api::dates::{format_store_date, parse_store_date};
use crate::api::{ApiError, FieldValue, Product, RecordKind, UnreadableRecord};

/// How long after the watermark is first seen a read surely comes after the store's clock
/// left the watermark's second.
pub(crate) const SETTLE: Duration = Duration::from_millis(1500);

/// The least time between two full product listings made because the store's product count
/// differs from the replica's (one unreadable product record would otherwise cause one every
/// round).
const RELIST_FOR_COUNT: Duration = Duration::from_secs(10 * 60);

/// What the engine knows about the store's product dates, in memory (the watermark itself is
/// also kept in the replica).
#[derive(Debug, Default)]
pub(crate) struct Catalogue {
    /// The newest product `date_modified` seen (store seconds), and when it was first seen.
    watermark: Option<(i64, Instant)>,
    /// Every product with a date up to this second is in the replica: a listing since the
    /// watermark was made after the store's clock had left the watermark's second. Listings
    /// then ask for the second after it, so a round with nothing changed lists nothing.
    covered_through: Option<i64>,
    /// Whether the replica's watermark has been read since the engine opened.
    loaded: bool,
    last_count_relist: Option<Instant>,
}

impl Catalogue {
    fn raise(&mut self, seconds: i64) {
        if self.watermark.is_none_or(|(known, _)| seconds > known) {
            self.watermark = Some((seconds, Instant::now()));
        }
    }

    /// The `min_date_modified` of the next listing: the watermark's second until a listing
    /// covered it, then the second after.
    fn since(&self) -> Option<i64> {
        let (mark, _) = self.watermark?;
        Some(match self.covered_through {
            Some(covered) if covered >= mark => mark + 1,
            _ => mark,
        })
    }

    /// The watermark a listing starting now will cover: one first seen long enough ago that
    /// the store's clock has left its second.
    fn coverable(&self) -> Option<i64> {
        self.watermark
            .filter(|(_, seen)| seen.elapsed() >= SETTLE)
            .map(|(mark, _)| mark)
    }

    /// Whether a read of a product whose `date_modified` is `date`, made now, cannot have
    /// missed a write in the same second.
    fn settled(&self, date: Option<i64>) -> bool {
        match (date, self.watermark) {
            (Some(date), Some((mark, seen))) => date < mark || seen.elapsed() >= SETTLE,
            _ => false,
        }
    }
}

/// How a product listing was asked for.
enum Listed {
    /// Every product: rows the listing lacks are gone.
    Complete(Vec<Product>),
    /// Only products changed since the watermark.
    Since(Vec<Product>),
}

/// Looks for changes in the store: products (in full when due, else since the watermark), then
/// the images of each product whose date moved since its images were read. `full` lists every
/// product whatever the watermark says.
pub(crate) async fn pull_changes(shared: &Shared, full: bool) -> Result<(), SyncError> {
    load_watermark(shared).await?;
    let (filters, listed_at) = {
        let mut conn = shared.replica.writer.acquire().await?;
        (
            replica::store_fact(&mut conn, StoreFact::FiltersProductsByDate).await?,
            replica::store_mark(&mut conn, StoreMark::ProductsListedAt).await?,
        )
    };
    let (watermark, since, coverable) = {
        let catalogue = catalogue(shared);
        (
            catalogue.watermark.map(|(mark, _)| mark),
            catalogue.since(),
            catalogue.coverable(),
        )
    };
    let again_after = millis(shared.config.sweep_again_after);
    let relist_due = full
        || listed_at.is_none()
        || (filters != Some(false) && watermark.is_none())
        || (filters == Some(false)
            && listed_at.is_some_and(|at| now_ms().saturating_sub(at) >= again_after));
    let listed = match (relist_due, filters, since) {
        (false, Some(false), _) => return Ok(()), // the sweep reads the images
        (false, _, Some(from)) => {
            let since = shared
                .client
                .list_products_since(&format_store_date(from))
                .await?;
            note_product_unreadable(shared, &since.unreadable);
            let ignored = since
                .records
                .iter()
                .any(|p| product_date(p).is_none_or(|d| d < from));
            if ignored {
                tracing::info!(
                    "the store ignores min_date_modified on products: reading them in full once \
                     per {:?}, images by a paced sweep",
                    shared.config.sweep_again_after
                );
                set_filters(shared, false).await?;
            }
            let unread = merge::Unread::of(&since.unreadable, RecordKind::Product, |r| {
                r.id.or(r.product_id)
            });
            if ignored {
                merge_listing(shared, Listed::Complete(since.records), &unread).await?
            } else {
                merge_listing(shared, Listed::Since(since.records), &unread).await?
            }
        }
        _ => list_in_full(shared).await?,
    };
    if let Some(covered) = coverable {
        let mut catalogue = catalogue(shared);
        catalogue.covered_through = catalogue.covered_through.max(Some(covered));
    }
    if matches!(listed, Listed::Since(_)) {
        notice_deletions(shared).await?;
    }
    let products = match &listed {
        Listed::Complete(p) | Listed::Since(p) => p,
    };
    for product_id in changed_since_read(shared, products).await? {
        read_or_report(shared, product_id).await?;
    }
    Ok(())
}

/// Every product, merged as the complete list (rows it lacks go, unless edits wait on them).
async fn list_in_full(shared: &Shared) -> Result<Listed, SyncError> {
    let listing = shared.client.list_all_products().await?;
    // A complete listing says all there is to say about the list's own records.
    shared.note_unreadable(None, listing.unreadable.clone());
    let unread = merge::Unread::of(&listing.unreadable, RecordKind::Product, |r| {
        r.id.or(r.product_id)
    });
    if listing.records.iter().any(|p| product_date(p).is_none()) {
        // Without dates the filter cannot be used, whatever the store would do with it.
        set_filters(shared, false).await?;
    }
    merge_listing(shared, Listed::Complete(listing.records), &unread).await
}

async fn merge_listing(
    shared: &Shared,
    listed: Listed,
    unread: &merge::Unread,
) -> Result<Listed, SyncError> {
    let (products, complete) = match &listed {
        Listed::Complete(p) => (p, true),
        Listed::Since(p) => (p, false),
    };
    if complete {
        forget_unlisted_reports(shared, products, unread);
    }
    if merge::merge_products(&shared.replica, products, unread, complete).await? {
        shared.emit(Event::ProductsChanged);
    }
    let newest = products.iter().filter_map(product_date).max();
    {
        let mut catalogue = catalogue(shared);
        if let Some(newest) = newest {
            catalogue.raise(newest);
        }
    }
    let mut conn = shared.replica.writer.acquire().await?;
    if let Some(newest) = newest
        && replica::store_mark(&mut conn, StoreMark::ProductWatermark)
            .await?
            .is_none_or(|known| newest > known)
    {
        replica::set_store_mark(&mut conn, StoreMark::ProductWatermark, newest).await?;
    }
    if complete {
        replica::set_store_mark(&mut conn, StoreMark::ProductsListedAt, now_ms()).await?;
    }
    Ok(listed)
}

/// A listing since the watermark never shows deletions: the store's product count does. When
/// it differs from the replica's, the product list is read in full (at most once per
/// [`RELIST_FOR_COUNT`]).
async fn notice_deletions(shared: &Shared) -> Result<(), SyncError> {
    let in_store = shared.client.count_products().await?;
    let local: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(&shared.replica.reader)
        .await?;
    if u64::try_from(local).unwrap_or(0) == in_store {
        return Ok(());
    }
    {
        let mut catalogue = catalogue(shared);
        if catalogue
            .last_count_relist
            .is_some_and(|at| at.elapsed() < RELIST_FOR_COUNT)
        {
            return Ok(());
        }
        catalogue.last_count_relist = Some(Instant::now());
    }
    tracing::info!("the store has {in_store} products, the replica {local}: reading the list");
    list_in_full(shared).await?;
    Ok(())
}

/// The listed products whose images were read before and whose date moved since.
async fn changed_since_read(shared: &Shared, listed: &[Product]) -> Result<Vec<i64>, SyncError> {
    if listed.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(
        "SELECT id, images_read_modified FROM products WHERE images_read_at IS NOT NULL",
    )
    .fetch_all(&shared.replica.reader)
    .await?;
    let read: HashMap<i64, Option<String>> = rows.into_iter().collect();
    Ok(listed
        .iter()
        .filter(|p| {
            read.get(&p.id)
                .is_some_and(|seen| seen.is_none() || *seen != p.date_modified)
        })
        .map(|p| p.id)
        .collect())
}

/// Reads one product's images; an error that concerns only this product is reported as its
/// unreadable record (and the product counts as read, so the sweep moves on), one that
/// concerns the store (unreachable, 429) stops the caller.
pub(crate) async fn read_or_report(shared: &Shared, product_id: i64) -> Result<(), SyncError> {
    match pull_product(shared, product_id).await {
        Ok(()) => Ok(()),
        Err(SyncError::Api(err)) if !stops_pull(&err) => {
            product_unreadable(shared, product_id, &err);
            mark_read(shared, product_id, false).await
        }
        Err(other) => Err(other),
    }
}

/// Reads one product's images into the replica and records when. A product the store no
/// longer has leaves the replica (unless edits wait on it).
pub(crate) async fn pull_product(shared: &Shared, product_id: i64) -> Result<(), SyncError> {
    let listing = match shared.client.list_all_images(product_id).await {
        Err(err) if err.is_not_found() => {
            shared.note_unreadable(Some(product_id), Vec::new());
            if merge::forget_product(&shared.replica, product_id).await? {
                shared.emit(Event::ProductsChanged);
            }
            return Ok(());
        }
        other => other?,
    };
    // An image whose record could not be read is still on the store: its row stays as it is.
    let unread = merge::Unread::of(&listing.unreadable, RecordKind::Image, |r| r.id);
    shared.note_unreadable(Some(product_id), listing.unreadable);
    let report =
        merge::merge_images(&shared.replica, product_id, &listing.records, &unread).await?;
    remove_blobs(&shared.replica, &report.unused_blobs);
    let date: Option<Option<String>> =
        sqlx::query_scalar("SELECT date_modified FROM products WHERE id = ?")
            .bind(product_id)
            .fetch_optional(&shared.replica.reader)
            .await?;
    let settled = catalogue(shared).settled(date.flatten().as_deref().and_then(parse_store_date));
    mark_read(shared, product_id, settled).await?;
    for event in report.events {
        shared.emit(event);
    }
    Ok(())
}

/// Records that the product's images were just read; `settled`: the read cannot have missed a
/// write in the second of the product's date (see the module documentation).
async fn mark_read(shared: &Shared, product_id: i64, settled: bool) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE products SET images_read_at = ?,
            images_read_modified = CASE WHEN ? THEN date_modified ELSE NULL END
         WHERE id = ?",
    )
    .bind(now_ms())
    .bind(settled)
    .bind(product_id)
    .execute(&shared.replica.writer)
    .await?;
    Ok(())
}

/// The product the background sweep reads next, if any: never read first, then (for a store
/// whose product list cannot say what changed) the one read longest ago, once that read is
/// older than `sweep_again_after`.
pub(crate) async fn next_to_sweep(shared: &Shared) -> Result<Option<i64>, SyncError> {
    let filters = {
        let mut conn = shared.replica.reader.acquire().await?;
        replica::store_fact(&mut conn, StoreFact::FiltersProductsByDate).await?
    };
    let cutoff = if filters == Some(false) {
        now_ms().saturating_sub(millis(shared.config.sweep_again_after))
    } else {
        i64::MIN
    };
    Ok(sqlx::query_scalar(
        "SELECT id FROM products WHERE images_read_at IS NULL OR images_read_at < ?
         ORDER BY images_read_at, id LIMIT 1",
    )
    .bind(cutoff)
    .fetch_optional(&shared.replica.reader)
    .await?)
}

/// Products whose images have never been read.
pub(crate) async fn never_read(shared: &Shared) -> Result<u64, SyncError> {
    let count: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE images_read_at IS NULL")
            .fetch_one(&shared.replica.reader)
            .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Whether an error pulling one product means the rest cannot be pulled either: the store
/// does not answer, or asks us to slow down.
pub(crate) fn stops_pull(err: &ApiError) -> bool {
    matches!(err, ApiError::Network(_)) || err.status() == Some(429)
}

/// Reports a product whose image list could not be read, once while it stays so.
fn product_unreadable(shared: &Shared, product_id: i64, err: &ApiError) {
    let record = UnreadableRecord {
        kind: RecordKind::Product,
        product_id: Some(product_id),
        id: Some(product_id),
        field: Some("images".to_owned()),
        value: FieldValue::Missing,
        reason: format!("its images could not be read: {err}"),
    };
    if shared.note_unreadable(Some(product_id), vec![record]) {
        tracing::warn!("the images of product {product_id} could not be read: {err}");
    }
}

/// A listing since the watermark reports only the records it held: it never clears the
/// report of the last complete listing.
fn note_product_unreadable(shared: &Shared, records: &[UnreadableRecord]) {
    if !records.is_empty() {
        shared.note_unreadable(None, records.to_vec());
    }
}

/// After a complete listing: reports about products the store no longer lists go with them,
/// and the list's own report is what this listing said.
fn forget_unlisted_reports(shared: &Shared, products: &[Product], unread: &merge::Unread) {
    let listed: HashSet<i64> = products.iter().map(|p| p.id).collect();
    let gone: Vec<i64> = {
        let map = shared
            .unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.keys()
            .flatten()
            .filter(|id| !listed.contains(id) && !unread.may_hold(**id))
            .copied()
            .collect()
    };
    for product_id in gone {
        shared.note_unreadable(Some(product_id), Vec::new());
    }
}

fn product_date(product: &Product) -> Option<i64> {
    product.date_modified.as_deref().and_then(parse_store_date)
}

async fn set_filters(shared: &Shared, filters: bool) -> Result<(), SyncError> {
    let mut conn = shared.replica.writer.acquire().await?;
    replica::set_store_fact(&mut conn, StoreFact::FiltersProductsByDate, filters).await
}

/// Reads the replica's watermark once per engine: it was first seen (by this engine) now.
async fn load_watermark(shared: &Shared) -> Result<(), SyncError> {
    if catalogue(shared).loaded {
        return Ok(());
    }
    let mark = {
        let mut conn = shared.replica.writer.acquire().await?;
        replica::store_mark(&mut conn, StoreMark::ProductWatermark).await?
    };
    let mut catalogue = catalogue(shared);
    catalogue.loaded = true;
    if let Some(mark) = mark {
        catalogue.raise(mark);
    }
    Ok(())
}

/// Whether the last product listing had records that could not be read.
pub(crate) fn list_unreadable(shared: &Shared) -> bool {
    shared
        .unreadable
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .contains_key(&None)
}

/// Reads again every product whose last read failed (the user asked for a refresh).
pub(crate) async fn retry_unreadable(shared: &Shared) -> Result<(), SyncError> {
    let failed: Vec<i64> = {
        let map = shared
            .unreadable
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.keys().flatten().copied().collect()
    };
    for product_id in failed {
        read_or_report(shared, product_id).await?;
    }
    Ok(())
}

fn catalogue(shared: &Shared) -> std::sync::MutexGuard<'_, Catalogue> {
    shared
        .catalogue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_settles_only_once_the_store_left_the_second_of_the_products_date() {
        let mut catalogue = Catalogue::default();
        assert!(!catalogue.settled(Some(100)), "no watermark yet");
        catalogue.raise(100);
        assert!(catalogue.settled(Some(99)), "older than the watermark");
        assert!(
            !catalogue.settled(Some(100)),
            "the watermark's own second, just seen"
        );
        assert!(!catalogue.settled(None), "a product without a date");
        catalogue.watermark = Some((100, Instant::now() - SETTLE));
        assert!(catalogue.settled(Some(100)), "seen long enough ago");
        catalogue.raise(100);
        assert!(
            catalogue.settled(Some(100)),
            "the same watermark again keeps when it was first seen"
        );
        catalogue.raise(101);
        assert!(!catalogue.settled(Some(101)));
    }
}
