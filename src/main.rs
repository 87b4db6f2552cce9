//! The `imagedesk` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Manage e-commerce product images: a desktop app, and a conforming Product Images API v2
/// server.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// The API root of a remote store, e.g. https://store.example/api/v2 (desktop app).
    #[arg(long, requires = "token")]
    api: Option<String>,

    /// The API token of the remote store.
    #[arg(long, env = "IMAGEDESK_TOKEN", hide_env_values = true)]
    token: Option<String>,

    /// User name for HTTP Basic credentials (username:token); without it, X-Auth-Token is used.
    #[arg(long, requires = "api")]
    user: Option<String>,

    /// Where the app keeps the embedded store and its local copies of stores (default: the
    /// platform data directory, e.g. ~/.local/share/imagedesk).
    #[arg(long, env = "IMAGEDESK_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Product Images API v2 server alone.
    ///
    /// Prints `listening on http://ADDR` once it accepts connections. Stops on SIGINT or SIGTERM
    /// after finishing the requests in flight.
    Serve(ServeArgs),

    /// Send the edits queued offline for a store, pull it, and exit.
    ///
    /// Uses the same local replica as the desktop app (or `--replica-dir`). Exits with 0 when
    /// every queued edit reached the store; with 1 when edits were refused (each is listed with
    /// the store's reason) or the store could not be reached before `--timeout`.
    Sync(SyncArgs),
}

#[derive(clap::Args)]
struct SyncArgs {
    /// The store's API root, e.g. https://store.example/api/v2.
    #[arg(long)]
    api: String,

    /// The store's API token.
    #[arg(long, env = "IMAGEDESK_TOKEN", hide_env_values = true)]
    token: String,

    /// User name for HTTP Basic credentials (username:token); without it, X-Auth-Token is used.
    #[arg(long)]
    user: Option<String>,

    /// Directory of the local replica; by default the store's profile under the platform data
    /// directory (where the desktop app keeps it).
    #[arg(long)]
    replica_dir: Option<PathBuf>,

    /// Give up after this many seconds if the store does not take every edit.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    timeout: u64,

    /// Do not send Idempotency-Key on creates (for a store that rejects the header); a create
    /// that may have landed is then looked for in the store's list before it is sent again.
    #[arg(long)]
    no_idempotency_keys: bool,

    /// With --no-idempotency-keys: how long a create whose answer was lost may still be running
    /// on the store, so how long to wait before looking for it.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    landing_window: u64,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Directory for the database and image files (created if missing).
    #[arg(long)]
    data_dir: PathBuf,

    /// API token that every /api/v2 request must present (Basic password or X-Auth-Token).
    #[arg(long, env = "IMAGEDESK_TOKEN", hide_env_values = true)]
    token: String,

    /// Directory that relative `image_file` paths are read from; without it, paths are refused.
    #[arg(long)]
    import_dir: Option<PathBuf>,

    /// Let `image_file` URLs reach loopback, private and link-local addresses (unsafe on a
    /// shared network; meant for tests and intranets).
    #[arg(long)]
    allow_private_urls: bool,

    /// Allow N requests per 30-second window (429 past that): N for each token, or, with
    /// `--compat bc-v2`, N for the whole store, shared by every client as on a real store.
    /// Counted by this process only.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,

    /// Which store to behave like: imagedesk's own (the default), or a real BigCommerce v2
    /// store.
    ///
    /// `bc-v2` imitates what a real BigCommerce v2 store does where it differs from imagedesk's
    /// store (below), so that a client, a sync engine or an integration can be tested against
    /// such a store without having one. Everything not listed (credentials, errors, the shift
    /// rule, the thumbnail invariant, the v3 upload endpoint) is the same in both modes.
    #[arg(long, value_enum, default_value_t = imagedesk::server::Compat::Imagedesk)]
    compat: imagedesk::server::Compat,

    /// Inject faults into /api/v2 and /api/v3 requests, decided by a random generator seeded
    /// with SEED (meant for --compat bc-v2: a store behind a flaky network).
    ///
    /// Of --fault-rate percent of the requests, a quarter each get: a 502 with a short HTML
    /// body; the connection closed without an answer; and, on POST, PUT and DELETE, the
    /// request carried out (the write commits) and then its answer replaced by a 502, or by a
    /// closed connection (on GET these two are the first two). The same seed and the same
    /// sequence of requests give the same faults, so a failure can be replayed. /healthz,
    /// /metrics and /product_images are never touched. Each fault is logged at debug level
    /// (IMAGEDESK_LOG=imagedesk=debug).
    #[arg(long, value_name = "SEED")]
    faults: Option<u64>,

    /// With --faults: the percent of API requests that get a fault.
    #[arg(long, value_name = "PERCENT", requires = "faults",
          default_value_t = imagedesk::server::DEFAULT_FAULT_PERCENT,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    fault_rate: u8,

    /// Create the demo products and pictures on first start (never twice).
    #[arg(long)]
    seed_demo: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IMAGEDESK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Sync(args)) => sync(args),
        None => imagedesk::desktop::run(imagedesk::desktop::Options {
            api: cli.api,
            token: cli.token,
            user: cli.user,
            data_dir: cli.data_dir,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("imagedesk: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async {
        let config = imagedesk::server::Config {
            listen: args.listen,
            data_dir: args.data_dir,
            token: args.token,
            import_dir: args.import_dir,
            allow_private_urls: args.allow_private_urls,
            rate_limit: args.rate_limit,
            compat: args.compat,
            faults: args.faults,
            fault_percent: args.fault_rate,
            seed_demo: args.seed_demo,
            ..imagedesk::server::Config::local(PathBuf::new(), String::new())
        };
        let server = imagedesk::server::Server::bind(config).await?;
        println!("listening on http://{}", server.local_addr());
        server.run(shutdown_signal()).await
    })
}

fn sync(args: SyncArgs) -> anyhow::Result<()> {
    use imagedesk::api::{StoreAddress, connect};
    use imagedesk::sync::{Engine, EngineConfig};

    let client = connect(&StoreAddress {
        api_url: args.api.clone(),
        user: args.user,
        token: args.token,
    })?;
    let mut config = match args.replica_dir {
        Some(dir) => EngineConfig::in_dir(dir),
        None => EngineConfig::for_store(&args.api)?,
    };
    config.send_idempotency_keys = !args.no_idempotency_keys;
    config.unkeyed_landing_window = std::time::Duration::from_secs(args.landing_window);
    let replica = config.dir.clone();
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async {
        let engine = Engine::open(config, client)
            .await
            .with_context(|| format!("could not open the replica in {}", replica.display()))?;
        let status = engine
            .settled(std::time::Duration::from_secs(args.timeout))
            .await;
        let refused: Vec<_> = engine
            .outbox()
            .await?
            .into_iter()
            .filter(|entry| entry.failed.is_some())
            .collect();
        for entry in &refused {
            let kind = entry
                .kind
                .map_or_else(|| "unreadable edit".to_owned(), |k| k.to_string());
            eprintln!(
                "edit #{} ({kind}, product {}) was refused: {}",
                entry.seq,
                entry.product_id,
                entry.failed.as_deref().unwrap_or_default()
            );
        }
        engine.close().await;
        if status.pending > 0 {
            anyhow::bail!(
                "{} edits are still queued: {}",
                status.pending,
                status
                    .last_error
                    .unwrap_or_else(|| "the store did not take them in time".into())
            );
        }
        if !refused.is_empty() {
            anyhow::bail!(
                "{} edits were refused; fix them in the app or discard them",
                refused.len()
            );
        }
        println!("synced: no edits queued");
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(err) => {
                    tracing::warn!("cannot listen for SIGTERM: {err}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
    tracing::info!("shutting down after the requests in flight");
}
