//! Shared test helpers: a real server on 127.0.0.1:0 over a temporary data directory, and the
//! real client talking HTTP to it.
#![allow(dead_code)]

// Helpers only some test files need, each in its own file (every test crate compiles them all).
pub mod cli;
pub mod engine;
pub mod nodes;
pub mod postgres;
pub mod proxy;
pub mod s3;
pub mod stub;
pub mod ui;
pub mod window;

use std::time::Duration;

use imagedesk::api::{Client, Credentials, Image, NewProduct, RetryPolicy};
use imagedesk::imaging::synthetic;
use imagedesk::server::{Config, RunningServer, Server};
use imagedesk::sync::{Engine, ImageId};

use nodes::{InProcessNodes, SharedStore, Topology};

pub const TOKEN: &str = "test-token";

pub struct TestStore {
    pub server: StoreServer,
    pub client: Client,
    pub data: tempfile::TempDir,
    pub import: tempfile::TempDir,
}

/// The server a test talks to: one server addressed directly (the default), or, when
/// `IMAGEDESK_TEST_NODES` is set, nodes over one shared store behind a round-robin proxy
/// (`nodes.rs`), whose address is then the store's. Either way `addr`, `base_url`, `api_url`
/// and `shutdown` are the store's.
pub struct StoreServer {
    front: Front,
    /// The store the nodes share, kept (with its database and bucket) across a stop.
    shared: SharedStore,
    topology: Topology,
}

enum Front {
    Direct(RunningServer),
    Proxied(InProcessNodes),
}

impl StoreServer {
    /// Serves `config` (whose `listen` is the store's address, already pointed at `shared`)
    /// the way `topology` says.
    async fn serve(config: Config, topology: Topology, shared: SharedStore) -> StoreServer {
        let front = match topology.nodes {
            None => Front::Direct(Server::bind(config).await.unwrap().spawn()),
            Some(count) => Front::Proxied(InProcessNodes::start(config, count).await),
        };
        StoreServer {
            front,
            shared,
            topology,
        }
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        match &self.front {
            Front::Direct(server) => server.addr(),
            Front::Proxied(nodes) => nodes.proxy.addr(),
        }
    }

    /// `http://ADDR`, the store's root.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// `http://ADDR/api/v2`, what the API client is given.
    pub fn api_url(&self) -> String {
        format!("{}/api/v2", self.base_url())
    }

    /// `http://ADDR/api/v3`, the root of the v3 upload endpoint.
    pub fn api_v3_url(&self) -> String {
        format!("{}/api/v3", self.base_url())
    }

    /// The nodes behind the proxy, when there is one.
    pub fn nodes(&self) -> Option<&InProcessNodes> {
        match &self.front {
            Front::Direct(_) => None,
            Front::Proxied(nodes) => Some(nodes),
        }
    }

    /// Stops the store (every node, and the proxy), finishing the requests in flight.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        match self.front {
            Front::Direct(server) => server.shutdown().await,
            Front::Proxied(nodes) => nodes.shutdown().await,
        }
    }
}

pub async fn start() -> TestStore {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestStore {
    start_as(Topology::from_env(), adjust).await
}

/// [`start_with`] for a given topology (the multi-node tests use the proxy even for one node).
pub async fn start_as(topology: Topology, adjust: impl FnOnce(&mut Config)) -> TestStore {
    let data = tempfile::tempdir().unwrap();
    let import = tempfile::tempdir().unwrap();
    let mut config = Config::local(data.path(), TOKEN);
    config.import_dir = Some(import.path().to_path_buf());
    let shared = SharedStore::create(topology.store).await;
    // The test's own adjustments come last: a test that names its own database or bucket
    // keeps them.
    shared.apply(&mut config);
    adjust(&mut config);
    let server = StoreServer::serve(config, topology, shared).await;
    let client = client_for(&server.api_url());
    TestStore {
        server,
        client,
        data,
        import,
    }
}

pub fn client_for(api_url: &str) -> Client {
    Client::with_options(
        api_url,
        Credentials::Token(TOKEN.into()),
        Duration::from_secs(30),
        RetryPolicy {
            max_retries: 2,
            base_delay: Duration::from_millis(20),
            ..RetryPolicy::default()
        },
    )
    .unwrap()
}

impl TestStore {
    pub async fn product(&self, name: &str) -> i64 {
        self.client
            .create_product(&NewProduct {
                name: name.into(),
                sku: String::new(),
            })
            .await
            .unwrap()
            .id
    }

    /// Writes a small JPEG into the import directory and returns its relative path.
    pub fn import_jpeg(&self, name: &str, seed: u64) -> String {
        let bytes = synthetic::jpeg(&synthetic::photo(300, 200, seed), 80, false, None);
        std::fs::write(self.import.path().join(name), bytes).unwrap();
        name.to_owned()
    }

    /// Every image of `product`, in the store's order.
    pub async fn images(&self, product: i64) -> Vec<Image> {
        self.client.list_all_images(product).await.unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.server.base_url(), path)
    }

    /// A raw HTTP client for what the typed client cannot send (bad bodies, headers).
    pub fn raw(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
}

pub fn small_jpeg(seed: u64) -> Vec<u8> {
    synthetic::jpeg(&synthetic::photo(160, 120, seed), 80, false, None)
}

/// A store whose server was stopped; its data stays for a restart on the same address.
pub struct StoppedStore {
    pub data: tempfile::TempDir,
    pub import: tempfile::TempDir,
    pub listen: std::net::SocketAddr,
    /// The store's records and files when they are not in `data` (PostgreSQL, a bucket).
    pub shared: SharedStore,
    pub topology: Topology,
}

impl TestStore {
    /// Shuts the server down (connections are refused until [`StoppedStore::start`]).
    pub async fn stop(self) -> StoppedStore {
        let listen = self.server.addr();
        let shared = self.server.shared.clone();
        let topology = self.server.topology;
        self.server.shutdown().await.unwrap();
        StoppedStore {
            data: self.data,
            import: self.import,
            listen,
            shared,
            topology,
        }
    }
}

impl StoppedStore {
    /// Starts the server again over the same data, on the same address.
    pub async fn start(self) -> TestStore {
        self.start_with(|_| {}).await
    }

    /// [`StoppedStore::start`] with the configuration adjusted (compat, faults) first.
    pub async fn start_with(self, adjust: impl FnOnce(&mut Config)) -> TestStore {
        let server = self.serve_with(adjust).await;
        let client = client_for(&server.api_url());
        TestStore {
            server,
            client,
            data: self.data,
            import: self.import,
        }
    }

    /// A server over this data on this address, the data kept here: a test that serves the
    /// same data more than once (with faults, then without) shuts each down before the next.
    pub async fn serve_with(&self, adjust: impl FnOnce(&mut Config)) -> StoreServer {
        let mut config = Config::local(self.data.path(), TOKEN);
        config.import_dir = Some(self.import.path().to_path_buf());
        config.listen = self.listen;
        self.shared.apply(&mut config);
        adjust(&mut config);
        StoreServer::serve(config, self.topology, self.shared.clone()).await
    }
}

/// Sets a configuration up as a BigCommerce-like v2 store (`serve --compat bc-v2`).
pub fn bc_v2(config: &mut Config) {
    config.compat = imagedesk::server::Compat::BcV2;
}

/// Turns faults on (`--faults SEED`): `percent` of requests get a 502, a cut connection or a
/// lost answer.
pub fn faults(config: &mut Config, seed: u64, percent: u8) {
    config.faults = Some(seed);
    config.fault_percent = percent;
}

/// The server's request counter (`/metrics`), summed over the lines that hold every one of
/// `parts` (a status, a method, a route prefix). Behind the multi-node proxy, summed over
/// every node (each counts the requests it answered).
pub async fn requests_counted(base_url: &str, parts: &[&str]) -> u64 {
    let mut total = 0;
    for node in nodes::nodes_behind(base_url) {
        total += node_requests_counted(&node, parts).await;
    }
    total
}

async fn node_requests_counted(base_url: &str, parts: &[&str]) -> u64 {
    let text = reqwest::get(format!("{base_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("imagedesk_http_requests_total{"))
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        // Read as a float: an exporter may write a counter as `3` or `3.0`.
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// A bare HTTP server on loopback that serves `bytes` at `/{name}` (an image host for
/// add-from-URL tests). Runs until the runtime stops.
pub async fn serve_file(name: &str, bytes: Vec<u8>) -> String {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        &format!("/{name}"),
        get(move || {
            let bytes = bytes.clone();
            async move { ([(axum::http::header::CONTENT_TYPE, "image/jpeg")], bytes) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/{name}")
}

/// The ids of a product's images as the engine shows them, in display order.
pub async fn engine_ids(engine: &Engine, product: i64) -> Vec<ImageId> {
    engine
        .images(product)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect()
}
