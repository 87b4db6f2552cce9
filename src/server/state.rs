//! What every handler shares, and how it is opened. Its own module so that the router, the
//! guard, the extractors and the handlers all depend on it without depending on each other.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Context as _;

use super::faults::Injector;
use super::fetch::Fetcher;
use super::list_cache::ListCache;
use super::metrics::Metrics;
use super::picture_locks::PictureLocks;
use super::rate_limit::{QuotaScope, RateLimiter};
use super::records::Records;
use super::storage::Files;
use super::{Config, repo};

/// What every handler shares.
pub struct AppState {
    pub config: Config,
    /// The records: SQLite in the data directory, or PostgreSQL (`records.rs`).
    pub records: Records,
    /// The picture files: a local directory or a bucket (`storage.rs`).
    pub files: Files,
    pub fetcher: Fetcher,
    pub rate_limiter: Option<RateLimiter>,
    /// `--faults SEED`: the seeded fault injector of the API routes.
    pub faults: Option<Arc<Injector>>,
    pub metrics: Arc<Metrics>,
    /// Bounds how many uploads decode at once, so that memory stays proportional to the cores.
    /// Shared so that a permit can move into the blocking task that decodes (and outlive a
    /// dropped handler until that task has stopped).
    pub imaging_permits: Arc<tokio::sync::Semaphore>,
    /// Rendered image lists, emptied by every write.
    pub lists: Arc<ListCache>,
    /// Who may write or remove the files of a picture stored by content (`pictures.rs`).
    pub picture_locks: PictureLocks,
}

impl AppState {
    pub async fn open(config: &Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "could not create the data directory {}",
                config.data_dir.display()
            )
        })?;
        let records = Records::open(config).await?;
        let files = Files::open(config).await?;
        let min_age = Files::orphan_min_age(config);
        let mut reader = records.read().await?;
        let removed = match &files {
            Files::Local(local) => {
                // Listing every record's name costs a scan of `images`; only a data directory
                // from before content addressing has files to check against it.
                let legacy: HashSet<String> = if local.has_legacy_files() {
                    repo::legacy_image_files(&mut reader)
                        .await?
                        .into_iter()
                        .collect()
                } else {
                    HashSet::new()
                };
                let hashes: HashSet<String> = repo::picture_hashes(&mut reader)
                    .await?
                    .into_iter()
                    .collect();
                drop(reader);
                let local = local.clone();
                tokio::task::spawn_blocking(move || local.remove_orphans(&legacy, &hashes, min_age))
                    .await?
                    .context("could not clean up unreferenced image files")?
            }
            Files::Bucket(bucket) => {
                // Every image in a bucket has its own objects, named by its `image_file`.
                let named: HashSet<String> = repo::legacy_image_files(&mut reader)
                    .await?
                    .into_iter()
                    .collect();
                drop(reader);
                bucket
                    .remove_orphans(&named, min_age.unwrap_or(config.orphan_min_age))
                    .await
                    .context("could not clean up unreferenced objects in the bucket")?
            }
        };
        if removed > 0 {
            tracing::info!("removed {removed} image files left by interrupted writes");
        }
        let cutoff = chrono::Utc::now().timestamp() - 24 * 3600;
        let mut tx = records.write().await?;
        repo::forget_idempotent_before(&mut tx, cutoff).await?;
        tx.commit().await?;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(AppState {
            config: config.clone(),
            records,
            files,
            fetcher: Fetcher::new(config.allow_private_urls)?,
            rate_limiter: config.rate_limit.map(|quota| {
                let scope = if config.compat.store_wide_quota() {
                    QuotaScope::Store
                } else {
                    QuotaScope::PerToken
                };
                RateLimiter::new(quota, scope)
            }),
            faults: config
                .faults
                .map(|seed| Arc::new(Injector::new(seed, config.fault_percent))),
            metrics: Arc::new(Metrics::new()),
            imaging_permits: Arc::new(tokio::sync::Semaphore::new(cores)),
            lists: Arc::new(ListCache::default()),
            picture_locks: PictureLocks::default(),
        })
    }
}
