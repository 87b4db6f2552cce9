//! Which store a command works on, how to reach it, and where its replica is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::StoreArgs;
use super::outcome::{CliError, UsageError};
use super::saved::{saved_stores, saved_token};
use crate::api::{Client, RetryPolicy, StoreAddress};
use crate::desktop::{self, EmbeddedStore};
use crate::server::RunningServer;

/// A store ready to be opened by an engine.
pub struct Target {
    pub address: StoreAddress,
    /// The replica and queue: the app's for this store unless `--replica-dir` says otherwise.
    pub replica_dir: PathBuf,
    /// The embedded store when this command started it; stopped when the command ends.
    pub server: Option<RunningServer>,
}

/// Picks the store: `--store NAME`, else `--api`, else the embedded store (the running app's
/// if it answers, else one started here over the app's data directory).
pub async fn open(args: &StoreArgs) -> Result<Target, CliError> {
    let data_dir = desktop::data_dir(args.data_dir.clone()).map_err(|source| CliError::Setup {
        context: "no data directory",
        source,
    })?;
    let (address, replica_dir, server) = if let Some(name) = &args.store {
        let stores = saved_stores(&data_dir).map_err(|e| CliError::Setup {
            context: "could not read the saved stores",
            source: e.into(),
        })?;
        let Some(profile) = stores.iter().find(|p| &p.name == name) else {
            return Err(UsageError::UnknownStore {
                name: name.clone(),
                known: stores.into_iter().map(|p| p.name).collect(),
            }
            .into());
        };
        let token = saved_token(&data_dir, profile).map_err(|path| UsageError::NoSavedToken {
            name: name.clone(),
            path,
        })?;
        let replica = desktop::replica_dir(&data_dir, &profile.api_url);
        (profile.address(token), replica, None)
    } else if let Some(api) = &args.api {
        let token = args.token.clone().ok_or(UsageError::MissingToken)?;
        let address = StoreAddress {
            api_url: api.clone(),
            user: args.user.clone(),
            token,
        };
        (address, desktop::replica_dir(&data_dir, api), None)
    } else {
        let replica = desktop::embedded_replica_dir(&data_dir);
        match running_app_store(&data_dir).await {
            Some(address) => (address, replica, None),
            None => {
                let embedded =
                    EmbeddedStore::start(&data_dir)
                        .await
                        .map_err(|source| CliError::Setup {
                            context: "could not start the embedded store",
                            source,
                        })?;
                (embedded.address, replica, Some(embedded.server))
            }
        }
    };
    Ok(Target {
        address,
        replica_dir: args.replica_dir.clone().unwrap_or(replica_dir),
        server,
    })
}

/// The running app's embedded store, if its connection file names one that answers with that
/// token. A file left by an app that crashed names a store that does not answer: then `None`,
/// and the caller starts the store itself.
async fn running_app_store(data_dir: &Path) -> Option<StoreAddress> {
    let address = desktop::read_connection(data_dir)?;
    // A short time-out and no retries: this is a question, and loopback answers at once.
    let client = Client::with_options(
        &address.api_url,
        address.credentials(),
        Duration::from_secs(3),
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        },
    )
    .ok()?;
    // A request that needs the token, not just a connection: the port may now be another
    // program's, or the app's next run with another token.
    match client.count_store_images().await {
        Ok(_) => Some(address),
        Err(err) => {
            tracing::info!("the app's embedded store does not answer ({err}); starting it here");
            None
        }
    }
}
