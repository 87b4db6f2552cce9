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
    let data_dir = match options.data_dir {
        Some(dir) => dir,
        None => directories::ProjectDirs::from("", "", "imagedesk")
            .context("no home directory to keep imagedesk's data in; pass --data-dir")?
            .data_dir()
            .to_path_buf(),
    };
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
                let config =
                    EngineConfig::in_dir(data_dir.join("profiles").join(profile_name(&api)));
                (
                    connect(&address)?,
                    config,
                    format!("imagedesk — {api}"),
                    None,
                )
            }
            None => {
                let (server, token) = start_embedded(&data_dir).await?;
                let client = connect(&StoreAddress {
                    api_url: server.api_url(),
                    user: None,
                    token,
                })?;
                let config = EngineConfig::in_dir(data_dir.join("profiles").join("embedded"));
                (
                    client,
                    config,
                    "imagedesk — demo store".to_owned(),
                    Some(server),
                )
            }
        };
        let engine = Engine::open(config, client)
            .await
            .context("could not open the local copy of the store")?;
        let backend =
            Backend::new(engine, tokio::runtime::Handle::current()).with_data_dir(&data_dir);
        anyhow::Ok((backend, title, server))
    })?;
    let shown = crate::ui::run_native(backend, &title, current);
    if let Some(server) = server {
        let _ = std::fs::remove_file(data_dir.join(CONNECTION_FILE));
        runtime.block_on(server.shutdown())?;
    }
    shown.map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}

/// Starts the embedded store on 127.0.0.1:0 over `<data_dir>/store`, seeded with the demo on
/// first start, with a fresh random token (it listens on loopback, for this user only).
async fn start_embedded(data_dir: &Path) -> anyhow::Result<(RunningServer, String)> {
    let token = format!("local-{:016x}", rand::random::<u64>());
    let mut config = Config::local(data_dir.join("store"), &token);
    config.seed_demo = true;
    let server = Server::bind(config)
        .await
        .context("could not start the embedded store")?
        .spawn();
    tracing::info!("embedded store at {}", server.base_url());
    let connection = serde_json::json!({ "api_url": server.api_url(), "token": token });
    let path = data_dir.join(CONNECTION_FILE);
    tokio::task::spawn_blocking(move || {
        durable::write_private(&path, connection.to_string().as_bytes())
    })
    .await
    .context("the connection file's writer stopped")?
    .context("could not write the embedded store's connection file")?;
    Ok((server, token))
}
