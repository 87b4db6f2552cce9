//! `GET /api/v2/products/{id}/images.json` for a product of 50 images, loaded by `wrk` with 2
//! connections over loopback, against a bare axum route that returns the very same bytes (no
//! database, no auth, no middleware), measured in the same run, rounds alternating. A second
//! store with its list cache turned off shows the cost of the first read after a write.
//!
//! Run: `cargo bench --bench http_list` (needs `wrk`: `apt-get install wrk`; prints a markdown
//! table). `HTTP_BENCH_SECONDS` sets the length of each round (default 5), `HTTP_BENCH_ROUNDS`
//! the rounds per server (default 3).

mod common;

use std::process::Command;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use bytes::Bytes;
use common::{SeededStore, TOKEN, seeded_store};
const IMAGES: usize = 50;

/// What one wrk round reports.
#[derive(Debug, Clone, Copy)]
struct Round {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// wrk prints latencies as "812.00us", "1.23ms" or "1.01s".
fn parse_latency_ms(text: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = text.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = text.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1e3)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|v| v * factor)
}

fn wrk(url: &str, seconds: u64) -> Round {
    let output = Command::new("wrk")
        .args(["-t2", "-c2", "--latency", &format!("-d{seconds}s")])
        .args(["-H", &format!("X-Auth-Token: {TOKEN}")])
        .args(["-H", "Accept: application/json"])
        .arg(url)
        .output()
        .expect("wrk could not be started: install it with `apt-get install wrk`");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "the server answered errors under load:\n{text}"
    );
    let field = |prefix: &str| -> &str {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no '{prefix}' in wrk's output:\n{text}"))
    };
    Round {
        requests_per_sec: field("Requests/sec:").parse().expect("requests/sec"),
        p50_ms: parse_latency_ms(field("50%")).expect("p50"),
        p99_ms: parse_latency_ms(field("99%")).expect("p99"),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A real store holding one product of [`IMAGES`] images, and its list as served.
struct Seeded {
    store: SeededStore,
    url: String,
    content_type: HeaderValue,
    body: Bytes,
}

async fn seeded(cache_lists: bool) -> Seeded {
    let store = seeded_store(IMAGES, |config| config.cache_lists = cache_lists).await;
    let url = format!(
        "{}/products/{}/images.json",
        store.server.api_url(),
        store.product
    );
    let response = reqwest::Client::new()
        .get(&url)
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .expect("GET images.json");
    assert!(response.status().is_success(), "{}", response.status());
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .expect("content type");
    let body = response.bytes().await.expect("body");
    let listed: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
    assert_eq!(listed.len(), IMAGES);
    Seeded {
        store,
        url,
        content_type,
        body,
    }
}

/// The reference: an axum route with nothing behind it but the bytes to send.
async fn bare_route(content_type: HeaderValue, body: Bytes) -> String {
    let bare = Router::new().route(
        "/api/v2/products/{id}/images.json",
        get(move || {
            let (content_type, body) = (content_type.clone(), body.clone());
            async move { ([(CONTENT_TYPE, content_type)], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!(
        "http://{}/api/v2/products/1/images.json",
        listener.local_addr().expect("address")
    );
    tokio::spawn(async move { axum::serve(listener, bare).await });
    url
}

fn main() {
    let seconds = env_number("HTTP_BENCH_SECONDS", 5);
    let rounds = env_number("HTTP_BENCH_ROUNDS", 3) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let cached = runtime.block_on(seeded(true));
    let uncached = runtime.block_on(seeded(false));
    let body_len = cached.body.len();
    let bare_url = runtime.block_on(bare_route(cached.content_type.clone(), cached.body.clone()));
    eprintln!(
        "{IMAGES} images, {body_len} bytes per response; {rounds} rounds of {seconds} s each"
    );
    let (mut fast, mut slow, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    // One short warm-up each, then alternate so that drift hits all three alike.
    for url in [&cached.url, &uncached.url, &bare_url] {
        wrk(url, 1);
    }
    for round in 0..rounds {
        let f = wrk(&cached.url, seconds);
        let s = wrk(&uncached.url, seconds);
        let b = wrk(&bare_url, seconds);
        eprintln!("round {round}: imagedesk {f:?}; cache off {s:?}; bare axum {b:?}");
        fast.push(f);
        slow.push(s);
        bare.push(b);
    }
    for seeded in [cached, uncached] {
        runtime
            .block_on(seeded.store.server.shutdown())
            .expect("server shutdown");
    }

    let pick = |rounds: &[Round], f: fn(&Round) -> f64| median(rounds.iter().map(f).collect());
    let describe = |rounds: &[Round]| {
        format!(
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            pick(rounds, |r| r.requests_per_sec),
            pick(rounds, |r| r.p50_ms),
            pick(rounds, |r| r.p99_ms)
        )
    };
    let bare_rps = pick(&bare, |r| r.requests_per_sec);
    let ratio = |rounds: &[Round]| pick(rounds, |r| r.requests_per_sec) / bare_rps;
    println!("| figure | imagedesk | bare axum route, same bytes (same run) | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| GET images.json ({IMAGES} images, {body_len} B), wrk 2 connections, median of {rounds} × {seconds} s | {} | {} | {:.2}× req/s | ≥ 0.5×, p99 reported |",
        describe(&fast),
        describe(&bare),
        ratio(&fast),
    );
    println!(
        "| the same with the list cache off (the first read after a write) | {} | (as above) | {:.2}× req/s | ≥ 0.3×, p99 ≤ 1 ms |",
        describe(&slow),
        ratio(&slow),
    );
}
