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
//! watermark, or the watermark was first seen more than [`SETTLE`](super::watermark::SETTLE) ago (the store's clock runs
//! at ours; its value is never compared with ours).

use std::collections::HashSet;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use super::SyncError;
use super::clock::now_ms;
use super::edits::remove_blobs;
use super::merge;
use super::model::Event;
use super::replica::{self, StoreFact, StoreMark};
use super::shared::Shared;
use super::watermark::Catalogue;
use crate::api::dates::{format_store_date, parse_store_date};
use crate::api::{ApiError, FieldValue, Product, RecordKind, UnreadableRecord};

/// The least time between two full product listings made because the store's product count
/// differs from the replica's (one unreadable product record would otherwise cause one every
/// round).
const RELIST_FOR_COUNT: Duration = Duration::from_secs(10 * 60);

/// How long after a product's images could not be read (a 403, an answer that cannot be read)
/// the sweep tries again.
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(10 * 60);

/// How a product listing was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// Every product: rows the listing lacks are gone.
    Complete,
    /// Only products changed since the watermark.
    Since,
}

/// Looks for changes in the store: products (in full when due, else since the watermark), then
/// the images of each product whose date moved since its images were read (the replica keeps
/// which: a round that fails leaves them for the next). `full` lists every product whatever
/// the watermark says.
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
            catalogue.watermark,
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
    match (relist_due, filters, since) {
        (false, Some(false), _) => {} // the sweep reads the images
        (false, _, Some(from)) => {
            let started = Instant::now();
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
                // Merged as what it surely is (changes): a product without a date in a list
                // that did filter must not make every other product look deleted.
                tracing::info!(
                    "the store's product list cannot say what changed (min_date_modified \
                     ignored, or products without dates): reading it in full once per {:?}, \
                     images by a paced sweep",
                    shared.config.sweep_again_after
                );
                set_filters(shared, false).await?;
            }
            let unread = merge::Unread::of(&since.unreadable, RecordKind::Product, |r| {
                r.id.or(r.product_id)
            });
            let pages = pages(since.records.len() + since.unreadable.len());
            merge_listing(
                shared,
                Listing::Since,
                &since.records,
                &unread,
                watermark,
                started,
                pages,
            )
            .await?;
            // Products of the covered second cannot change date any more; one written while
            // the pages were read has a later date, so the next listing has it.
            if let Some(covered) = coverable {
                let mut catalogue = catalogue(shared);
                catalogue.covered_through = catalogue.covered_through.max(Some(covered));
            }
            if !ignored {
                notice_deletions(shared).await?;
            }
        }
        _ => list_in_full(shared).await?,
    }
    if filters == Some(false) {
        // Its dates, if any, cannot be trusted to move: the sweep finds changes, and the
        // product the user looks at is read on every look.
        forget_shown_read(shared);
        return read_shown_if_new(shared).await;
    }
    for product_id in stale_products(shared).await? {
        // A product opened meanwhile goes before the rest.
        read_shown_if_new(shared).await?;
        read_or_report(shared, product_id).await?;
    }
    Ok(())
}

/// Reads the shown product's images if they have not been read since it was shown.
pub(crate) async fn read_shown_if_new(shared: &Shared) -> Result<(), SyncError> {
    let shown = *shared
        .shown_product
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let read = *shared
        .shown_read
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(product_id) = shown.filter(|_| shown != read) {
        read_or_report(shared, product_id).await?;
        *shared
            .shown_read
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = shown;
    }
    Ok(())
}

/// The shown product is read again at the next chance.
pub(crate) fn forget_shown_read(shared: &Shared) {
    *shared
        .shown_read
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = None;
}

/// Pages of 250 a listing of `records` took.
fn pages(records: usize) -> usize {
    records / 250 + 1
}

/// Every product, merged as the complete list (rows it lacks go, unless edits wait on them).
async fn list_in_full(shared: &Shared) -> Result<(), SyncError> {
    let watermark = catalogue(shared).watermark;
    let started = Instant::now();
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
    let pages = pages(listing.records.len() + listing.unreadable.len());
    merge_listing(
        shared,
        Listing::Complete,
        &listing.records,
        &unread,
        watermark,
        started,
        pages,
    )
    .await
}

/// Merges a product listing and raises the watermark. A listing of several pages is not one
/// snapshot: a product written while later pages were read may carry a date older than the
/// newest on them, so the watermark is raised no further than the store's clock surely was
/// when the listing began (known from the previous watermark and how long ago it was seen).
async fn merge_listing(
    shared: &Shared,
    listing: Listing,
    products: &[Product],
    unread: &merge::Unread,
    before: Option<(i64, Instant)>,
    started: Instant,
    pages: usize,
) -> Result<(), SyncError> {
    let complete = listing == Listing::Complete;
    if complete {
        forget_unlisted_reports(shared, products, unread);
    }
    if merge::merge_products(&shared.replica, products, unread, complete).await? {
        shared.emit(Event::ProductsChanged);
    }
    let newest = products.iter().filter_map(product_date).max();
    let raised = match (newest, before) {
        (Some(newest), _) if pages == 1 => Some(newest),
        (Some(newest), Some((mark, seen))) => {
            let passed = i64::try_from(started.saturating_duration_since(seen).as_secs())
                .unwrap_or(i64::MAX);
            Some(
                newest
                    .min(mark.saturating_add(passed).saturating_sub(1))
                    .max(mark),
            )
        }
        // The first listing: products written while it was read are read by the sweep (none
        // of their images has been read yet), so the newest date will do.
        (Some(newest), None) => Some(newest),
        (None, _) => None,
    };
    if let Some(raised) = raised {
        catalogue(shared).raise(raised);
    }
    let mut conn = shared.replica.writer.acquire().await?;
    if let Some(raised) = raised
        && replica::store_mark(&mut conn, StoreMark::ProductWatermark)
            .await?
            .is_none_or(|known| raised > known)
    {
        replica::set_store_mark(&mut conn, StoreMark::ProductWatermark, raised).await?;
    }
    if complete {
        replica::set_store_mark(&mut conn, StoreMark::ProductsListedAt, now_ms()).await?;
    }
    Ok(())
}

/// A listing since the watermark never shows deletions: the store's product count does. When
/// it differs from the replica's, the product list is read in full (at most once per
/// [`RELIST_FOR_COUNT`], and not again for the same pair of counts: rows kept for their edits
/// or product records that cannot be read keep the counts apart for good).
async fn notice_deletions(shared: &Shared) -> Result<(), SyncError> {
    let in_store = shared.client.count_products().await?;
    let local: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM products")
        .fetch_one(&shared.replica.reader)
        .await?;
    let local = u64::try_from(local).unwrap_or(0);
    if local == in_store {
        return Ok(());
    }
    {
        let mut catalogue = catalogue(shared);
        let recent = catalogue
            .last_count_relist
            .is_some_and(|(at, _)| at.elapsed() < RELIST_FOR_COUNT);
        let same = catalogue
            .last_count_relist
            .is_some_and(|(_, counts)| counts == (in_store, local));
        if recent || same {
            return Ok(());
        }
        catalogue.last_count_relist = Some((Instant::now(), (in_store, local)));
    }
    tracing::info!("the store has {in_store} products, the replica {local}: reading the list");
    list_in_full(shared).await
}

/// Products read before whose date moved since their last read (or whose last read could
/// have missed a write in its second), oldest id first.
async fn stale_products(shared: &Shared) -> Result<Vec<i64>, SyncError> {
    Ok(sqlx::query_scalar(
        "SELECT id FROM products
         WHERE images_read_at IS NOT NULL AND date_modified IS NOT NULL
           AND images_read_modified IS NOT date_modified
         ORDER BY id",
    )
    .fetch_all(&shared.replica.reader)
    .await?)
}

/// Reads one product's images. An error that concerns only this product (a 403, an answer
/// that cannot be read) is reported as its unreadable record and the product is marked as
/// failed, so the sweep moves on and tries it again later; one that concerns the store
/// (unreachable, 429, 5xx) stops the caller and leaves the product as it was.
pub(crate) async fn read_or_report(shared: &Shared, product_id: i64) -> Result<(), SyncError> {
    match pull_product(shared, product_id).await {
        Ok(()) => Ok(()),
        Err(SyncError::Api(err)) if !stops_pull(&err) => {
            product_unreadable(shared, product_id, &err);
            mark_failed(shared, product_id).await
        }
        Err(other) => Err(other),
    }
}

/// Reads one product's images into the replica and records when. A product the store no
/// longer has leaves the replica (unless edits wait on it).
pub(crate) async fn pull_product(shared: &Shared, product_id: i64) -> Result<(), SyncError> {
    // Whether this read can miss a write in the second of the product's date is decided by
    // what was known before the request went out (see `Catalogue::settled`).
    let date: Option<Option<String>> =
        sqlx::query_scalar("SELECT date_modified FROM products WHERE id = ?")
            .bind(product_id)
            .fetch_optional(&shared.replica.reader)
            .await?;
    let date = date.flatten();
    let settled = catalogue(shared).settled(date.as_deref().and_then(parse_store_date));
    let listing = match shared.client.list_all_images(product_id).await {
        Err(err) if err.is_not_found() => {
            shared.note_unreadable(Some(product_id), Vec::new());
            if merge::forget_product(&shared.replica, product_id).await? {
                shared.emit(Event::ProductsChanged);
            } else {
                // Kept for the edits that wait on it: read, so the sweep does not spin on it.
                mark_read(shared, product_id, false, None).await?;
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
    mark_read(shared, product_id, settled, date).await?;
    for event in report.events {
        shared.emit(event);
    }
    Ok(())
}

/// Records that the product's images were just read. `settled`: the read cannot have missed a
/// write in the second of `date`, the product's date when the read began (see the module
/// documentation); otherwise the product stays stale and is read again by the next round.
async fn mark_read(
    shared: &Shared,
    product_id: i64,
    settled: bool,
    date: Option<String>,
) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE products SET images_read_at = ?, images_read_failed = 0,
            images_read_modified = ?
         WHERE id = ?",
    )
    .bind(now_ms())
    .bind(date.filter(|_| settled))
    .bind(product_id)
    .execute(&shared.replica.writer)
    .await?;
    Ok(())
}

/// Records a read that failed for this product alone: the sweep tries it again after
/// [`RETRY_FAILED_AFTER`]; the product is not stale meanwhile (a round would only fail again).
async fn mark_failed(shared: &Shared, product_id: i64) -> Result<(), SyncError> {
    sqlx::query(
        "UPDATE products SET images_read_at = ?, images_read_failed = 1,
            images_read_modified = date_modified
         WHERE id = ?",
    )
    .bind(now_ms())
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
    // Both through the index on (images_read_at, id): never read first, then oldest read.
    let next: Option<i64> = if filters == Some(false) {
        sqlx::query_scalar(
            "SELECT id FROM products WHERE images_read_at IS NULL OR images_read_at < ?
             ORDER BY images_read_at, id LIMIT 1",
        )
        .bind(now_ms().saturating_sub(millis(shared.config.sweep_again_after)))
        .fetch_optional(&shared.replica.reader)
        .await?
    } else {
        sqlx::query_scalar(
            "SELECT id FROM products WHERE images_read_at IS NULL ORDER BY id LIMIT 1",
        )
        .fetch_optional(&shared.replica.reader)
        .await?
    };
    if next.is_some() {
        return Ok(next);
    }
    Ok(sqlx::query_scalar(
        "SELECT id FROM products WHERE images_read_failed = 1 AND images_read_at < ?
         ORDER BY images_read_at LIMIT 1",
    )
    .bind(now_ms().saturating_sub(millis(RETRY_FAILED_AFTER)))
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
/// does not answer, asks us to slow down, or fails (5xx, after the client's own retries).
pub(crate) fn stops_pull(err: &ApiError) -> bool {
    err.is_transient()
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
