//! Running a store command over an engine, and what it prints.

use std::collections::HashSet;
use std::time::Duration;

use super::args::{
    AddArgs, DeleteArgs, DescribeArgs, ReorderArgs, SendArgs, StoreCommand, ThumbnailArgs,
};
use super::outcome::{CliError, Exit, UsageError, held_in_words};
use super::refs::ProductRef;
use super::{catalogue, counts, export, import, import_folder, report, target};
use crate::api::{ApiError, connect};
use crate::sync::{Connection, Engine, EngineConfig, ImageId, Status, SyncError};

/// Runs `command` to the end and returns its exit status, having printed what it did (stdout)
/// and what went wrong (stderr).
pub fn run(command: StoreCommand) -> Exit {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("imagedesk: could not start the async runtime: {err}");
            return Exit::Failed;
        }
    };
    match runtime.block_on(execute(command)) {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!("imagedesk: {err}");
            err.exit()
        }
    }
}

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
    fresh: Freshness,
}

/// Whether the replica's copy of a product was just refreshed from the store: an image the
/// copy does not know is then not on the store (bad usage), or may only be missing from a
/// stale copy because the store did not answer (status 3, not 2).
enum Freshness {
    /// Pulled from the store just now (or `--offline`, where the copy is all there is).
    Fresh,
    /// The store answered the pull with an error; the local copy was used.
    Stale,
    /// The store could not be reached; what the network said.
    Unreachable(String),
}

/// Which refusals and unreadable records decide the exit status.
enum Scope {
    /// `sync`: every edit in the queue and every record; reporting them is its job.
    Everything,
    /// An edit command: the edits refused while it ran (not those refused in earlier
    /// sessions, which would otherwise make every later command exit 1 until someone
    /// discards them), and the records of the product it edited.
    Command {
        refused_before: HashSet<i64>,
        product_ids: HashSet<i64>,
    },
}

impl Scope {
    fn counts_refusal(&self, seq: i64) -> bool {
        match self {
            Scope::Everything => true,
            Scope::Command { refused_before, .. } => !refused_before.contains(&seq),
        }
    }

    fn counts_record(&self, product: Option<i64>) -> bool {
        match self {
            Scope::Everything => true,
            // A record of unknown product may be this one's.
            Scope::Command { product_ids, .. } => product.is_none_or(|p| product_ids.contains(&p)),
        }
    }
}

async fn execute(command: StoreCommand) -> Result<Exit, CliError> {
    let target = target::open(command.store()).await?;
    let mut config = EngineConfig::in_dir(&target.replica_dir);
    let offline =
        command.send().is_some_and(|s| s.offline) || command.read().is_some_and(|r| r.offline);
    config.offline = offline;
    // An edit command queues all its edits before any is sent (see `edit_and_wait`); the
    // worker still pulls meanwhile, which the look-ups of names need.
    config.start_paused = command.send().is_some();
    if let StoreCommand::Sync(args) = &command {
        config.send_idempotency_keys = !args.no_idempotency_keys;
        config.unkeyed_landing_window = Duration::from_secs(args.landing_window);
    }
    let result = async {
        let client = connect(&target.address).map_err(UsageError::InvalidAddress)?;
        let (engine, command, handed_over) =
            match Engine::open(config.clone(), client.clone()).await {
                Ok(engine) => (engine, command, false),
                // The app (or another command) has the replica open and sends its queue: two
                // senders would each send it. An offline engine never takes the lock and writes
                // to the same queue, so the edits are queued as with --offline, and the holder
                // sends them. `sync` has nothing to hand over: the holder already syncs.
                // The commands that read use the holder's copy, which it keeps up to date.
                Err(SyncError::ReplicaInUse { .. })
                    if command.send().is_some() || command.read().is_some() =>
                {
                    config.offline = true;
                    let mut command = command;
                    command.queue_only();
                    (Engine::open(config, client).await?, command, true)
                }
                Err(err) => return Err(err.into()),
            };
        let outcome = edit_and_wait(&engine, &command, handed_over).await;
        engine.close().await;
        outcome
    }
    .await;
    if let Some(server) = target.server {
        // The engine is closed: nothing more goes to the store this command started.
        if let Err(err) = server.shutdown().await {
            tracing::warn!("the embedded store did not stop cleanly: {err:#}");
        }
    }
    result
}

/// `handed_over`: another engine holds the replica and will send the edits this command queues.
async fn edit_and_wait(
    engine: &Engine,
    command: &StoreCommand,
    handed_over: bool,
) -> Result<Exit, CliError> {
    // Taken before anything is queued, to tell this command's refusals from earlier ones.
    let refused_before: HashSet<i64> = engine
        .outbox()
        .await?
        .into_iter()
        .filter(|entry| entry.failed.is_some() || entry.held.is_some())
        .map(|entry| entry.seq)
        .collect();
    let (done, timeout) = match command {
        StoreCommand::Sync(args) => {
            let queued = waiting(engine).await?;
            // Every product's images are read once (the sweep); later runs read only what
            // changed since (products' `date_modified`), so they cost a request or two.
            let status = engine.caught_up(Duration::from_secs(args.timeout)).await;
            let unread = engine.products_unread().await?;
            let exit = conclude(engine, &status, args.timeout, queued, &Scope::Everything).await?;
            if exit == Exit::Done {
                println!("synced: {queued} queued edits sent, none wait");
                if unread > 0 {
                    println!(
                        "the images of {unread} products are not read yet; `imagedesk sync` again \
                         goes on where this one stopped"
                    );
                }
            }
            return Ok(exit);
        }
        StoreCommand::Add(args) => (add(engine, args).await?, args.send.timeout),
        StoreCommand::Describe(args) => (describe(engine, args).await?, args.send.timeout),
        StoreCommand::Thumbnail(args) => (thumbnail(engine, args).await?, args.send.timeout),
        StoreCommand::Reorder(args) => (reorder(engine, args).await?, args.send.timeout),
        StoreCommand::Delete(args) => (delete(engine, args).await?, args.send.timeout),
        StoreCommand::Counts(args) => {
            let catalogue = catalogue::read(engine, &args.read, handed_over).await?;
            return counts::run(engine, args, catalogue).await;
        }
        StoreCommand::Report(args) => {
            let catalogue = catalogue::read(engine, &args.read, handed_over).await?;
            return report::run(engine, args, catalogue).await;
        }
        StoreCommand::Export(args) => {
            let catalogue = catalogue::read(engine, &args.read, handed_over).await?;
            return export::run(args, &catalogue);
        }
        // `None`: a dry run, which printed its plan and queued nothing.
        StoreCommand::Import(args) => match import::run(engine, args).await? {
            Some(done) => (done, args.send.timeout),
            None => return Ok(Exit::Done),
        },
        StoreCommand::ImportFolder(args) => match import_folder::run(engine, args).await? {
            Some(done) => (done, args.send.timeout),
            None => return Ok(Exit::Done),
        },
    };
    // Everything is queued: from here on a crash or a kill of this command loses nothing,
    // and sends nothing twice (the next `imagedesk sync` or the app sends the rest).
    let unreachable = done.products.iter().find_map(|p| match &p.fresh {
        Freshness::Unreachable(error) => Some(error),
        _ => None,
    });
    if let Some(error) = unreachable {
        // The store did not answer the look-up moments ago; waiting out --timeout for it
        // would only delay the same answer. The edits stay queued, unsent.
        for edit in &done.edits {
            println!("queued: {edit}");
        }
        eprintln!(
            "the store could not be reached ({error}): {} edits wait in the queue; `imagedesk sync` or the app sends them",
            waiting(engine).await?
        );
        return Ok(Exit::Unreachable);
    }
    let queued = waiting(engine).await?;
    engine.resume();
    if command.send().is_some_and(|s| s.offline) {
        for edit in &done.edits {
            println!("queued: {edit}");
        }
        if handed_over {
            println!(
                "the app has this store open; it will send these edits ({} wait in its queue)",
                waiting(engine).await?
            );
            return Ok(Exit::Done);
        }
        println!(
            "not sent (--offline): {} edits wait in the queue; `imagedesk sync` or the app sends them",
            engine.status().pending
        );
        return Ok(Exit::Done);
    }
    let status = engine.settled(Duration::from_secs(timeout)).await;
    let scope = Scope::Command {
        refused_before,
        product_ids: done.products.iter().map(|p| p.id).collect(),
    };
    let exit = conclude(engine, &status, timeout, queued, &scope).await?;
    if exit == Exit::Done {
        for edit in &done.edits {
            println!("sent: {edit}");
        }
        for (id, source) in &done.created {
            if let Some(server_id) = engine.image(*id).await?.and_then(|i| i.server_id) {
                println!("image {server_id}: {source}");
            }
        }
    }
    Ok(exit)
}

/// The exit status once the engine has settled (or timed out): refusals and unreadable records
/// are printed, and so is what waits in the queue. Only those in `scope` decide the status.
/// `queued`: the edits that waited when sending began, to tell a store that failed every time
/// from one that took some edits before an error.
async fn conclude(
    engine: &Engine,
    status: &Status,
    timeout: u64,
    queued: usize,
    scope: &Scope,
) -> Result<Exit, CliError> {
    let (refused, earlier): (Vec<_>, Vec<_>) = engine
        .outbox()
        .await?
        .into_iter()
        .filter(|entry| entry.failed.is_some())
        .partition(|entry| scope.counts_refusal(entry.seq));
    for entry in &refused {
        let kind = entry
            .kind
            .map_or_else(|| "unreadable edit".to_owned(), |k| k.to_string());
        eprintln!(
            "refused: edit #{} ({kind}, product {}): {}",
            entry.seq,
            entry.product_id,
            entry.failed.as_deref().unwrap_or_default()
        );
    }
    if !earlier.is_empty() {
        eprintln!(
            "note: {} edits refused before this command still wait in the queue; `imagedesk sync` lists them",
            earlier.len()
        );
    }
    let held: Vec<_> = engine
        .outbox()
        .await?
        .into_iter()
        .filter(|entry| entry.held.is_some() && scope.counts_refusal(entry.seq))
        .collect();
    for entry in &held {
        eprintln!("{}", held_in_words(entry));
    }
    let (unreadable, elsewhere): (Vec<_>, Vec<_>) = engine
        .unreadable()
        .into_iter()
        .partition(|record| scope.counts_record(record.product_id));
    for record in &unreadable {
        eprintln!(
            "unreadable: {} {} of product {}: field {} = {} ({})",
            record.kind,
            record
                .id
                .map_or_else(|| "?".to_owned(), |id| id.to_string()),
            record
                .product_id
                .map_or_else(|| "?".to_owned(), |id| id.to_string()),
            record.field.as_deref().unwrap_or("(the record)"),
            record.value,
            record.reason
        );
    }
    if !elsewhere.is_empty() {
        eprintln!(
            "note: {} records of other products could not be read; `imagedesk sync` lists them",
            elsewhere.len()
        );
    }
    let pending = waiting(engine).await?;
    if status.last_sync.is_none() || pending > 0 {
        let wait =
            format!("{pending} edits wait in the queue; `imagedesk sync` or the app sends them");
        match (&status.last_error, status.last_sync, status.connection) {
            // The store answered, with an error every round (a 5xx, an answer that could not
            // be read) and took nothing: not "unreachable", which would send the user to check
            // the network; the store's own words say what is wrong (SPEC §3: 3 only when no
            // answer came, or edits still wait).
            (Some(error), _, Connection::Online | Connection::Syncing) if pending >= queued => {
                eprintln!("the store answered with an error every time: {error}; {wait}");
                return Ok(Exit::Refused);
            }
            // It took some edits before a passing error (a 502 from its gateway): the rest
            // wait, as they would for a slow store.
            (Some(error), _, Connection::Online | Connection::Syncing) => {
                eprintln!(
                    "the store did not take every edit within {timeout} s (last error: {error}): {wait}"
                );
            }
            (Some(error), _, Connection::Offline) => {
                eprintln!("the store could not be reached ({error}): {wait}");
            }
            // A local failure before the store was asked anything.
            (Some(error), _, Connection::Unknown) => eprintln!("{error}: {wait}"),
            (None, None, Connection::Offline) => {
                eprintln!("the store could not be reached: {wait}");
            }
            (None, None, _) => eprintln!("the store did not answer within {timeout} s: {wait}"),
            (None, Some(_), _) => {
                eprintln!("the store did not take every edit within {timeout} s: {wait}");
            }
        }
        return Ok(Exit::Unreachable);
    }
    if !refused.is_empty() {
        eprintln!(
            "{} edits were refused; retry or discard them in the app's queue",
            refused.len()
        );
        return Ok(Exit::Refused);
    }
    if !held.is_empty() {
        eprintln!(
            "{} edits were not sent because the store changed the same thing too; choose in the app's Pending window whether yours or the store's stays",
            held.len()
        );
        return Ok(Exit::Refused);
    }
    if !unreadable.is_empty() {
        eprintln!(
            "{} records of the store could not be read and were skipped",
            unreadable.len()
        );
        return Ok(Exit::Refused);
    }
    Ok(Exit::Done)
}

/// Edits waiting to be sent (not the refused ones), from the queue itself: the published
/// status may lag an edit just made.
async fn waiting(engine: &Engine) -> Result<usize, CliError> {
    Ok(engine
        .outbox()
        .await?
        .iter()
        .filter(|e| e.failed.is_none() && e.held.is_none())
        .count())
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

async fn in_replica(engine: &Engine, product: &ProductRef) -> Result<Option<i64>, CliError> {
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
async fn image(
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

// -- the edits ---------------------------------------------------------------------------------

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

async fn add(engine: &Engine, args: &AddArgs) -> Result<Done, CliError> {
    let resolved = product(engine, &args.product, &args.send).await?;
    let product_id = resolved.id;
    let mut created: Vec<(ImageId, String)> = Vec::new();
    for source in &args.sources {
        let added = if source.starts_with("http://") || source.starts_with("https://") {
            engine.add_url(product_id, source, &args.description).await
        } else {
            engine.add_file(product_id, source, &args.description).await
        };
        match added {
            Ok(id) => created.push((id, source.clone())),
            Err(err) => {
                take_back(engine, &created).await;
                return Err(input(err));
            }
        }
    }
    let mut edits: Vec<String> = created
        .iter()
        .map(|(_, source)| format!("add {source} to product {product_id}"))
        .collect();
    let ids: Vec<ImageId> = created.iter().map(|(id, _)| *id).collect();
    if args.thumbnail
        && let Some(&first) = ids.first()
    {
        engine.set_thumbnail(first).await.map_err(input)?;
        edits.push(format!("make {} the thumbnail", created[0].1));
    }
    if let Some(position) = args.position {
        let index = usize::try_from(position.saturating_sub(1)).unwrap_or(usize::MAX);
        engine
            .move_images(product_id, &ids, index)
            .await
            .map_err(input)?;
        edits.push(format!("move them to position {position}"));
    }
    Ok(Done {
        edits,
        created,
        products: vec![resolved],
    })
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

async fn describe(engine: &Engine, args: &DescribeArgs) -> Result<Done, CliError> {
    let resolved = product(engine, &args.product, &args.send).await?;
    let product_id = resolved.id;
    let id = image(engine, &resolved, args.image, args.send.offline).await?;
    engine.describe(id, &args.text).await.map_err(input)?;
    Ok(Done {
        edits: vec![format!(
            "description of image {} of product {product_id}",
            args.image
        )],
        created: Vec::new(),
        products: vec![resolved],
    })
}

async fn thumbnail(engine: &Engine, args: &ThumbnailArgs) -> Result<Done, CliError> {
    let resolved = product(engine, &args.product, &args.send).await?;
    let product_id = resolved.id;
    let id = image(engine, &resolved, args.image, args.send.offline).await?;
    engine.set_thumbnail(id).await.map_err(input)?;
    Ok(Done {
        edits: vec![format!(
            "image {} is the thumbnail of product {product_id}",
            args.image
        )],
        created: Vec::new(),
        products: vec![resolved],
    })
}

async fn reorder(engine: &Engine, args: &ReorderArgs) -> Result<Done, CliError> {
    let resolved = product(engine, &args.product, &args.send).await?;
    let product_id = resolved.id;
    let mut first = Vec::with_capacity(args.order.0.len());
    for &listed in &args.order.0 {
        first.push(image(engine, &resolved, listed, args.send.offline).await?);
    }
    let rest = engine
        .images(product_id)
        .await?
        .into_iter()
        .map(|i| i.id)
        .filter(|id| !first.contains(id));
    let desired: Vec<ImageId> = first.iter().copied().chain(rest).collect();
    engine.reorder(product_id, &desired).await.map_err(input)?;
    let listed: Vec<String> = args.order.0.iter().map(i64::to_string).collect();
    Ok(Done {
        edits: vec![format!(
            "order of product {product_id}: {} first",
            listed.join(", ")
        )],
        created: Vec::new(),
        products: vec![resolved],
    })
}

async fn delete(engine: &Engine, args: &DeleteArgs) -> Result<Done, CliError> {
    let resolved = product(engine, &args.product, &args.send).await?;
    let product_id = resolved.id;
    if args.all {
        engine.delete_all(product_id).await.map_err(input)?;
        return Ok(Done {
            edits: vec![format!("delete every image of product {product_id}")],
            created: Vec::new(),
            products: vec![resolved],
        });
    }
    let mut ids = Vec::with_capacity(args.images.len());
    for &listed in &args.images {
        ids.push(image(engine, &resolved, listed, args.send.offline).await?);
    }
    engine.delete(&ids).await.map_err(input)?;
    Ok(Done {
        edits: args
            .images
            .iter()
            .map(|i| format!("delete image {i} of product {product_id}"))
            .collect(),
        created: Vec::new(),
        products: vec![resolved],
    })
}
