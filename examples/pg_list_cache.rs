//! Which list cache a node over PostgreSQL should keep (issue 18, decision 3): a cached page
//! checked against the product's version (one read by primary key per request), or no cache
//! (the page read and rendered every time). Both servers run in this process over one
//! PostgreSQL database (the throw-away cluster of `tests/common/postgres.rs`) seeded with
//! `--seed-synthetic 20:1000` (about 50 images a product); each round sends the same
//! sequential `GET …/images.json` requests to each, interleaved, and prints the medians.
//!
//! `cargo run --release --example pg_list_cache [ROUNDS] [REQUESTS]`

#[path = "../tests/common/postgres.rs"]
mod postgres;

use std::time::{Duration, Instant};

use imagedesk::server::{Config, RecordsAt, RunningServer, Server};

const TOKEN: &str = "bench";

async fn node(
    data: &std::path::Path,
    records: RecordsAt,
    cache: bool,
    seed: bool,
) -> RunningServer {
    let mut config = Config::local(data, TOKEN);
    config.records = records;
    config.cache_lists = cache;
    if seed {
        config.seed_synthetic = Some("20:1000".parse().expect("a seed"));
    }
    Server::bind(config).await.expect("a server").spawn()
}

/// Median microseconds of `requests` sequential list reads, cycling over products 1..=20.
async fn round(client: &reqwest::Client, server: &RunningServer, requests: usize) -> f64 {
    let mut took = Vec::with_capacity(requests);
    for n in 0..requests {
        let product = n % 20 + 1;
        let url = format!("{}/products/{product}/images.json", server.api_url());
        let started = Instant::now();
        let response = client
            .get(url)
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("a body");
        took.push(started.elapsed());
    }
    took.sort();
    took[took.len() / 2].as_secs_f64() * 1e6
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let url = tokio::task::spawn_blocking(postgres::database)
        .await
        .expect("a database");
    let records: RecordsAt = url.parse().expect("a PostgreSQL URL");
    let dirs: Vec<tempfile::TempDir> = (0..3)
        .map(|_| tempfile::tempdir().expect("a dir"))
        .collect();
    let versioned = node(dirs[0].path(), records.clone(), true, true).await;
    let uncached = node(dirs[1].path(), records, false, false).await;
    let sqlite = node(dirs[2].path(), RecordsAt::Sqlite, true, true).await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client");
    // Warm up connections, statement caches and pages.
    for server in [&versioned, &uncached, &sqlite] {
        round(&client, server, 200).await;
    }
    let (mut v, mut u, mut s) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        v.push(round(&client, &versioned, requests).await);
        u.push(round(&client, &uncached, requests).await);
        s.push(round(&client, &sqlite, requests).await);
        println!(
            "round {r}: postgres cached+version {:.0} µs, postgres uncached {:.0} µs, sqlite cached {:.0} µs",
            v[r], u[r], s[r]
        );
    }
    let ratios: Vec<f64> = v.iter().zip(&u).map(|(v, u)| v / u).collect();
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), r| (l.min(*r), h.max(*r)));
    println!(
        "median of rounds: cached+version {:.0} µs, uncached {:.0} µs, sqlite {:.0} µs; \
         cached+version / uncached = {:.2} (rounds {:.2}–{:.2})",
        median(v),
        median(u),
        median(s),
        median(ratios.clone()),
        low,
        high
    );
}
