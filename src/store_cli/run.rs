//! Running a store command over an engine, and what it prints.

use std::collections::HashSet;
use std::time::Duration;

use super::args::{AddArgs, DeleteArgs, DescribeArgs, ReorderArgs, StoreCommand, ThumbnailArgs};
use super::outcome::{CliError, Exit, UsageError, held_in_words, unreadable_in_words};
use super::resolve::{Done, Freshness, image, input, product, take_back};
use super::{catalogue, counts, export, import, import_folder, report, target};
use crate::api::connect;
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
        eprintln!("{}", unreadable_in_words(record));
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

// -- the edits ---------------------------------------------------------------------------------

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
