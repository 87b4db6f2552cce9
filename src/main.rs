//! The `imagedesk` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};

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
    #[arg(
        long,
        env = "IMAGEDESK_DATA_DIR",
        value_name = "DIR",
        hide_env_values = true
    )]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Product Images API v2 server alone.
    ///
    /// Prints `listening on http://ADDR` once it accepts connections. Stops on SIGINT or SIGTERM
    /// after finishing the requests in flight, cutting those still running after
    /// --shutdown-timeout, and exits with status 0.
    ///
    /// Every client is bounded: a connection waiting for a request head (half-sent, or idle
    /// between requests) is closed after 10 s, a request body that sends nothing for 30 s
    /// fails, a download whose client reads nothing for 30 s is cut, and connections past
    /// --max-connections or --max-connections-per-ip are closed at once, unread.
    Serve(ServeArgs),

    /// Edit or sync one store from a script (see each command's --help).
    #[command(flatten)]
    Store(imagedesk::store_cli::StoreCommand),

    /// Print a shell completion script for imagedesk's commands and flags.
    #[command(
        after_help = "Examples:\n  imagedesk completions bash > ~/.local/share/bash-completion/completions/imagedesk\n  imagedesk completions zsh > \"${fpath[1]}/_imagedesk\"\n  imagedesk completions fish > ~/.config/fish/completions/imagedesk.fish"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff), made from the same definitions as --help.
    #[command(
        after_help = "Examples:\n  imagedesk man | man -l -\n  imagedesk man > ~/.local/share/man/man1/imagedesk.1"
    )]
    Man,
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
    /// Counted by this process only: behind a load balancer over K nodes a client may make up
    /// to K × N requests per window, so give each node N / K.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,

    /// Keep the records in PostgreSQL instead of SQLite in --data-dir, so that several
    /// `serve` processes (nodes) can be one store.
    ///
    /// postgres://user:password@host:5432/database; TLS follows the URL (?sslmode=require).
    /// Every node of a store names the same database (and the same --storage); the tables are
    /// created or migrated by whichever node starts first. Without --storage the pictures stay
    /// in this node's --data-dir: run one node only.
    #[arg(
        long,
        value_name = "URL",
        env = "IMAGEDESK_DATABASE",
        hide_env_values = true
    )]
    database: Option<imagedesk::server::RecordsAt>,

    /// Keep the picture files in S3-compatible object storage instead of --data-dir.
    ///
    /// s3://bucket/prefix. The bucket must exist. The endpoint and credentials come from
    /// AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; with
    /// AWS_ENDPOINT_URL set, requests are path-style unless
    /// AWS_VIRTUAL_HOSTED_STYLE_REQUEST=true. Objects are named
    /// prefix/product_images/{variant}/{image_file}, so the bucket or a CDN in front of it can
    /// serve them (see --public-url); the store streams them at /product_images/… too. At
    /// start, objects under the prefix that no image names and that are older than an hour are
    /// removed (never another node's upload in progress). Not with --seed-synthetic.
    #[arg(long, value_name = "URL")]
    storage: Option<imagedesk::server::FilesAt>,

    /// The base of every *_url in answers, e.g. https://images.example.com, for nodes behind a
    /// load balancer or a CDN (default: the scheme and Host the request came with).
    #[arg(long, value_name = "URL")]
    public_url: Option<imagedesk::server::PublicUrl>,

    /// Answer /product_images/… with a redirect (307) to the same path under --public-url
    /// instead of serving the file: for a --public-url that is the bucket (or a CDN in front of
    /// it), never one that leads back to these nodes.
    #[arg(long, requires = "public_url")]
    redirect_images: bool,

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
    #[arg(long, conflicts_with = "seed_synthetic")]
    seed_demo: bool,

    /// Fill an EMPTY store with a synthetic catalogue of PRODUCTS products and IMAGES images
    /// (e.g. 100000:1000000), then serve it.
    ///
    /// For benchmarks and for trying a large store. Products are named "Product N — <adjective>
    /// <noun>" with SKU "SKU-00000N", created over the past year, about 2 % of them modified in
    /// the last day (so `min_date_modified` finds a few); about one in ten has no images, the
    /// others up to 1000 each, the first one the thumbnail. The images share eight synthetic
    /// pictures stored once by content, so 100000:1000000 takes well under two minutes and
    /// forty files. All rows are written in one transaction: an interrupted seed leaves
    /// the store empty. A store that already has products is refused (exit status 2) and left
    /// untouched.
    #[arg(long, value_name = "PRODUCTS:IMAGES")]
    seed_synthetic: Option<imagedesk::server::SyntheticSeed>,

    /// Open connections at most; past it a new connection is closed at once, unread.
    #[arg(long, value_name = "N", default_value_t = imagedesk::server::limits::MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// Open connections from one IP address at most; past it a new connection from that
    /// address is closed at once, unread. Behind a reverse proxy every client has the proxy's
    /// address: raise this to --max-connections there.
    #[arg(long, value_name = "N", default_value_t = imagedesk::server::limits::MAX_CONNECTIONS_PER_IP,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections_per_ip: u32,

    /// On SIGINT or SIGTERM, how long requests in flight may take to finish (seconds); then
    /// the connections still open are cut and the server exits with status 0.
    #[arg(long, value_name = "SECONDS",
          default_value_t = imagedesk::server::limits::SHUTDOWN_TIMEOUT.as_secs())]
    shutdown_timeout: u64,
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
        Some(Command::Completions { shell }) => {
            // Into memory first: clap_complete panics when stdout fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "imagedesk", &mut script);
            write_stdout(&script)
        }
        Some(Command::Man) => man(),
        // The store commands print their own messages and choose among four exit statuses.
        Some(Command::Store(mut command)) => {
            command
                .store_mut()
                .inherit(cli.api, cli.token, cli.user, cli.data_dir);
            return ExitCode::from(imagedesk::store_cli::run(command).code());
        }
        None => imagedesk::desktop::run(imagedesk::desktop::Options {
            api: cli.api,
            token: cli.token,
            user: cli.user,
            data_dir: cli.data_dir,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A usage refusal, like clap's: the store was left as it was.
        Err(err)
            if err
                .downcast_ref::<imagedesk::server::StoreNotEmpty>()
                .is_some() =>
        {
            eprintln!("imagedesk: {err:#}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("imagedesk: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The manual page: the top command's, then a section per subcommand (what `--help` says of
/// each), so that `man imagedesk` alone covers every command.
fn man() -> anyhow::Result<()> {
    let command = Cli::command();
    let mut page = Vec::new();
    let top = clap_mangen::Man::new(command.clone());
    top.render_title(&mut page)?;
    top.render_name_section(&mut page)?;
    top.render_synopsis_section(&mut page)?;
    top.render_description_section(&mut page)?;
    top.render_options_section(&mut page)?;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("imagedesk {}", sub.get_name());
        let section = clap_mangen::Man::new(sub.clone().bin_name(&name));
        let mut body = Vec::new();
        section.render_synopsis_section(&mut body)?;
        section.render_description_section(&mut body)?;
        section.render_options_section(&mut body)?;
        section.render_extra_section(&mut body)?;
        // A section per command; its parts' own headings become sub-headings.
        page.extend_from_slice(format!(".SH \"{}\"\n", name.to_uppercase()).as_bytes());
        page.extend_from_slice(
            String::from_utf8_lossy(&body)
                .replace(".SH ", ".SS ")
                .as_bytes(),
        );
    }
    top.render_version_section(&mut page)?;
    write_stdout(&page)
}

/// Writes to stdout; a reader that stopped early (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let served = runtime.block_on(async {
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
            seed_synthetic: args.seed_synthetic,
            records: args.database.unwrap_or_default(),
            files: args.storage.unwrap_or_default(),
            public_url: args.public_url,
            redirect_images: args.redirect_images,
            s3: imagedesk::server::S3Settings::from_env(),
            limits: imagedesk::server::ServerLimits {
                max_connections: args.max_connections,
                max_connections_per_ip: args.max_connections_per_ip,
                shutdown: Duration::from_secs(args.shutdown_timeout),
                ..imagedesk::server::ServerLimits::default()
            },
            ..imagedesk::server::Config::local(PathBuf::new(), String::new())
        };
        let server = imagedesk::server::Server::bind(config).await?;
        println!("listening on http://{}", server.local_addr());
        server.run(shutdown_signal()).await
    });
    // Imaging runs on blocking threads that a cut connection cannot stop; the deadline has
    // passed, so the process does not wait for them.
    runtime.shutdown_timeout(BLOCKING_WORK_GRACE);
    served
}

/// How long an exiting `serve` waits for blocking work (a decode) after the shutdown deadline.
const BLOCKING_WORK_GRACE: Duration = Duration::from_secs(1);

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
