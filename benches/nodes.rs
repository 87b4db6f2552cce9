//! Several `serve` nodes over one store (issue 18), measured on loopback:
//!
//! 1. Throughput of a mixed load — 90 % `GET /products/{id}/images` (a random product's first
//!    page), 10 % `PUT` of an image's description — from `NODES_BENCH_WORKERS` concurrent
//!    clients through the tests' round-robin proxy (`tests/common/proxy.rs`) in front of one
//!    node, then two, over the same PostgreSQL database, in alternating rounds. One node
//!    addressed directly (no proxy) is measured in the same rounds as the proxy's reference.
//! 2. List latency (p50, p99) of the same reads one at a time against one node, SQLite and
//!    PostgreSQL stores of the same synthetic catalogue (`--seed-synthetic`), in alternating
//!    batches.
//!
//! Run: `cargo bench --bench nodes`. Without `IMAGEDESK_BENCH_POSTGRES` only the SQLite rows are
//! measured (SQLite is one node's). `IMAGEDESK_BENCH_POSTGRES=postgres://…/db` names an *empty*
//! database to seed; `IMAGEDESK_BENCH_POSTGRES=fixture` makes one on the tests' throw-away
//! cluster (`tests/common/postgres.rs`). `NODES_BENCH_SEED` (default `100000:1000000`),
//! `NODES_BENCH_SECONDS` (5 per round), `NODES_BENCH_ROUNDS` (3), `NODES_BENCH_WORKERS` (8) and
//! `NODES_BENCH_LATENCY_READS` (2000 per store) change the sizes. Prints markdown rows.
//!
//! Everything — the load, the proxy and the nodes — runs in this one process on this machine's
//! cores: on 2 cores a second node adds no CPU, so its gain is bounded by what one node leaves
//! idle (waits on PostgreSQL, on locks); the figure is a floor, not what two machines give.

mod common;
#[path = "../tests/common/postgres.rs"]
mod postgres;
#[path = "../tests/common/proxy.rs"]
mod proxy;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{Rng, TOKEN};
use imagedesk::server::{Config, RecordsAt, RunningServer, Server, SyntheticSeed};
use proxy::Proxy;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank]
}

/// Two nodes over one seeded store: node 0 seeds it (and migrates), node 1 joins it. With
/// SQLite only node 0 exists.
struct Store {
    name: &'static str,
    nodes: Vec<RunningServer>,
    products: u32,
    /// (product, image) pairs the writes pick from.
    images: Vec<(i64, i64)>,
    _dirs: Vec<tempfile::TempDir>,
}

async fn node(
    records: &RecordsAt,
    seed: Option<SyntheticSeed>,
) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("data dir");
    let mut config = Config::local(dir.path(), TOKEN);
    config.records = records.clone();
    config.seed_synthetic = seed;
    // Every worker comes from 127.0.0.1: the per-client cap must not be the bottleneck.
    config.limits.max_connections_per_ip = config.limits.max_connections;
    let server = Server::bind(config)
        .await
        .unwrap_or_else(|e| panic!("a node over {records:?} did not start: {e:#}"))
        .spawn();
    (server, dir)
}

async fn store(name: &'static str, records: RecordsAt, seed: SyntheticSeed, nodes: usize) -> Store {
    let started = Instant::now();
    let (first, dir) = node(&records, Some(seed)).await;
    eprintln!(
        "{name}: seeded {seed:?} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut servers = vec![first];
    let mut dirs = vec![dir];
    for _ in 1..nodes {
        let (server, dir) = node(&records, None).await;
        servers.push(server);
        dirs.push(dir);
    }
    let http = reqwest::Client::new();
    let mut rng = Rng(0x5EED);
    let mut images = Vec::new();
    while images.len() < 200 {
        let product = 1 + rng.below(seed.products as usize) as i64;
        let listed: Vec<serde_json::Value> = http
            .get(format!(
                "{}/products/{product}/images?limit=5",
                servers[0].api_url()
            ))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("list json");
        images.extend(
            listed
                .iter()
                .map(|i| (product, i["id"].as_i64().expect("id"))),
        );
    }
    Store {
        name,
        nodes: servers,
        products: seed.products,
        images,
        _dirs: dirs,
    }
}

/// One round of the mixed load against `base`: requests per second.
async fn mixed_load(base: &str, store: &Store, workers: usize, seconds: u64, salt: u64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let http = reqwest::Client::new();
            let base = base.to_owned();
            let images = store.images.clone();
            let products = store.products as usize;
            let done = done.clone();
            tokio::spawn(async move {
                let mut rng = Rng(0x9E37_79B9 ^ ((w as u64 + 1) << 20) ^ salt);
                while Instant::now() < deadline {
                    let request = if rng.below(10) == 0 {
                        let (product, image) = images[rng.below(images.len())];
                        http.put(format!("{base}/api/v2/products/{product}/images/{image}"))
                            .json(&serde_json::json!({ "description": format!("bench {}", rng.below(1 << 20)) }))
                    } else {
                        let product = 1 + rng.below(products);
                        http.get(format!("{base}/api/v2/products/{product}/images?limit=50"))
                    };
                    let response = request
                        .header("X-Auth-Token", TOKEN)
                        .send()
                        .await
                        .expect("request");
                    let status = response.status();
                    let _ = response.bytes().await.expect("body");
                    assert!(status.is_success(), "{status} under load");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let started = Instant::now();
    for task in tasks {
        task.await.expect("worker");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// `reads` first pages of random products, one at a time, straight to node 0: latencies in ms.
async fn list_latencies(store: &Store, reads: usize, rng: &mut Rng) -> Vec<f64> {
    let http = reqwest::Client::new();
    let base = store.nodes[0].api_url();
    let mut latencies = Vec::with_capacity(reads);
    for _ in 0..reads {
        let product = 1 + rng.below(store.products as usize);
        let started = Instant::now();
        let response = http
            .get(format!("{base}/products/{product}/images?limit=50"))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .expect("list");
        let status = response.status();
        let _ = response.bytes().await.expect("body");
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        assert!(status.is_success(), "{status}");
    }
    latencies
}

fn postgres_from_env() -> Option<RecordsAt> {
    let raw = std::env::var("IMAGEDESK_BENCH_POSTGRES").ok()?;
    let url = if raw == "fixture" {
        postgres::database()
    } else {
        raw
    };
    Some(
        url.parse()
            .expect("IMAGEDESK_BENCH_POSTGRES is a postgres:// URL or `fixture`"),
    )
}

fn main() {
    let seed: SyntheticSeed = std::env::var("NODES_BENCH_SEED")
        .unwrap_or_else(|_| "100000:1000000".into())
        .parse()
        .expect("NODES_BENCH_SEED is PRODUCTS:IMAGES");
    let seconds = env_number("NODES_BENCH_SECONDS", 5);
    let rounds = env_number("NODES_BENCH_ROUNDS", 3) as usize;
    let workers = env_number("NODES_BENCH_WORKERS", 8) as usize;
    let reads = env_number("NODES_BENCH_LATENCY_READS", 2000) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut stores = vec![store("SQLite", RecordsAt::Sqlite, seed, 1).await];
        match postgres_from_env() {
            Some(records) => stores.push(store("PostgreSQL", records, seed, 2).await),
            None => eprintln!(
                "IMAGEDESK_BENCH_POSTGRES is not set: SQLite only (two nodes need PostgreSQL)"
            ),
        }

        // 1. Throughput: per store, one node direct, one node proxied, two nodes proxied (on
        // PostgreSQL), each round visiting every configuration in turn.
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut table = Vec::new();
        for store in &stores {
            let urls: Vec<String> = store.nodes.iter().map(|n| n.base_url()).collect();
            let mut proxy = Proxy::start(any, vec![urls[0].clone()]).await;
            let mut configurations: Vec<(String, Vec<String>)> =
                vec![("1 node, direct".into(), Vec::new()), ("1 node, proxy".into(), vec![urls[0].clone()])];
            if urls.len() > 1 {
                configurations.push(("2 nodes, proxy".into(), urls.clone()));
            }
            let mut results: Vec<Vec<f64>> = vec![Vec::new(); configurations.len()];
            // A short warm-up of each, then the rounds.
            for round in 0..=rounds {
                let length = if round == 0 { 1 } else { seconds };
                for (i, (label, behind)) in configurations.iter().enumerate() {
                    let base = if behind.is_empty() {
                        urls[0].clone()
                    } else {
                        proxy.set_nodes(behind.clone());
                        proxy.base_url()
                    };
                    let rps = mixed_load(&base, store, workers, length, round as u64).await;
                    if round > 0 {
                        eprintln!("{} round {round}: {label}: {rps:.0} req/s", store.name);
                        results[i].push(rps);
                    }
                }
            }
            proxy.shutdown().await;
            table.push((store.name, configurations, results));
        }

        // 2. List latency, batches of 100 reads alternating between the stores.
        let mut latencies: Vec<Vec<f64>> = vec![Vec::new(); stores.len()];
        let mut rng = Rng(0x1A7E);
        for _ in 0..reads.div_ceil(100) {
            for (i, store) in stores.iter().enumerate() {
                latencies[i].extend(list_latencies(store, 100, &mut rng).await);
            }
        }

        println!(
            "| store ({} products, {} images) | configuration | mixed load, {workers} clients (90 % list, 10 % PUT description): median of {rounds} × {seconds} s (range) | vs 1 node behind the proxy |",
            seed.products, seed.images
        );
        println!("|---|---|---|---|");
        for (name, configurations, results) in &table {
            let reference = median(results[1].clone());
            for ((label, _), rounds) in configurations.iter().zip(results) {
                let low = rounds.iter().copied().fold(f64::INFINITY, f64::min);
                let high = rounds.iter().copied().fold(0.0, f64::max);
                println!(
                    "| {name} | {label} | {:.0} req/s ({low:.0}–{high:.0}) | {:.2}× |",
                    median(rounds.clone()),
                    median(rounds.clone()) / reference
                );
            }
        }
        println!();
        println!("| store | first page of a random product's images (limit 50), one at a time, {} reads | p50 | p99 |", latencies[0].len());
        println!("|---|---|---|---|");
        for (store, mut measured) in stores.iter().zip(latencies) {
            measured.sort_by(f64::total_cmp);
            println!(
                "| {} | one node, direct | {:.2} ms | {:.2} ms |",
                store.name,
                percentile(&measured, 0.5),
                percentile(&measured, 0.99)
            );
        }
        for store in stores {
            for node in store.nodes {
                node.shutdown().await.expect("node shutdown");
            }
        }
    });
}
