//! Shared by the engine tests over the in-memory model store (tests/sync_model.rs,
//! tests/sync_review_fixes.rs).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use imagedesk::sync::memory_store::MemoryStore;
use imagedesk::sync::{Engine, EngineConfig, Remote};

/// Timers in milliseconds, so that a round of back-off costs nothing; no timed pulls (tests ask
/// for them with `refresh`).
pub fn quick_config(dir: &Path) -> EngineConfig {
    let mut config = EngineConfig::in_dir(dir);
    config.pull_interval = Duration::from_secs(3600);
    config.backoff_base = Duration::from_millis(2);
    config.backoff_max = Duration::from_millis(20);
    config.unkeyed_landing_window = Duration::from_millis(20);
    // The sweep that reads every product's images once goes as fast as the model store does.
    config.background_interval = Duration::from_millis(1);
    config
}

/// An engine over the model store.
pub async fn open(config: EngineConfig, store: &Arc<MemoryStore>) -> Engine {
    let remote: Arc<dyn Remote> = store.clone();
    Engine::open_with(config, remote).await.unwrap()
}

/// The ids of the products in the engine's replica, in its order.
pub async fn product_ids(engine: &Engine) -> Vec<i64> {
    engine
        .products()
        .await
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect()
}
