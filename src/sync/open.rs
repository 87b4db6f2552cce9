//! Opening an engine for a store address, so callers that must not know the HTTP client (the
//! desktop app) can still open any store: [`api::connect`](crate::api::connect) builds the
//! client, [`Engine::open`] the replica and worker.

pub use crate::api::StoreAddress;

use super::{Engine, EngineConfig, SyncError};

/// Connects to the store at `address` and opens its replica in `config.dir`. Works offline:
/// only a malformed URL fails before the replica is opened.
pub async fn open_store(address: &StoreAddress, config: EngineConfig) -> Result<Engine, SyncError> {
    let client = crate::api::connect(address)?;
    Engine::open(config, client).await
}
