//! Several `serve` nodes over one store, behind a round-robin proxy on loopback (issue 18,
//! SPEC §3 "Past one machine").
//!
//! - [`Proxy`] (`proxy.rs`): an HTTP proxy on `127.0.0.1:0` that sends each *request* (not
//!   each connection) to the next node in turn, streaming both bodies and keeping every
//!   end-to-end header, `Host` included, so the image URLs a node writes point at the proxy.
//! - [`Topology`]: how many nodes and which shared store, read from the environment once
//!   (`IMAGEDESK_TEST_NODES`, `IMAGEDESK_TEST_STORE`); [`SharedStore`] is one fresh store of that
//!   kind (a PostgreSQL database and a bucket, or SQLite and a local directory).
//! - [`InProcessNodes`]: N servers of this crate in the test's runtime (`Server::bind`), sharing
//!   one [`Config`] except `listen` (and, past one node, the data directory: each node is a
//!   machine of its own).
//! - [`ProcessNodes`]: N `imagedesk serve` child processes, for what only a process can show
//!   (`kill -9`).
//!
//! The switch from "one SQLite node" to "two nodes over PostgreSQL and S3" is the environment
//! alone: `IMAGEDESK_TEST_NODES=2 IMAGEDESK_TEST_STORE=postgres-s3 cargo test --test …`.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use imagedesk::server::{
    Config, FilesAt, RecordsAt, RunningServer, S3Location, S3Settings, Server,
};

use super::TOKEN;
pub use super::proxy::Proxy;

/// How many nodes a test store runs as; `None` (the variable unset): one server, no proxy.
pub const NODES_VAR: &str = "IMAGEDESK_TEST_NODES";
/// Which shared store the nodes use: `sqlite` (default), `postgres` or `postgres-s3`.
pub const STORE_VAR: &str = "IMAGEDESK_TEST_STORE";

/// How long a child `serve` may take to print its address.
const START_LIMIT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Which store, how many nodes

/// The kind of store the nodes share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite and pictures in the data directory: one node only.
    Sqlite,
    /// PostgreSQL records, pictures in the data directory: one node only (content-addressed
    /// files are guarded by in-process locks; docs/deploy.md).
    Postgres,
    /// PostgreSQL records and an S3 bucket: any number of nodes.
    PostgresS3,
}

impl StoreKind {
    fn parse(raw: &str) -> StoreKind {
        match raw {
            "" | "sqlite" => StoreKind::Sqlite,
            "postgres" => StoreKind::Postgres,
            "postgres-s3" => StoreKind::PostgresS3,
            other => panic!("{STORE_VAR}={other}: expected sqlite, postgres or postgres-s3"),
        }
    }

    /// Whether several nodes may share a store of this kind.
    pub fn is_shareable(self) -> bool {
        self == StoreKind::PostgresS3
    }
}

/// How the test stores of this run are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// `None`: one server addressed directly (the project's default); `Some(n)`: n nodes
    /// behind a [`Proxy`].
    pub nodes: Option<usize>,
    pub store: StoreKind,
}

impl Topology {
    /// The topology the environment asks for (see [`NODES_VAR`], [`STORE_VAR`]).
    pub fn from_env() -> Topology {
        let nodes = std::env::var(NODES_VAR).ok().map(|raw| match raw.parse() {
            Ok(n) if n >= 1 => n,
            _ => panic!("{NODES_VAR}={raw}: expected a number of nodes, 1 or more"),
        });
        let store = StoreKind::parse(&std::env::var(STORE_VAR).unwrap_or_default());
        let topology = Topology { nodes, store };
        assert!(
            topology.node_count() == 1 || store.is_shareable(),
            "{NODES_VAR}={} needs {STORE_VAR}=postgres-s3: SQLite, and pictures in a local \
             directory, are one node's (docs/deploy.md)",
            topology.node_count()
        );
        topology
    }

    /// The topology of the multi-node tests: the environment's, behind the proxy even when
    /// the variable is unset (then one node).
    pub fn proxied_from_env() -> Topology {
        let topology = Topology::from_env();
        Topology {
            nodes: Some(topology.node_count()),
            ..topology
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.unwrap_or(1)
    }
}

/// One store that several nodes can be pointed at: where its records and files are (a fresh
/// database and bucket of the fixtures, which live until the test process exits).
#[derive(Clone)]
pub struct SharedStore {
    pub kind: StoreKind,
    pub records: RecordsAt,
    pub files: FilesAt,
    /// Environment a child `serve` needs to reach the store (`AWS_*` for the bucket).
    pub env: Vec<(String, String)>,
    /// The test bucket, when `files` is one (tests may list its keys).
    pub bucket: Option<super::s3::TestBucket>,
}

impl std::fmt::Debug for SharedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedStore")
            .field("kind", &self.kind)
            .field("records", &self.records)
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl SharedStore {
    /// A fresh, empty store of `kind`. The one place that knows how each kind is made.
    pub async fn create(kind: StoreKind) -> SharedStore {
        let mut store = SharedStore {
            kind,
            records: RecordsAt::Sqlite,
            files: FilesAt::Local,
            env: Vec::new(),
            bucket: None,
        };
        if matches!(kind, StoreKind::Postgres | StoreKind::PostgresS3) {
            store.use_fresh_postgres().await;
        }
        if kind == StoreKind::PostgresS3 {
            store.use_fresh_bucket().await;
        }
        store
    }

    /// A fresh database on the test cluster (`postgres.rs`), named by `records`.
    async fn use_fresh_postgres(&mut self) {
        let url = tokio::task::spawn_blocking(super::postgres::database)
            .await
            .unwrap();
        self.records = url.parse().unwrap();
    }

    /// A fresh bucket on the test S3 server (`s3.rs`), named by `files`, its endpoint and keys
    /// in `env` for child nodes and in `bucket` for nodes in this process.
    async fn use_fresh_bucket(&mut self) {
        let bucket = tokio::task::spawn_blocking(super::s3::bucket)
            .await
            .unwrap();
        self.files = FilesAt::S3(S3Location {
            bucket: bucket.name.clone(),
            prefix: "store".into(),
        });
        self.env = vec![
            ("AWS_ENDPOINT_URL".into(), bucket.endpoint.clone()),
            ("AWS_REGION".into(), bucket.region.into()),
            ("AWS_ACCESS_KEY_ID".into(), bucket.access_key.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), bucket.secret_key.into()),
        ];
        self.bucket = Some(bucket);
    }

    /// Points a node's configuration at this store.
    pub fn apply(&self, config: &mut Config) {
        config.records = self.records.clone();
        config.files = self.files.clone();
        // The bucket's endpoint and keys reach a node in this process through its `Config`;
        // `serve` reads the same from `AWS_*` (`env`).
        if let Some(bucket) = &self.bucket {
            config.s3 = bucket_settings(bucket);
        }
    }

    /// The `serve` flags that point a child node at this store.
    pub fn serve_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let RecordsAt::Postgres(url) = &self.records {
            args.extend(["--database".to_owned(), url.as_str().to_owned()]);
        }
        if let FilesAt::S3(at) = &self.files {
            let location = if at.prefix.is_empty() {
                format!("s3://{}", at.bucket)
            } else {
                format!("s3://{}/{}", at.bucket, at.prefix)
            };
            args.extend(["--storage".to_owned(), location]);
        }
        args
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes in this process

/// N servers of this crate over one [`SharedStore`], behind a [`Proxy`].
pub struct InProcessNodes {
    pub proxy: Proxy,
    pub nodes: Vec<RunningServer>,
}

impl InProcessNodes {
    /// Starts `count` nodes from `config` (its `listen` is the proxy's address; each node gets
    /// a free port). Node 0 starts first and alone, so it runs the migrations and any seed;
    /// the others start together after it without seeding, as nodes joining a store do. With
    /// more than one node, node `i` keeps its local files in `{data_dir}/node-{i}`.
    pub async fn start(config: Config, count: usize) -> InProcessNodes {
        assert!(count >= 1);
        let first = Server::bind(node_config(&config, 0, count))
            .await
            .unwrap_or_else(|e| panic!("node 0 did not start: {e:#}"))
            .spawn();
        let rest = futures_util::future::join_all((1..count).map(|i| {
            let mut joining = node_config(&config, i, count);
            joining.seed_demo = false;
            joining.seed_synthetic = None;
            async move {
                Server::bind(joining)
                    .await
                    .unwrap_or_else(|e| panic!("node {i} did not start: {e:#}"))
                    .spawn()
            }
        }))
        .await;
        let nodes: Vec<RunningServer> = std::iter::once(first).chain(rest).collect();
        let proxy = Proxy::start(config.listen, nodes.iter().map(|n| n.base_url()).collect()).await;
        let cluster = InProcessNodes { proxy, nodes };
        BEHIND_PROXIES
            .lock()
            .unwrap()
            .insert(cluster.proxy.base_url(), cluster.node_urls());
        cluster
    }

    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base_url()).collect()
    }

    /// Stops the proxy, then every node (each finishing its requests in flight).
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.proxy.shutdown().await;
        for node in std::mem::take(&mut self.nodes) {
            node.shutdown().await?;
        }
        Ok(())
    }
}

impl Drop for InProcessNodes {
    fn drop(&mut self) {
        BEHIND_PROXIES
            .lock()
            .unwrap()
            .remove(&self.proxy.base_url());
    }
}

/// The nodes behind each running proxy of this process, by the proxy's base URL: what a helper
/// given only a store's URL needs to ask every node (`/metrics` counts per node).
static BEHIND_PROXIES: Mutex<std::collections::BTreeMap<String, Vec<String>>> =
    Mutex::new(std::collections::BTreeMap::new());

/// The base URLs of the nodes behind the store at `base_url`: the nodes behind it when it is
/// a proxy of this process, else itself.
pub fn nodes_behind(base_url: &str) -> Vec<String> {
    let base_url = base_url.trim_end_matches('/');
    BEHIND_PROXIES
        .lock()
        .unwrap()
        .get(base_url)
        .cloned()
        .unwrap_or_else(|| vec![base_url.to_owned()])
}

fn node_config(config: &Config, index: usize, count: usize) -> Config {
    let mut node = config.clone();
    node.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    if count > 1 {
        node.data_dir = config.data_dir.join(format!("node-{index}"));
    }
    node
}

// ---------------------------------------------------------------------------------------------
// Nodes as child processes

/// One `imagedesk serve` child process.
pub struct ProcessNode {
    pub child: tokio::process::Child,
    pub url: String,
    pub args: Vec<String>,
}

/// N `imagedesk serve` processes over one [`SharedStore`], behind a [`Proxy`].
pub struct ProcessNodes {
    pub proxy: Proxy,
    pub nodes: Vec<ProcessNode>,
    store: SharedStore,
    data: PathBuf,
    import: PathBuf,
}

impl ProcessNodes {
    /// Starts `count` processes (node 0 first, alone: it runs the migrations), each with a
    /// data directory of its own under `data` and `import` as its import directory.
    pub async fn start(store: SharedStore, count: usize, data: &Path, import: &Path) -> Self {
        let mut nodes = ProcessNodes {
            proxy: Proxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), Vec::new()).await,
            nodes: Vec::new(),
            store,
            data: data.to_path_buf(),
            import: import.to_path_buf(),
        };
        for i in 0..count {
            let node = nodes.spawn(i).await;
            nodes.nodes.push(node);
        }
        nodes.proxy.set_nodes(nodes.node_urls());
        nodes
    }

    fn node_args(&self, index: usize) -> Vec<String> {
        let data_dir = if self.store.kind.is_shareable() {
            self.data.join(format!("node-{index}"))
        } else {
            self.data.clone()
        };
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--import-dir".into(),
            self.import.display().to_string(),
        ];
        args.extend(self.store.serve_args());
        args
    }

    async fn spawn(&self, index: usize) -> ProcessNode {
        let args = self.node_args(index);
        spawn_serve(
            &args,
            &self.store.env,
            &self.data.join(format!("node-{index}.log")),
        )
        .await
    }

    pub fn node_urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// `kill -9` of node `index`; the proxy stops sending to it.
    pub async fn kill(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.child.start_kill().unwrap(); // SIGKILL
        node.child.wait().await.unwrap();
        let dead = node.url.clone();
        self.proxy.set_nodes(
            self.node_urls()
                .into_iter()
                .filter(|u| *u != dead)
                .collect(),
        );
    }

    /// Starts node `index` again (a fresh port) and puts every node back behind the proxy.
    pub async fn restart(&mut self, index: usize) {
        self.nodes[index] = self.spawn(index).await;
        self.proxy.set_nodes(self.node_urls());
    }

    /// SIGTERM to every node, then waits for each.
    pub async fn shutdown(mut self) {
        for node in &mut self.nodes {
            if let Some(pid) = node.child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
        }
        for node in &mut self.nodes {
            if tokio::time::timeout(Duration::from_secs(15), node.child.wait())
                .await
                .is_err()
            {
                let _ = node.child.kill().await;
            }
        }
        self.proxy.shutdown().await;
    }
}

/// Runs `imagedesk ARGS` and waits for its `listening on URL` line; its log goes to `log`.
async fn spawn_serve(args: &[String], env: &[(String, String)], log: &Path) -> ProcessNode {
    use tokio::io::AsyncBufReadExt as _;
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let mut child = tokio::process::Command::new(super::cli::binary())
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("IMAGEDESK_TOKEN", TOKEN)
        .env("IMAGEDESK_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(log_file)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(START_LIMIT, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("imagedesk {args:?} did not start; see {}", log.display()))
        .unwrap()
        .unwrap_or_else(|| panic!("imagedesk {args:?} exited; see {}", log.display()));
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    // Keep reading stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    ProcessNode {
        child,
        url,
        args: args.to_vec(),
    }
}

/// What a server in this process needs to reach a test bucket (`serve` reads the same from
/// `AWS_*`).
pub fn bucket_settings(bucket: &super::s3::TestBucket) -> S3Settings {
    S3Settings {
        endpoint: Some(bucket.endpoint.clone()),
        region: Some(bucket.region.to_owned()),
        access_key_id: Some(bucket.access_key.to_owned()),
        secret_access_key: Some(bucket.secret_key.to_owned()),
        ..S3Settings::default()
    }
}
