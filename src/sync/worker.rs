//! The background worker: pulls the store into the replica and sends the outbox, in order,
//! whenever the store answers.
//!
//! One worker per engine, on the tokio runtime. It is the only code that sends edits, so the
//! queue needs no locks beyond SQLite's single writer; enqueuers run concurrently and only ever
//! fold into an edit in a way the worker notices (see `edits`).

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::clock::{deadline_in, now_ms};
use super::edits::{Applied, forget_image, random_hex, remove_blobs};
use super::merge::keep_for;
use super::model::{Connection, Event, ImageId};
use super::outbox::{Edit, Outbox, Queued, Source, Unreadable};
use super::pull;
use super::replica;
use super::shared::Shared;
use super::trash;
use super::{EngineConfig, SyncError};
use crate::api::reorder::plan_reorder;
use crate::api::{ApiError, Created, Image, ImageWrite, RecordKind, UploadSource};

/// How long a probe may take before the store counts as gone: with the default probe interval
/// (1 s) a store that stops answering shows as offline within 5 s.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest the engine waits because the store asked (429 `X-Retry-After`): a store asking
/// for a day would otherwise stop every edit for a day.
const MAX_STORE_WAIT: Duration = Duration::from_secs(5 * 60);

/// The least time between two "products changed" events while the sweep reads: each makes the
/// app read a page of the product list again.
const SWEEP_EVENT_SPACING: Duration = Duration::from_millis(500);

pub(crate) async fn run(shared: Arc<Shared>, cancel: CancellationToken) {
    let mut failures: u32 = 0;
    let mut last_pull: Option<Instant> = None;
    // A look for changes was due and has not succeeded since: the next round makes it.
    let mut pull_owed = false;
    // A probe found the store unreachable, and none has found it back since.
    let mut probe_failed = false;
    loop {
        // Back from offline (a failed round or a failed probe): the store may have changed.
        let offline = shared.status.borrow().connection == Connection::Offline;
        let refresh = shared.pull_requested.swap(false, Ordering::SeqCst);
        let pull_due = pull_owed
            || offline
            || refresh
            || last_pull.is_none_or(|at| at.elapsed() >= shared.config.pull_interval);
        if refresh || offline {
            pull::forget_shown_read(&shared);
        }
        pull_owed = pull_due;
        let round = async {
            // The product the user looks at goes first: one request, before anything else.
            pull::read_shown_if_new(&shared).await?;
            // Then the edits, before any look for changes (which may list many pages).
            if !shared.paused.load(Ordering::SeqCst) {
                push(&shared).await?;
            }
            if pull_due {
                // A product record that could not be read is withdrawn only by a complete
                // listing: the user's refresh makes one.
                pull::pull_changes(&shared, refresh && pull::list_unreadable(&shared)).await?;
                if refresh {
                    // The user asked: what could not be read gets another try now.
                    pull::retry_unreadable(&shared).await?;
                }
                last_pull = Some(Instant::now());
                pull_owed = false;
            }
            Ok::<(), SyncError>(())
        };
        // Probes go on during the round, so that a store that stops answering mid-round shows
        // as offline within seconds; they do not cut the round short.
        let outcome = tokio::select! {
            _ = cancel.cancelled() => return,
            outcome = round => outcome,
            never = probe_during_round(&shared) => match never {},
        };
        shared.refresh_counts().await;
        // A wait the store asked for (429 with a retry-after) is not cut short by new edits,
        // refreshes or resumes: the store would only refuse again, and the quota is shared.
        let (wait, store_asked) = match outcome {
            Ok(()) => {
                failures = 0;
                shared.set_status(|s| {
                    s.connection = Connection::Online;
                    s.last_error = None;
                    s.last_sync = Some(SystemTime::now());
                });
                let since = last_pull.map_or(Duration::ZERO, |at| at.elapsed());
                (shared.config.pull_interval.saturating_sub(since), false)
            }
            Err(err) => {
                failures = failures.saturating_add(1);
                // Offline only when the store could not be reached; a 5xx or a 429 is the store
                // answering (edits wait all the same, and the error says why).
                tracing::info!("sync round stopped: {err}");
                shared.set_status(|s| {
                    s.connection = match &err {
                        SyncError::Api(ApiError::Network(_)) => Connection::Offline,
                        SyncError::Api(_) => Connection::Online,
                        // A local failure says nothing about the store.
                        _ => s.connection,
                    };
                    s.last_error = Some(err.to_string());
                });
                match retry_after(&err) {
                    Some(asked) => (asked.min(MAX_STORE_WAIT), true),
                    None => (backoff(&shared.config, failures), false),
                }
            }
        };
        if !wait_between_rounds(&shared, &cancel, wait, store_asked, &mut probe_failed).await {
            return;
        }
    }
}

/// Waits `wait` before the next round. Meanwhile the background sweep reads products' images
/// (see `pull`), paced to leave the store's quota to edits and the shown product; when there
/// is nothing to sweep, the store is probed every `probe_interval` so that the status says
/// within seconds when it goes away or comes back (a sweep's request says it as well). Ends
/// early on a wake (an edit, a shown product, a refresh, `retry_now`) unless the store asked
/// for the wait, and when the store answers after it had stopped: edits that waited go out at
/// once. Returns `false` when the engine is closing.
async fn wait_between_rounds(
    shared: &Shared,
    cancel: &CancellationToken,
    wait: Duration,
    store_asked: bool,
    probe_failed: &mut bool,
) -> bool {
    let deadline = deadline_in(wait);
    // The sweep stops for this wait after the store asked us to slow down.
    let mut sweeping = !store_asked && !shared.config.offline;
    let mut swept_since_event = false;
    let mut last_event = Instant::now();
    loop {
        let sweep = if sweeping && !*probe_failed {
            match pull::next_to_sweep(shared).await {
                Ok(next) => next,
                Err(err) => {
                    tracing::warn!("the sweep could not read the replica: {err}");
                    None
                }
            }
        } else {
            None
        };
        if sweep.is_none() && swept_since_event {
            // The last of the sweep: counts and freshness are final.
            shared.emit(Event::ProductsChanged);
            swept_since_event = false;
        }
        let step = match sweep {
            Some(_) => shared
                .client
                .background_wait()
                .unwrap_or(Duration::ZERO)
                .max(shared.config.background_interval),
            // Probed also through the store's own wait: the status must still say when the
            // store goes away, and a probe costs the store little.
            None => shared.config.probe_interval,
        };
        tokio::select! {
            _ = cancel.cancelled() => return false,
            _ = shared.wake.notified(), if !store_asked => return true,
            _ = tokio::time::sleep_until(deadline_in(step).min(deadline)) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return true;
        }
        let answered = match sweep {
            Some(product_id) => {
                let read = tokio::select! {
                    _ = cancel.cancelled() => return false,
                    read = pull::read_or_report(shared, product_id) => read,
                };
                swept_since_event = true;
                // Counts and freshness change with every read: say so, but not hundreds of
                // times a second.
                if last_event.elapsed() >= SWEEP_EVENT_SPACING {
                    shared.emit(Event::ProductsChanged);
                    last_event = Instant::now();
                    swept_since_event = false;
                }
                match read {
                    Ok(()) => {
                        shared.set_status(|s| {
                            if s.connection == Connection::Offline {
                                s.connection = Connection::Online;
                            }
                        });
                        true
                    }
                    Err(SyncError::Api(ApiError::Network(reason))) => {
                        tracing::debug!("sweep: the store does not answer: {reason}");
                        shared.set_status(|s| s.connection = Connection::Offline);
                        false
                    }
                    Err(err) => {
                        // 429 or a local failure: no more sweeping until the next round.
                        tracing::info!("the background sweep pauses: {err}");
                        sweeping = false;
                        true
                    }
                }
            }
            None => tokio::select! {
                _ = cancel.cancelled() => return false,
                answered = probe(shared) => answered,
            },
        };
        if answered {
            // Only a return seen by the probes ends the wait: a store that takes connections
            // but fails requests (closed mid-answer) keeps its back-off, rather than get a full
            // pull every probe. The store's own wait is kept all the same.
            if std::mem::take(probe_failed) && !store_asked {
                tracing::info!("the store answers again");
                return true;
            }
        } else {
            *probe_failed = true;
        }
    }
}

/// Probes the store once and says in the status what it found: offline when it did not
/// answer, online at once when it did (the round that follows sets syncing or offline as it
/// goes). Returns whether it answered.
async fn probe(shared: &Shared) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, shared.client.probe()).await {
        Ok(Err(ApiError::Network(reason))) => {
            tracing::debug!("probe: the store does not answer: {reason}");
            shared.set_status(|s| s.connection = Connection::Offline);
            false
        }
        Err(_) => {
            tracing::debug!("probe: no answer within {PROBE_TIMEOUT:?}");
            shared.set_status(|s| s.connection = Connection::Offline);
            false
        }
        outcome => {
            // The store answered, if not happily: it is there.
            if let Ok(Err(other)) = outcome {
                tracing::debug!("probe: {other}");
            }
            shared.set_status(|s| {
                if s.connection == Connection::Offline {
                    s.connection = Connection::Online;
                }
            });
            true
        }
    }
}

/// Probes the store every `probe_interval` while a round runs, marking it offline when a probe
/// gets no answer (a round stuck on a store that stopped answering may take long to fail).
/// Never ends: the round's end drops it.
async fn probe_during_round(shared: &Shared) -> std::convert::Infallible {
    loop {
        tokio::time::sleep_until(deadline_in(shared.config.probe_interval)).await;
        if !probe(shared).await {
            tracing::debug!("the store stopped answering during a round");
        }
    }
}

/// How long a 429 asked us to wait, if it said.
fn retry_after(err: &SyncError) -> Option<Duration> {
    match err {
        SyncError::Api(ApiError::Status {
            retry_after: Some(wait),
            ..
        }) => Some(*wait),
        _ => None,
    }
}

/// Exponential back-off with full jitter.
fn backoff(config: &EngineConfig, failures: u32) -> Duration {
    let exp = config
        .backoff_base
        .saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let cap = exp.min(config.backoff_max);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::rng().random_range(millis / 2..=millis))
}

fn is_transient(err: &SyncError) -> bool {
    matches!(err, SyncError::Api(e) if e.is_transient())
}

/// How many of the oldest ready edits the push looks through for creates it may send beside
/// the ones in flight (a folder import queues each product's pictures together, so the next
/// product's first picture may lie a few dozen rows further on).
const READY_LOOKAHEAD: i64 = 256;

/// Sends every ready edit, oldest first. Returns early (leaving the queue as it is) when the
/// store cannot be reached.
///
/// New images (creates) of different products go side by side, up to
/// `EngineConfig::parallel_creates` at once and never more than the store's rate-limit budget
/// has room for (`Client::parallel_allowance`; every request still takes its turn in the
/// pacer, and a 429 pauses them all): the server's imaging of one upload then overlaps the
/// transfer and imaging of the next. Every other guarantee of the one-by-one order holds:
/// - a product's edits go one at a time in queue order (a create is sent only when no older
///   edit of its product is waiting or in flight), so its new images land in the order they
///   were queued — each create appends (max + 1) after the previous one has landed — and the
///   edits of a new image wait for its create (they are not ready before it has a store id);
/// - any other edit (a field, a reorder, a delete) is sent alone, once everything older is
///   settled, and nothing starts while it runs;
/// - each create is still sent once: its attempt is counted durably before the request
///   (`begin_attempt`) and it is retired when confirmed, whatever else is in flight; a failure
///   stops new sends, lets the ones in flight finish and be recorded, and then ends the round.
async fn push(shared: &Arc<Shared>) -> Result<(), SyncError> {
    let products = Outbox::on(&mut *shared.replica.writer.acquire().await?)
        .products_with_pending()
        .await?;
    if products.is_empty() {
        return Ok(());
    }
    // A fresh look at the store first, so edits are checked against what it holds now; the
    // status says "syncing" only once the store has answered it.
    for &product_id in &products {
        pull::pull_product(shared, product_id).await?;
    }
    shared.set_status(|s| s.connection = Connection::Syncing);
    let mut touched = BTreeSet::new();
    // Each create in flight is a task of its own, which records its answer itself: this loop
    // awaits the replica's one writer connection, which a create's confirmation may hold
    // across an await, so a create must never wait for this loop to poll it.
    let mut in_flight = JoinSet::new();
    // Products with a create in flight.
    let mut busy: HashSet<i64> = HashSet::new();
    // The first failure that ends the round; what is in flight still finishes.
    let mut stopped: Option<SyncError> = None;
    loop {
        if stopped.is_none() && !shared.paused.load(Ordering::SeqCst) {
            let ready = Outbox::on(&mut *shared.replica.writer.acquire().await?)
                .ready(READY_LOOKAHEAD)
                .await?;
            if ready.is_empty() && in_flight.is_empty() {
                break;
            }
            let allowance = shared
                .client
                .parallel_allowance(shared.config.parallel_creates);
            // Products whose older edit is in flight or comes earlier in the queue.
            let mut waiting = busy.clone();
            let mut alone = None;
            for next in ready {
                let op = match next {
                    Ok(op) => op,
                    Err(unreadable) => {
                        report_unreadable(shared, &unreadable).await?;
                        continue;
                    }
                };
                if !waiting.insert(op.product_id) {
                    continue;
                }
                let side_by_side = matches!(op.edit, Edit::Create { .. });
                if !side_by_side {
                    // Sent alone once nothing older is in flight; until then nothing newer
                    // starts.
                    if in_flight.is_empty() {
                        alone = Some(op);
                    }
                    break;
                }
                if in_flight.len() >= allowance {
                    break;
                }
                touched.insert(op.product_id);
                busy.insert(op.product_id);
                let shared = Arc::clone(shared);
                let tracker = shared.sends_in_flight.clone();
                in_flight.spawn(tracker.track_future(async move {
                    let outcome = send(&shared, &op).await;
                    (op.product_id, settle(&shared, &op, outcome).await)
                }));
            }
            if let Some(op) = alone {
                touched.insert(op.product_id);
                let outcome = send(shared, &op).await;
                settle(shared, &op, outcome).await?;
                continue;
            }
        }
        // Dropping the set (the engine closing mid-round) aborts what is in flight, as
        // dropping a one-by-one send did: each create's attempt was counted before it went.
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        match done {
            Ok((product_id, settled)) => {
                busy.remove(&product_id);
                if let Err(err) = settled {
                    stopped.get_or_insert(err);
                }
            }
            Err(join) => {
                // A create's task panicked: its product's edits wait for the next round.
                stopped.get_or_insert(SyncError::SendStopped(join.to_string()));
            }
        }
    }
    if let Some(err) = stopped {
        return Err(err);
    }
    // Writes shift other images' sort_order on the store; settle the replica on its values.
    for product_id in touched {
        pull::pull_product(shared, product_id).await?;
    }
    Ok(())
}

/// Records the store's answer to one sent edit. An error ends the round: the store could not
/// be reached (or asked us to wait), a create's answer could not be read, or the replica
/// failed.
async fn settle(
    shared: &Shared,
    op: &Queued,
    outcome: Result<(), SyncError>,
) -> Result<(), SyncError> {
    tracing::debug!(
        "sent edit {} (revision {}) of product {}: {:?}",
        op.seq,
        op.revision,
        op.product_id,
        op.edit
    );
    match outcome {
        Ok(()) => {}
        Err(err) if is_transient(&err) => return Err(err),
        Err(SyncError::Api(err)) if err.is_not_found() && op.edit.image().is_some() => {
            image_gone(shared, op).await?;
        }
        // A create's answer that could not be read is no refusal: the store may have made
        // the image. The create waits, and its next send looks for it (or resends its key).
        Err(SyncError::Api(ApiError::Decode(reason))) if uploads(&op.edit) => {
            return Err(SyncError::Api(ApiError::Decode(reason)));
        }
        Err(SyncError::Api(err)) => mark_failed(shared, op, &err).await?,
        Err(other) => return Err(other),
    }
    shared.emit(Event::ImagesChanged {
        product_id: op.product_id,
    });
    shared.refresh_counts().await;
    Ok(())
}

/// A row this version cannot read (written by a newer imagedesk, or damaged) is never sent and
/// never guessed at: it is parked as failed, which reports it once, and waits for a discard.
async fn report_unreadable(shared: &Shared, unreadable: &Unreadable) -> Result<(), SyncError> {
    Outbox::on(&mut *shared.replica.writer.acquire().await?)
        .mark_unreadable(unreadable)
        .await?;
    tracing::warn!(
        "queued edit {} cannot be read: {}",
        unreadable.seq,
        unreadable.reason
    );
    shared.emit(Event::EditUnreadable {
        seq: unreadable.seq,
        product_id: unreadable.product_id,
        reason: unreadable.reason.clone(),
    });
    shared.emit(Event::ImagesChanged {
        product_id: unreadable.product_id,
    });
    Ok(())
}

/// Whether sending the edit may make a new image on the store.
fn uploads(edit: &Edit) -> bool {
    matches!(
        edit,
        Edit::Create { .. }
            | Edit::Replace {
                source: Source::File { .. },
                ..
            }
    )
}

/// Whether a refusal says for certain that the store made nothing: a 4xx other than 408 (the
/// request may still run), 409 (a key still being processed, SPEC §3) and 429.
fn refused_outright(err: &ApiError) -> bool {
    matches!(err.status(), Some(s) if (400..500).contains(&s) && !matches!(s, 408 | 409 | 429))
}

async fn mark_failed(shared: &Shared, op: &Queued, err: &ApiError) -> Result<(), SyncError> {
    let message = err.to_string();
    let message = message.as_str();
    Outbox::on(&mut *shared.replica.writer.acquire().await?)
        .mark_failed(
            op.seq,
            message,
            refused_outright(err),
            &format!("imagedesk-{}", random_hex()),
        )
        .await?;
    tracing::warn!("the store refused edit {}: {message}", op.seq);
    shared.emit(Event::EditFailed {
        seq: op.seq,
        kind: op.edit.kind(),
        image: op.edit.image(),
        message: message.to_owned(),
    });
    Ok(())
}

/// The store no longer has the edit's image: drop it and what else was queued for it.
async fn image_gone(shared: &Shared, op: &Queued) -> Result<(), SyncError> {
    let Some(image) = op.edit.image() else {
        return Ok(());
    };
    let mut applied = Applied::default();
    let mut tx = shared.replica.writer.begin().await?;
    let edits = forget_image(&mut tx, image, &mut applied).await?;
    tx.commit().await?;
    remove_blobs(&shared.replica, &applied.unused_blobs);
    if !matches!(op.edit, Edit::Delete { .. }) {
        shared.emit(Event::EditsDropped {
            product_id: op.product_id,
            image,
            edits,
            reason: "the image was deleted on the store".into(),
        });
    }
    Ok(())
}

/// Retires an edit the store confirmed, unless a later edit was folded into it meanwhile (then
/// it stays, to send the newer value). Copies the store's record into the image row.
async fn confirm(
    shared: &Shared,
    op: &Queued,
    record: Option<&Image>,
    unused_blob: Option<String>,
) -> Result<(), SyncError> {
    let mut tx = shared.replica.writer.begin().await?;
    let retired = Outbox::on(&mut tx).retire(op.seq, op.revision).await?;
    tracing::debug!(
        "edit {} confirmed by the store (retired: {retired})",
        op.seq
    );
    if let (Some(image), Some(local)) = (record, op.edit.image()) {
        // Another row may already show this record (a pull saw it first): one row per record.
        let twin: Option<i64> =
            sqlx::query_scalar("SELECT local_id FROM images WHERE server_id = ? AND local_id != ?")
                .bind(image.id)
                .bind(local.0)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(twin) = twin {
            forget_image(&mut tx, ImageId(twin), &mut Applied::default()).await?;
        }
        let keep = keep_for(&mut tx, local, op.product_id).await?;
        if let Some(row) = replica::image_row(&mut tx, local.0).await? {
            replica::write_server_fields(&mut tx, &row, image, keep).await?;
        }
    }
    tx.commit().await?;
    if retired && let Some(blob) = unused_blob {
        remove_blobs(&shared.replica, &[blob]);
    }
    Ok(())
}

async fn drop_op(shared: &Shared, op: &Queued) -> Result<(), SyncError> {
    Outbox::on(&mut *shared.replica.writer.acquire().await?)
        .remove(op.seq)
        .await?;
    Ok(())
}

/// Sends one edit and records the store's answer.
async fn send(shared: &Shared, op: &Queued) -> Result<(), SyncError> {
    let client = &shared.client;
    let product_id = op.product_id;
    // Edits about one image need its row (and so its store id); the rest do not.
    let row = match op.edit.image() {
        Some(image) => {
            let mut conn = shared.replica.writer.acquire().await?;
            match replica::image_row(&mut conn, image.0).await? {
                Some(row) => Some(row),
                // The image is gone locally (deleted with everything queued for it).
                None => {
                    drop(conn);
                    return drop_op(shared, op).await;
                }
            }
        }
        None => None,
    };
    match (&op.edit, row) {
        (Edit::Reorder, _) => send_reorder(shared, op).await,
        (Edit::DeleteAll, _) => send_delete_all(shared, op).await,
        (
            Edit::Create {
                source,
                description,
                ..
            },
            Some(row),
        ) => send_create(shared, op, &row, source, description).await,
        (Edit::Describe { description, .. }, Some(row)) => {
            let write = ImageWrite {
                description: Some(description.clone()),
                ..ImageWrite::default()
            };
            put_and_confirm(shared, op, &row, &write).await
        }
        (Edit::SetThumbnail { .. }, Some(row)) => {
            let write = ImageWrite {
                is_thumbnail: Some(true),
                ..ImageWrite::default()
            };
            put_and_confirm(shared, op, &row, &write).await
        }
        (
            Edit::Replace {
                source: Source::Url { url },
                ..
            },
            Some(row),
        ) => {
            let write = ImageWrite {
                image_file: Some(url.clone()),
                ..ImageWrite::default()
            };
            put_and_confirm(shared, op, &row, &write).await
        }
        (
            Edit::Replace {
                source: source @ Source::File { .. },
                new_server_id,
                ..
            },
            Some(row),
        ) => send_replace_file(shared, op, &row, source, *new_server_id).await,
        (Edit::Delete { .. }, Some(row)) => {
            // The store keeps nothing once it is deleted: the copy for "Recently deleted" first.
            trash::keep_copies(shared, trash::Scope::Image(ImageId(row.local_id))).await?;
            match client.delete_image(product_id, server_id(&row)?).await {
                Err(err) if err.is_not_found() => {}
                other => other?,
            }
            let mut tx = shared.replica.writer.begin().await?;
            forget_image(&mut tx, ImageId(row.local_id), &mut Applied::default()).await?;
            tx.commit().await?;
            Ok(())
        }
        // Every edit about an image has one; the match above found its row.
        (
            Edit::Create { .. }
            | Edit::Describe { .. }
            | Edit::SetThumbnail { .. }
            | Edit::Replace { .. }
            | Edit::Delete { .. },
            None,
        ) => drop_op(shared, op).await,
    }
}

/// A field edit is one PUT; the store's answer is its record, copied into the row.
async fn put_and_confirm(
    shared: &Shared,
    op: &Queued,
    row: &replica::ImageRow,
    write: &ImageWrite,
) -> Result<(), SyncError> {
    let image = shared
        .client
        .update_image(op.product_id, server_id(row)?, write)
        .await?;
    let image = complete_answer(shared, op.product_id, row, image).await;
    confirm(shared, op, Some(&image), None).await
}

async fn send_delete_all(shared: &Shared, op: &Queued) -> Result<(), SyncError> {
    trash::keep_copies(shared, trash::Scope::Product(op.product_id)).await?;
    shared.client.delete_all_images(op.product_id).await?;
    let mut tx = shared.replica.writer.begin().await?;
    Outbox::on(&mut tx).remove(op.seq).await?;
    let gone: Vec<(i64,)> = sqlx::query_as(
        "SELECT local_id FROM images WHERE product_id = ? AND hidden = 1
            AND server_id IS NOT NULL",
    )
    .bind(op.product_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut applied = Applied::default();
    for (local_id,) in gone {
        forget_image(&mut tx, ImageId(local_id), &mut applied).await?;
    }
    tx.commit().await?;
    remove_blobs(&shared.replica, &applied.unused_blobs);
    Ok(())
}

fn server_id(row: &replica::ImageRow) -> Result<i64, SyncError> {
    // `next_ready` only hands out edits whose image has a store id.
    row.server_id
        .ok_or(SyncError::UnknownImage(ImageId(row.local_id)))
}

/// Counts an attempt before it is made, so that after a crash the worker knows the create may
/// have landed. Returns the edit as it is now (a fold may have changed it just before).
async fn begin_attempt(shared: &Shared, op: &Queued) -> Result<Option<Queued>, SyncError> {
    let mut tx = shared.replica.writer.begin().await?;
    let current = Outbox::on(&mut tx).begin_attempt(op.seq).await?;
    tx.commit().await?;
    Ok(current)
}

/// How long after an edit is queued its key is still trusted to stop a repeat: an hour short
/// of the store's 24-hour key window, for clock skew and a slow first send.
const KEY_TRUSTED_FOR: Duration = Duration::from_secs(23 * 3600);

fn key_is_fresh(op: &Queued, now: i64) -> bool {
    let trusted = i64::try_from(KEY_TRUSTED_FOR.as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(op.created_ms) < trusted
}

/// Whether a create about to be sent may already have reached the store (an earlier attempt
/// lost its answer, met a 502 or a closed connection, or the engine stopped before hearing
/// back) and cannot simply be resent: only a store known to echo `Idempotency-Key` (and so to
/// honour it) may get the same create again with its key; for any other, look in the list.
///
/// A store keeps keys for 24 hours (SPEC §1), so a key is trusted only while the edit is younger
/// than [`KEY_TRUSTED_FOR`]: the edit's queue time is no later than the key's first send, so
/// this errs towards looking.
fn may_have_landed(shared: &Shared, op: &Queued) -> bool {
    let key_protects = shared.config.send_idempotency_keys
        && op.idempotency_key.is_some()
        && shared.echoes_keys.load(Ordering::SeqCst)
        && key_is_fresh(op, now_ms());
    op.attempts > 1 && !key_protects
}

/// A write's answer with what it left out filled in: stores may answer POST and PUT without
/// the `*_url` fields, the size or `date_modified` (SPEC §2), and the replica must never lose
/// what it knew. Fields of the same picture come from the row; a new picture without
/// addresses is read again (if that fails, the pull that ends the push fills them).
async fn complete_answer(
    shared: &Shared,
    product_id: i64,
    row: &replica::ImageRow,
    mut image: Image,
) -> Image {
    if image.image_file == row.record.image_file {
        let known = &row.record;
        fill(&mut image.zoom_url, &known.zoom_url);
        fill(&mut image.standard_url, &known.standard_url);
        fill(&mut image.thumbnail_url, &known.thumbnail_url);
        fill(&mut image.tiny_url, &known.tiny_url);
        fill(&mut image.date_modified, &known.date_modified);
        if image.width.is_none() {
            image.width = known.width.and_then(|v| u32::try_from(v).ok());
        }
        if image.height.is_none() {
            image.height = known.height.and_then(|v| u32::try_from(v).ok());
        }
        if image.file_size.is_none() {
            image.file_size = known.file_size.and_then(|v| u64::try_from(v).ok());
        }
    }
    let addressed = image.zoom_url.is_some()
        || image.standard_url.is_some()
        || image.thumbnail_url.is_some()
        || image.tiny_url.is_some();
    if addressed {
        return image;
    }
    match shared.client.get_image(product_id, image.id).await {
        Ok(mut fresh) => {
            // The answer's own fields are the write's outcome; the read only adds to them.
            fill(&mut fresh.date_modified, &image.date_modified);
            fresh
        }
        Err(err) => {
            tracing::info!(
                "image {} was written but could not be read again ({err}); the next pull \
                 brings its picture addresses",
                image.id
            );
            image
        }
    }
}

fn fill<T: Clone>(field: &mut Option<T>, known: &Option<T>) {
    if field.is_none() {
        field.clone_from(known);
    }
}

/// Against a store that ignores `Idempotency-Key`, a create that may have landed is looked for
/// before it is sent again: a record no replica row claims, with the same description and a
/// file name that matches the upload's. The previous send may still be running on the store
/// (the connection died, not the request), so the look waits until it must have finished.
async fn find_landed(
    shared: &Shared,
    previous: &Queued,
    description: &str,
    name_hint: &str,
) -> Result<Option<Image>, SyncError> {
    let product_id = previous.product_id;
    if let Some(at) = previous.last_attempt_ms {
        let window =
            i64::try_from(shared.config.unkeyed_landing_window.as_millis()).unwrap_or(i64::MAX);
        let left = at.saturating_add(window).saturating_sub(now_ms());
        if left > 0 {
            tracing::info!(
                "waiting {left} ms before looking for a create that may still be landing"
            );
            tokio::time::sleep(Duration::from_millis(left.unsigned_abs())).await;
        }
    }
    let listing = shared.client.list_all_images(product_id).await?;
    // The create's record may be one the list could not read: then whether it landed is not
    // known, and the create waits (a resend could make the image twice).
    if listing
        .unreadable
        .iter()
        .any(|r| r.kind == RecordKind::Image)
    {
        return Err(SyncError::Api(ApiError::Decode(format!(
            "some of product {product_id}'s images cannot be read, so whether an earlier send \
             of this new image reached the store is not known; it waits until they can be read"
        ))));
    }
    let images = listing.records;
    let claimed: Vec<(i64,)> =
        sqlx::query_as("SELECT server_id FROM images WHERE server_id IS NOT NULL")
            .fetch_all(&shared.replica.writer)
            .await?;
    let claimed: std::collections::HashSet<i64> = claimed.into_iter().map(|(id,)| id).collect();
    let hint = name_key(name_hint);
    Ok(images.into_iter().find(|image| {
        !claimed.contains(&image.id)
            && image.description == description
            && (hint.is_empty() || name_key(&image.image_file).contains(&hint))
    }))
}

/// The letters and digits of a file name's stem, lower-cased, at most 12: stores rename
/// uploads but keep a recognisable part of the name.
fn name_key(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let stem = base.split('.').next().unwrap_or(base);
    let stem = stem.split("__").next().unwrap_or(stem);
    stem.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .take(12)
        .collect()
}

fn name_hint(source: &Source) -> String {
    match source {
        Source::File { file_name, .. } => file_name.clone(),
        Source::Url { url } => url.rsplit('/').next().unwrap_or_default().to_owned(),
    }
}

async fn upload(
    shared: &Shared,
    product_id: i64,
    local_id: i64,
    source: &Source,
    write: ImageWrite,
    key: Option<&str>,
) -> Result<Image, SyncError> {
    let key = key.filter(|_| shared.config.send_idempotency_keys);
    let created = send_upload(shared, product_id, local_id, source, write, key).await?;
    if key.is_some()
        && let Err(err) = shared.learn_echo(created.key_echoed).await
    {
        // The image was made: failing here would leave its create queued to be made again.
        // Not remembering the echo only costs a look in the list on some later resend.
        tracing::warn!("could not record whether the store echoes keys: {err}");
    }
    Ok(created.image)
}

/// One create request, with `key` as given.
async fn send_upload(
    shared: &Shared,
    product_id: i64,
    local_id: i64,
    source: &Source,
    write: ImageWrite,
    key: Option<&str>,
) -> Result<Created, SyncError> {
    match source {
        Source::Url { url } => {
            let write = ImageWrite {
                image_file: Some(url.clone()),
                ..write
            };
            Ok(shared.client.create_image(product_id, &write, key).await?)
        }
        Source::File { blob, file_name } => {
            // Sent under the user's file name (stores name the stored file after it), which is
            // also what finds the image again after a lost answer.
            let path = shared.replica.blob_path(blob);
            let bytes = tokio::fs::read(&path)
                .await
                .map_err(|e| SyncError::io(&path, e))?;
            let events = shared.events.clone();
            let progress: crate::api::Progress = Arc::new(move |sent, total| {
                let _ = events.send(Event::UploadProgress {
                    image: ImageId(local_id),
                    sent,
                    total,
                });
            });
            let source = UploadSource::Bytes {
                file_name: file_name.clone(),
                bytes: bytes.into(),
            };
            Ok(shared
                .client
                .upload_image(product_id, &source, &write, key, Some(progress))
                .await?)
        }
    }
}

async fn send_create(
    shared: &Shared,
    op: &Queued,
    row: &replica::ImageRow,
    source: &Source,
    description: &str,
) -> Result<(), SyncError> {
    if row.server_id.is_some() {
        return drop_op(shared, op).await;
    }
    let previous = op;
    let Some(op) = begin_attempt(shared, op).await? else {
        return Ok(());
    };
    // A fold just before the attempt may have changed the picture or the description.
    let (source, description) = match &op.edit {
        Edit::Create {
            source,
            description,
            ..
        } => (source.clone(), description.clone()),
        _ => (source.clone(), description.to_owned()),
    };
    let landed = if may_have_landed(shared, &op) {
        find_landed(shared, previous, &description, &name_hint(&source)).await?
    } else {
        None
    };
    if landed.is_some() {
        tracing::info!(
            "edit {}: the store already had the image; not sending it again",
            op.seq
        );
    }
    let image = match landed {
        Some(image) => image,
        None => {
            let write = ImageWrite {
                description: Some(description),
                ..ImageWrite::default()
            };
            upload(
                shared,
                op.product_id,
                row.local_id,
                &source,
                write,
                op.idempotency_key.as_deref(),
            )
            .await?
        }
    };
    // Stores may answer without the picture's addresses: read the record again rather than
    // leave the tile without a picture once the local copy goes.
    let image = complete_answer(shared, op.product_id, row, image).await;
    // The create itself carried the picture: nothing queued keeps the local copy now, unless a
    // replace is queued behind it.
    confirm(shared, &op, Some(&image), source.blob()).await
}

/// A picture from a file cannot go by PUT (multipart is POST-only), so a replace uploads a new
/// record at the old one's place, with its description and thumbnail flag, then deletes the
/// old one; the row keeps its handle and takes the new store id. Each half is recorded before
/// the next begins, so a crash repeats neither.
async fn send_replace_file(
    shared: &Shared,
    op: &Queued,
    row: &replica::ImageRow,
    source: &Source,
    new_server_id: Option<i64>,
) -> Result<(), SyncError> {
    let client = &shared.client;
    let old_id = server_id(row)?;
    let new = match new_server_id {
        Some(id) => client.get_image(op.product_id, id).await?,
        None => {
            let old = client.get_image(op.product_id, old_id).await?;
            let Some(current) = begin_attempt(shared, op).await? else {
                return Ok(());
            };
            let landed = if may_have_landed(shared, &current) {
                find_landed(shared, op, &old.description, &name_hint(source)).await?
            } else {
                None
            };
            let new = match landed {
                Some(image) => image,
                None => {
                    let write = ImageWrite {
                        description: Some(old.description.clone()),
                        sort_order: Some(old.sort_order),
                        is_thumbnail: old.is_thumbnail.then_some(true),
                        ..ImageWrite::default()
                    };
                    upload(
                        shared,
                        op.product_id,
                        row.local_id,
                        source,
                        write,
                        current.idempotency_key.as_deref(),
                    )
                    .await?
                }
            };
            let progressed = Edit::Replace {
                image: ImageId(row.local_id),
                source: source.clone(),
                new_server_id: Some(new.id),
            };
            Outbox::on(&mut *shared.replica.writer.acquire().await?)
                .record_progress(op.seq, &progressed)
                .await?;
            new
        }
    };
    let new = complete_answer(shared, op.product_id, row, new).await;
    match client.delete_image(op.product_id, old_id).await {
        Err(err) if err.is_not_found() => {}
        other => other?,
    }
    // Retire by sequence only: the revision may have moved while the upload ran.
    let mut current = op.clone();
    if let Some(Ok(now)) = Outbox::on(&mut *shared.replica.writer.acquire().await?)
        .get(op.seq)
        .await?
    {
        current.revision = now.revision;
    }
    confirm(shared, &current, Some(&new), source.blob()).await
}

/// Makes the store's order match the replica's with the planner's fewest writes, computed now
/// from the store's current values. Images the replica does not show (new on the store, or
/// being deleted) keep their places.
///
/// Another client may change the product between our list and our PUTs: delete an image (a
/// 404), or move or delete one so that the shift rule plays out differently than planned. So
/// the result is read back, and the plan made again from that list, a few times, before the
/// reorder is settled: confirmed when the store shows the replica's order, refused after a 404
/// that keeps coming back, and confirmed anyway when someone else keeps moving the images (the
/// pull after the push then shows the store's order).
async fn send_reorder(shared: &Shared, op: &Queued) -> Result<(), SyncError> {
    const PLANS: usize = 3;
    let mut server = shared.client.list_all_images(op.product_id).await?.records;
    for plan in 1..=PLANS {
        match plan_and_send_reorder(shared, op, &server).await {
            Ok(()) => {}
            Err(SyncError::Api(err)) if err.is_not_found() && plan < PLANS => {
                tracing::info!(
                    "reorder of product {}: {err}; planning again",
                    op.product_id
                );
            }
            Err(other) => return Err(other),
        }
        server = shared.client.list_all_images(op.product_id).await?.records;
        if desired_order(shared, op, &server).await? == ids(&server) {
            break;
        }
    }
    confirm(shared, op, None, None).await
}

fn ids(images: &[Image]) -> Vec<i64> {
    images.iter().map(|i| i.id).collect()
}

/// The store's list with the images the replica shows put in the replica's order; images the
/// replica does not show (new on the store, or being deleted) keep their places.
async fn desired_order(
    shared: &Shared,
    op: &Queued,
    server: &[Image],
) -> Result<Vec<i64>, SyncError> {
    let local: Vec<(i64,)> = sqlx::query_as(
        "SELECT server_id FROM images WHERE product_id = ? AND hidden = 0
            AND server_id IS NOT NULL ORDER BY position, local_id",
    )
    .bind(op.product_id)
    .fetch_all(&shared.replica.writer)
    .await?;
    let local: Vec<i64> = local.into_iter().map(|(id,)| id).collect();
    // Slots of images the replica shows are refilled in the replica's order; others stay put.
    let known: std::collections::HashSet<i64> = local.iter().copied().collect();
    let on_server: std::collections::HashSet<i64> = server.iter().map(|i| i.id).collect();
    let mut wanted = local.into_iter().filter(|id| on_server.contains(id));
    Ok(server
        .iter()
        .map(|image| {
            if known.contains(&image.id) {
                wanted.next().unwrap_or(image.id)
            } else {
                image.id
            }
        })
        .collect())
}

/// One plan from `server` (the store's list now) to the replica's order, sent.
async fn plan_and_send_reorder(
    shared: &Shared,
    op: &Queued,
    server: &[Image],
) -> Result<(), SyncError> {
    let desired = desired_order(shared, op, server).await?;
    let current: Vec<(i64, i64)> = server.iter().map(|i| (i.id, i.sort_order)).collect();
    let plan = plan_reorder(&current, &desired).map_err(ApiError::from)?;
    shared
        .client
        .apply_sort_writes(op.product_id, &plan)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{KEY_TRUSTED_FOR, key_is_fresh, name_key, refused_outright};
    use crate::api::ApiError;
    use crate::sync::outbox::{Edit, EditState, Queued};

    #[test]
    fn a_key_is_trusted_for_23_hours_after_its_edit_was_queued() {
        let hour = 3_600_000;
        let op = Queued {
            seq: 1,
            product_id: 1,
            edit: Edit::Reorder,
            revision: 0,
            base: Default::default(),
            idempotency_key: Some("k".into()),
            state: EditState::Pending,
            attempts: 2,
            last_attempt_ms: None,
            created_ms: 100 * hour,
        };
        assert!(key_is_fresh(&op, 100 * hour + 22 * hour));
        assert!(!key_is_fresh(&op, 100 * hour + 23 * hour));
        assert!(!key_is_fresh(&op, 100 * hour + 25 * hour));
        assert_eq!(KEY_TRUSTED_FOR.as_secs(), 23 * 3600);
    }

    #[test]
    fn only_a_definite_4xx_says_a_create_made_nothing() {
        let status = |status| ApiError::Status {
            status,
            message: String::new(),
            invalid_reason: None,
            retry_after: None,
        };
        assert!(refused_outright(&status(400)));
        assert!(refused_outright(&status(413)));
        for maybe in [408, 409, 429, 500, 502] {
            assert!(!refused_outright(&status(maybe)), "{maybe}");
        }
        assert!(!refused_outright(&ApiError::Decode("cut short".into())));
    }

    #[test]
    fn a_stored_file_name_is_recognised_from_the_uploaded_one() {
        assert_eq!(name_key("Blue Mug (front).JPG"), "bluemugfront");
        assert_eq!(
            name_key("b/123/blue-mug-front__04321.jpg"),
            name_key("blue mug front.jpg")
        );
        assert_ne!(
            name_key("b/123/red-mug__04321.jpg"),
            name_key("blue-mug.jpg")
        );
    }
}
