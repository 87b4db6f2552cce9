//! The Product Images API v2 server (`imagedesk serve`): axum over SQLite and image files on disk,
//! or, for several nodes, PostgreSQL (`--database`, see `records.rs`) and a bucket of
//! S3-compatible storage (`--storage`, see `storage.rs`).
//!
//! Layout of a data directory:
//! - `imagedesk.sqlite3` (WAL mode): products, images, idempotency keys;
//! - `images/content/{original,zoom,standard,thumbnail,tiny}/{hash[0..2]}/{hash}.{ext}`: the
//!   pictures stored by content, shared by every image with the same original bytes;
//! - `images/original/{image_file}` and `images/{zoom,standard,thumbnail,tiny}/{image_file}`:
//!   the files of images written before content addressing (the legacy layout);
//! - `tmp/`: files being written, renamed into place once complete.
//!
//! The server knows nothing of the desktop app; the app talks to it over HTTP like any client.

mod auth;
mod bucket;
mod compat;
mod conn_caps;
mod db;
mod demo;
mod deployment;
mod error;
mod exchange;
pub mod faults;
mod fetch;
mod files;
mod handlers;
mod idempotency;
mod input;
pub mod limits;
mod list_cache;
mod listener;
mod metrics;
mod naming;
mod openapi;
mod path_ids;
mod picture_locks;
mod pictures;
mod postgres_db;
mod rate_limit;
mod read_pool;
mod records;
mod repo;
mod routes;
mod state;
mod storage;
mod synthetic_seed;
mod v3;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;

pub use bucket::{MULTIPART_PART_BYTES, S3Settings};
pub use compat::Compat;
pub use deployment::{DeploymentUrlError, FilesAt, PostgresUrl, PublicUrl, RecordsAt, S3Location};
pub use faults::DEFAULT_FAULT_PERCENT;
pub use fetch::is_public_ip;
pub use handlers::MAX_IMAGES_PER_PRODUCT;
pub use limits::ServerLimits;
pub use routes::openapi_json;
pub use storage::ORPHAN_MIN_AGE;
pub use synthetic_seed::{SeedSpecError, StoreNotEmpty, SyntheticSeed};

/// Everything `imagedesk serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// The API token every `/api/v2` request must present.
    pub token: String,
    /// Where relative `image_file` paths are read from; `None` refuses paths.
    pub import_dir: Option<PathBuf>,
    /// Lets `image_file` URLs reach loopback and private addresses (tests, intranets).
    pub allow_private_urls: bool,
    /// Requests per 30 s window; `None` disables the limit. Counted per token, or for the
    /// whole store with [`Compat::BcV2`].
    pub rate_limit: Option<u32>,
    /// Which store the server behaves like: imagedesk's own (the default) or a real
    /// BigCommerce v2 store, for testing clients against its quirks.
    pub compat: Compat,
    /// Seed of the fault injector on `/api/v2` and `/api/v3` (see [`faults`]); `None` injects
    /// nothing.
    pub faults: Option<u64>,
    /// Percent of API requests that get a fault when `faults` is set.
    pub fault_percent: u8,
    /// Seed the demo store on start (once: a seeded store is never seeded again).
    pub seed_demo: bool,
    /// Fill an empty store with a synthetic catalogue on start (`--seed-synthetic`); a store
    /// that has products is refused with [`StoreNotEmpty`] and left untouched.
    pub seed_synthetic: Option<SyntheticSeed>,
    /// Images a product may have (SPEC: 1000, then 409). Benchmarks of very large products
    /// raise it; the command line does not.
    pub max_images_per_product: i64,
    /// Keep rendered image lists until the next write (see `list_cache`). Only benchmarks turn
    /// it off, to measure the uncached road.
    pub cache_lists: bool,
    /// Time-outs and connection caps (see [`ServerLimits`]); tests shorten them.
    pub limits: ServerLimits,
    /// Where the records live (`--database`): SQLite in `data_dir`, or PostgreSQL.
    pub records: RecordsAt,
    /// Where the picture files live (`--storage`): `data_dir`, or an S3-compatible bucket.
    pub files: FilesAt,
    /// The base of every `*_url` (`--public-url`); `None`: as the request addressed the node.
    pub public_url: Option<PublicUrl>,
    /// `/product_images/…` answers with a redirect to the same path under `public_url` (the
    /// bucket or a CDN in front of it) instead of serving the file (`--redirect-images`).
    pub redirect_images: bool,
    /// How to reach the bucket of `files` (`AWS_*`, read by `main.rs` with
    /// [`S3Settings::from_env`]); unused for local files.
    pub s3: S3Settings,
    /// How old a file no record names must be before a start removes it, when other nodes
    /// may be writing (records in PostgreSQL or files in a bucket): [`ORPHAN_MIN_AGE`]
    /// (SPEC: one hour); tests shorten it. A lone node on SQLite and local files removes
    /// every unnamed file at start.
    pub orphan_min_age: std::time::Duration,
}

impl Config {
    /// A configuration for a store in `data_dir` on a free loopback port.
    pub fn local(data_dir: impl Into<PathBuf>, token: impl Into<String>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            token: token.into(),
            import_dir: None,
            allow_private_urls: false,
            rate_limit: None,
            compat: Compat::Imagedesk,
            faults: None,
            fault_percent: DEFAULT_FAULT_PERCENT,
            seed_demo: false,
            seed_synthetic: None,
            max_images_per_product: MAX_IMAGES_PER_PRODUCT,
            cache_lists: true,
            limits: ServerLimits::default(),
            records: RecordsAt::Sqlite,
            files: FilesAt::Local,
            public_url: None,
            redirect_images: false,
            s3: S3Settings::default(),
            orphan_min_age: ORPHAN_MIN_AGE,
        }
    }
}

/// A server bound to its address, ready to serve.
pub struct Server {
    listener: TcpListener,
    router: axum::Router,
    addr: SocketAddr,
    limits: ServerLimits,
    metrics: Arc<metrics::Metrics>,
}

impl Server {
    /// Opens (or creates) the data directory, migrates the database, removes files left by an
    /// interrupted write, seeds the demo or synthetic store if asked, and binds the listener.
    pub async fn bind(config: Config) -> anyhow::Result<Server> {
        anyhow::ensure!(!config.token.is_empty(), "the API token must not be empty");
        if config.seed_synthetic.is_some() {
            anyhow::ensure!(
                !config.seed_demo,
                "--seed-demo and --seed-synthetic cannot be used together"
            );
            // Before anything opens the store for writing: a refused store is not touched.
            // (PostgreSQL's is asked inside the seed's transaction.)
            if config.records == RecordsAt::Sqlite {
                synthetic_seed::ensure_empty(&config.data_dir).await?;
            }
        }
        let state = Arc::new(state::AppState::open(&config).await?);
        if let Some(spec) = config.seed_synthetic {
            synthetic_seed::seed(&state, spec).await?;
        }
        if config.seed_demo {
            demo::seed(&state)
                .await
                .context("could not seed the demo store")?;
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("could not listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let metrics = state.metrics.clone();
        let router = routes::router(state);
        Ok(Server {
            listener,
            router,
            addr,
            limits: config.limits,
            metrics,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight within
    /// [`ServerLimits::shutdown`] and cuts the connections still open after it.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let app = routes::with_json_suffix_stripped(self.router);
        listener::serve(self.listener, app, self.limits, self.metrics, shutdown).await;
        Ok(())
    }

    /// Serves in a background task; the handle stops it when asked or dropped.
    pub fn spawn(self) -> RunningServer {
        let addr = self.addr;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stop_rx.await;
        }));
        RunningServer {
            addr,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }
}

/// A server running in the background of the current tokio runtime.
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the server's root.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://ADDR/api/v2`, what the API client is given.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v2", self.addr)
    }

    /// `http://ADDR/api/v3`, the root of the v3 upload endpoint.
    pub fn api_v3_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    /// Stops accepting, waits for requests in flight (at most [`ServerLimits::shutdown`], then
    /// cuts them), and returns how serving ended.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("the server task panicked")?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
