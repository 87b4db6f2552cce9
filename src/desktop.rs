//! Starting the desktop app: the embedded store (or a remote one), the sync engine over its
//! local replica, and the window. `main` parses the command line and calls [`run`].

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::api::{StoreAddress, connect};
use crate::durable;
use crate::server::{Config, RunningServer, Server};
use crate::sync::{Engine, EngineConfig, profile_name};
use crate::ui::Backend;

/// What the command line chose.
pub struct Options {
    /// A remote store's API root; `None` starts the embedded store.
    pub api: Option<String>,
    pub token: Option<String>,
    pub user: Option<String>,
    /// Where the embedded store and the replicas live (default: the platform data dir).
    pub data_dir: Option<PathBuf>,
}

/// The file that tells other tools (`imagedesk sync`, curl, the smoke test) where the running
/// embedded store listens and its token for this run. Readable by the user only.
pub const CONNECTION_FILE: &str = "embedded-store.json";

/// Opens the window on a remote store, or on the embedded default: a server started in this
/// process on loopback, over a data directory seeded with the demo store on first start.
pub fn run(options: Options) -> anyhow::Result<()> {
    let data_dir = data_dir(options.data_dir)?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    let current = options
        .api
        .as_ref()
        .map(|api| crate::ui::profiles::Profile {
            name: api.clone(),
            api_url: api.clone(),
            user: options.user.clone(),
        });
    let (backend, title, server) = runtime.block_on(async {
        // Which store the window shows: the Stores dialog marks it, and its undo history is
        // kept under it.
        let store = match &current {
            Some(profile) => crate::ui::profiles::CurrentStore::of(profile),
            None => crate::ui::profiles::CurrentStore::Embedded,
        };
        let (client, config, title, server) = match options.api {
            Some(api) => {
                let token = options
                    .token
                    .context("--api needs --token (or IMAGEDESK_TOKEN)")?;
                let address = StoreAddress {
                    api_url: api.clone(),
                    user: options.user,
                    token,
                };
                let config = EngineConfig::in_dir(replica_dir(&data_dir, &api));
                (
                    connect(&address)?,
                    config,
                    format!("imagedesk — {api}"),
                    None,
                )
            }
            None => {
                let embedded = EmbeddedStore::start(&data_dir).await?;
                let client = connect(&embedded.address)?;
                let config = EngineConfig::in_dir(embedded_replica_dir(&data_dir));
                (
                    client,
                    config,
                    "imagedesk — demo store".to_owned(),
                    Some(embedded),
                )
            }
        };
        let engine = Engine::open(config, client)
            .await
            .context("could not open the local copy of the store")?;
        // Published only once this process holds the replica's lock: a second app started on
        // the same data directory stops above and must not point the first one's scripts at
        // its own short-lived store.
        let server = match server {
            Some(embedded) => {
                publish_connection(&data_dir, &embedded.address).await?;
                Some(embedded.server)
            }
            None => None,
        };
        let backend = Backend::new(engine, tokio::runtime::Handle::current())
            .with_data_dir(&data_dir)
            .with_store(store);
        anyhow::Ok((backend, title, server))
    })?;
    let closer = crate::ui::WindowCloser::default();
    let connection_file = server.as_ref().map(|_| data_dir.join(CONNECTION_FILE));
    let signals = runtime.spawn(close_on_signal(closer.clone(), connection_file.clone()));
    let shown = crate::ui::run_native(backend, &title, current, closer);
    signals.abort();
    if let Some(server) = server {
        if let Some(file) = &connection_file {
            let _ = std::fs::remove_file(file);
        }
        runtime.block_on(server.shutdown())?;
    }
    shown.map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

/// SIGTERM and SIGINT close the window as its close button does, so that a session ending or a
/// `kill` leaves no connection file behind and hands deletes waiting for Undo to the engine. A
/// signal before the window exists has nothing to hand over: the process removes the file and
/// exits.
async fn close_on_signal(closer: crate::ui::WindowCloser, connection_file: Option<PathBuf>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(term), Ok(int)) => (term, int),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!("SIGTERM and SIGINT will end the app without its clean-up: {err}");
            return;
        }
    };
    loop {
        let status = tokio::select! {
            _ = term.recv() => 143,
            _ = int.recv() => 130,
        };
        if !closer.close() {
            if let Some(file) = &connection_file {
                let _ = std::fs::remove_file(file);
            }
            std::process::exit(status);
        }
    }
}

/// The data directory: `--data-dir` / `IMAGEDESK_DATA_DIR`, else the platform's
/// (`~/.local/share/imagedesk` on Linux). The store commands use the same one, so that they
/// find the app's replicas, saved stores and embedded store.
pub fn data_dir(chosen: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match chosen {
        Some(dir) => Ok(dir),
        None => Ok(directories::ProjectDirs::from("", "", "imagedesk")
            .context("no home directory to keep imagedesk's data in; pass --data-dir")?
            .data_dir()
            .to_path_buf()),
    }
}

/// Where the app keeps its replica of the store at `api_url`.
pub fn replica_dir(data_dir: &Path, api_url: &str) -> PathBuf {
    data_dir.join("profiles").join(profile_name(api_url))
}

/// Where the app keeps its replica of the embedded store. Not named after its URL: the port
/// may change (when the remembered one is taken) and the token does every run.
pub fn embedded_replica_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("profiles").join("embedded")
}

/// The file under `<data_dir>/store` that remembers the embedded store's port, so that the
/// next run listens at the same address and the picture URLs the replica holds (which name
/// the host and port) keep working.
pub const PORT_FILE: &str = "port";

/// The embedded store, started in this process.
pub struct EmbeddedStore {
    pub server: RunningServer,
    /// Its API root and this run's token.
    pub address: StoreAddress,
}

impl EmbeddedStore {
    /// Starts the embedded store over `<data_dir>/store`, seeded with the demo on first start,
    /// with a fresh random token (it listens on loopback, for this user only). It listens on
    /// the port of the previous run when that is free, else on a free one (remembered next).
    pub async fn start(data_dir: &Path) -> anyhow::Result<EmbeddedStore> {
        let store_dir = data_dir.join("store");
        let port_file = store_dir.join(PORT_FILE);
        let remembered = tokio::fs::read_to_string(&port_file)
            .await
            .ok()
            .and_then(|text| text.trim().parse::<u16>().ok())
            .filter(|&port| port != 0);
        let token = format!("local-{:016x}", rand::random::<u64>());
        let config = |port: u16| {
            let mut config = Config::local(&store_dir, &token);
            config.listen.set_port(port);
            config.seed_demo = true;
            config
        };
        let bound = match remembered {
            Some(port) => match Server::bind(config(port)).await {
                Ok(server) => Ok(server),
                Err(err) => {
                    // Another program took the port meanwhile: a new address beats no store.
                    // The next pull brings the pictures' URLs at the new address.
                    tracing::warn!(
                        "the embedded store's port {port} is taken ({err:#}); using another"
                    );
                    Server::bind(config(0)).await
                }
            },
            None => Server::bind(config(0)).await,
        };
        let server = bound.context("could not start the embedded store")?.spawn();
        tracing::info!("embedded store at {}", server.base_url());
        if remembered != Some(server.addr().port()) {
            let port = server.addr().port().to_string();
            let path = port_file.clone();
            tokio::task::spawn_blocking(move || durable::write(&path, port.as_bytes()))
                .await
                .context("the port file's writer stopped")?
                .with_context(|| format!("could not write {}", port_file.display()))?;
        }
        let address = StoreAddress {
            api_url: server.api_url(),
            user: None,
            token,
        };
        Ok(EmbeddedStore { server, address })
    }
}

/// What the connection file holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct ConnectionFile {
    api_url: String,
    token: String,
}

/// The embedded store of a running app, as its connection file says. The file may be stale
/// (an app that crashed leaves it), so callers check that the store answers.
pub fn read_connection(data_dir: &Path) -> Option<StoreAddress> {
    let text = std::fs::read_to_string(data_dir.join(CONNECTION_FILE)).ok()?;
    let file: ConnectionFile = serde_json::from_str(&text).ok()?;
    Some(StoreAddress {
        api_url: file.api_url,
        user: None,
        token: file.token,
    })
}

/// Writes the connection file that tells other tools where the app's embedded store listens.
async fn publish_connection(data_dir: &Path, address: &StoreAddress) -> anyhow::Result<()> {
    let connection = serde_json::to_string(&ConnectionFile {
        api_url: address.api_url.clone(),
        token: address.token.clone(),
    })
    .context("could not write the embedded store's connection file")?;
    let path = data_dir.join(CONNECTION_FILE);
    tokio::task::spawn_blocking(move || durable::write_private(&path, connection.as_bytes()))
        .await
        .context("the connection file's writer stopped")?
        .context("could not write the embedded store's connection file")
}
