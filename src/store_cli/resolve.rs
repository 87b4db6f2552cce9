//! What the edit commands share: a product or image named on the command line found in the
//! replica (refreshed from the store first, unless `--offline`), what a command queued, and
//! how a refused input or a half-queued command is handled. Used by `run` and by the file
//! commands (`import`, `import_folder`), which `run` calls.

use std::time::Duration;

use super::args::SendArgs;
use super::outcome::{CliError, UsageError};
use super::refs::ProductRef;
use crate::api::ApiError;
use crate::sync::{Engine, ImageId, Status, SyncError};

/// What an edit command did, for the summary.
pub(super) struct Done {
    /// One line per edit, e.g. "description of image 12".
    pub edits: Vec<String>,
    /// Images this command created, with their source, to print the store's ids once sent.
    pub created: Vec<(ImageId, String)>,
    /// The products edited, and how fresh the replica's copy of each was.
    pub products: Vec<Resolved>,
}

/// A product named on the command line, found in the replica.
pub(super) struct Resolved {
    pub id: i64,
    pub fresh: Freshness,
}

/// Whether the replica's copy of a product was just refreshed from the store: an image the
/// copy does not know is then not on the store (bad usage), or may only be missing from a
/// stale copy because the store did not answer (status 3, not 2).
pub(super) enum Freshness {
    /// Pulled from the store just now (or `--offline`, where the copy is all there is).
    Fresh,
    /// The store answered the pull with an error; the local copy was used.
    Stale,
    /// The store could not be reached; what the network said.
    Unreachable(String),
}

// -- resolving names ---------------------------------------------------------------------------

/// The product's id, known to the replica. Online, its images are pulled first, so that image
/// ids are checked against the store as it is now.
pub(super) async fn product(
    engine: &Engine,
    product: &ProductRef,
    send: &SendArgs,
) -> Result<Resolved, CliError> {
    if send.offline {
        let id = in_replica(engine, product)
            .await?
            .ok_or_else(|| UsageError::ProductNotInReplica(product.clone()))?;
        return Ok(Resolved {
            id,
            fresh: Freshness::Fresh,
        });
    }
    let id = match in_replica(engine, product).await? {
        Some(id) => id,
        None => {
            // The product list comes with the worker's first pull (it starts with the engine).
            let status = first_pull(engine, Duration::from_secs(send.timeout)).await;
            match in_replica(engine, product).await? {
                Some(id) => id,
                None if status.last_sync.is_none() => {
                    return Err(CliError::Unreachable(status.last_error.unwrap_or_else(
                        || format!("no answer while looking up {product}"),
                    )));
                }
                None => return Err(UsageError::UnknownProduct(product.clone()).into()),
            }
        }
    };
    let fresh = match engine.pull_product(id).await {
        Ok(()) => Freshness::Fresh,
        Err(SyncError::Api(ApiError::Network(reason))) => Freshness::Unreachable(reason),
        Err(err) => {
            // The store answered, badly: its ids may have moved on, so say what was used.
            eprintln!(
                "note: product {id} could not be refreshed from the store ({err}); the local copy was used"
            );
            Freshness::Stale
        }
    };
    Ok(Resolved { id, fresh })
}

pub(super) async fn in_replica(
    engine: &Engine,
    product: &ProductRef,
) -> Result<Option<i64>, CliError> {
    let products = engine.products().await?;
    Ok(match product {
        ProductRef::Id(id) => products.iter().find(|p| p.id == *id).map(|p| p.id),
        ProductRef::Sku(sku) => products.iter().find(|p| &p.sku == sku).map(|p| p.id),
    })
}

/// Waits until a round of the worker has pulled the whole store, or until `timeout`. A failed
/// round does not end the wait: the worker tries again (after a 502 or a dropped connection a
/// real store usually answers the next time), and the status cannot tell such a failure from
/// one that will last.
pub(super) async fn first_pull(engine: &Engine, timeout: Duration) -> Status {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut status = engine.watch_status();
    loop {
        let now = status.borrow_and_update().clone();
        if now.last_sync.is_some() {
            return now;
        }
        match tokio::time::timeout_at(deadline, status.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return engine.status(),
        }
    }
}

/// The replica's handle of the store's image `image` of `product_id`.
pub(super) async fn image(
    engine: &Engine,
    product: &Resolved,
    image: i64,
    offline: bool,
) -> Result<ImageId, CliError> {
    let product_id = product.id;
    let images = engine.images(product_id).await?;
    match images.iter().find(|i| i.server_id == Some(image)) {
        Some(found) => Ok(found.id),
        None if offline => Err(UsageError::ImageNotInReplica {
            product: product_id,
            image,
        }
        .into()),
        None => match &product.fresh {
            // Not "not an image of the product": the store was never asked.
            Freshness::Unreachable(error) => Err(CliError::UnreachableLookup {
                what: format!("image {image} of product {product_id}"),
                error: error.clone(),
            }),
            Freshness::Fresh | Freshness::Stale => Err(UsageError::UnknownImage {
                product: product_id,
                image,
            }
            .into()),
        },
    }
}

/// Errors of an edit call: what the engine refuses about the input is bad usage.
pub(super) fn input(err: SyncError) -> CliError {
    match err {
        SyncError::NotAnImage(..)
        | SyncError::InvalidUrl(_)
        | SyncError::Io { .. }
        | SyncError::NotAPermutation => UsageError::Input(err).into(),
        other => other.into(),
    }
}

/// All or nothing: the creates queued so far are taken back (nothing was sent, the engine is
/// paused), so that fixing the bad source and running the same command again does not add the
/// others twice.
pub(super) async fn take_back(engine: &Engine, created: &[(ImageId, String)]) {
    let queued: Vec<ImageId> = created.iter().map(|(id, _)| *id).collect();
    if !queued.is_empty()
        && let Err(undo) = engine.delete(&queued).await
    {
        tracing::warn!("could not take back the pictures queued before: {undo}");
    }
}
