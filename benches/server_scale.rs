//! The server at catalogue scale (issue 13): a store of 100,000 products and 1,000,000 images
//! (`serve --seed-synthetic`), its list cache off, and the latency distribution of the reads a
//! syncing client makes at random products, each beside a bare axum route that returns the
//! very same bytes for the same request (no database, no auth, no middleware), in the same
//! run, requests alternating.
//!
//! The store is built once under `$CARGO_TARGET_TMPDIR/server-scale-{PRODUCTS}-{IMAGES}` and
//! reused by later runs (delete the folder to rebuild it; the seed's time is printed when it
//! is built). It also prints SQLite's plan of each count and list query, to show that none
//! scans the images table.
//!
//! Run: `cargo bench --bench server_scale` (prints a markdown table).
//! `SCALE_BENCH_SIZE=PRODUCTS:IMAGES` chooses the store (default 100000:1000000; e.g. 2000:20000
//! for a quick run), `SCALE_BENCH_REQUESTS` the requests of each kind (default 400).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use bytes::Bytes;
use common::{Rng, TOKEN};
use imagedesk::server::{Config, Server, SyntheticSeed};

const DEFAULT_SIZE: &str = "100000:1000000";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The store's folder, seeded if it is not there yet. Returns the seed's time if it ran now.
async fn store_dir(spec: SyntheticSeed) -> (std::path::PathBuf, Option<Duration>) {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("server-scale-{}-{}", spec.products, spec.images));
    let done = dir.join("seeded");
    if done.exists() {
        return (dir, None);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let mut config = Config::local(&dir, TOKEN);
    config.seed_synthetic = Some(spec);
    let started = Instant::now();
    let server = Server::bind(config).await.expect("seed the store");
    let elapsed = started.elapsed();
    drop(server);
    std::fs::write(&done, spec.to_string()).expect("mark the store seeded");
    (dir, Some(elapsed))
}

/// What a syncing client asks, one kind per row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Images,
    ChangedSince,
    ProductCount,
    StoreCount,
}

impl Kind {
    const ALL: [Kind; 4] = [
        Kind::Images,
        Kind::ChangedSince,
        Kind::ProductCount,
        Kind::StoreCount,
    ];

    fn label(self) -> &'static str {
        match self {
            Kind::Images => "GET /products/{random}/images.json?limit=250, list cache off",
            Kind::ChangedSince => {
                "GET /products.json?min_date_modified={a day ago}&limit=250&page={random}"
            }
            Kind::ProductCount => "GET /products/{random}/images/count.json",
            Kind::StoreCount => "GET /products/images/count.json",
        }
    }

    fn goal(self) -> &'static str {
        match self {
            Kind::Images | Kind::ChangedSince => "p99 ≤ 20 ms",
            Kind::ProductCount | Kind::StoreCount => "no table scan",
        }
    }
}

/// The bare reference: the bytes the real server sent for each path and query.
async fn bare(
    State(bodies): State<Arc<HashMap<String, Bytes>>>,
    request: Request,
) -> impl IntoResponse {
    let key = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    match bodies.get(&key) {
        Some(body) => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn timed_get(client: &reqwest::Client, url: &str) -> (Duration, Bytes) {
    let started = Instant::now();
    let response = client
        .get(url)
        .header("X-Auth-Token", TOKEN)
        .header("Accept", "application/json")
        .send()
        .await
        .expect("request");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let body = response.bytes().await.expect("body");
    (started.elapsed(), body)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

fn describe(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort_unstable();
    (percentile(&times, 0.5), percentile(&times, 0.99))
}

/// SQLite's plan of each query the counts and lists run, and whether any scans `images`.
async fn query_plans(dir: &std::path::Path) -> Vec<(String, String)> {
    use sqlx::ConnectOptions as _;
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("imagedesk.sqlite3"))
        .read_only(true);
    let mut conn = options.connect().await.expect("open the store");
    let queries = [
        "SELECT image_count FROM products WHERE id = 5",
        "SELECT value FROM counters WHERE name = 'images'",
        "SELECT id FROM images WHERE product_id = 5 ORDER BY sort_order, id LIMIT 250 OFFSET 0",
        "SELECT id FROM products INDEXED BY products_by_date_modified \
         WHERE date_modified >= 0 ORDER BY id LIMIT 250 OFFSET 0",
        "SELECT COUNT(*) FROM images",
    ];
    let mut plans = Vec::new();
    for query in queries {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {query}"))
                .fetch_all(&mut conn)
                .await
                .expect("plan");
        let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
        plans.push((query.to_owned(), plan.join("; ")));
    }
    plans
}

fn main() {
    let spec: SyntheticSeed = std::env::var("SCALE_BENCH_SIZE")
        .unwrap_or_else(|_| DEFAULT_SIZE.to_owned())
        .parse()
        .expect("SCALE_BENCH_SIZE is PRODUCTS:IMAGES");
    let requests = env_number("SCALE_BENCH_REQUESTS", 400) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let (dir, seeded_in) = store_dir(spec).await;
        let started = Instant::now();
        let mut config = Config::local(&dir, TOKEN);
        config.cache_lists = false;
        let server = Server::bind(config).await.expect("server").spawn();
        let start_up = started.elapsed();
        let api = server.api_url();
        let client = reqwest::Client::new();

        // A day ago, to the second: the "what changed since my last look" of a daily sync.
        let since = chrono::Utc::now().timestamp() - 86_400;
        let since = chrono::DateTime::from_timestamp(since, 0)
            .expect("date")
            .to_rfc3339();
        let since: String = url::form_urlencoded::byte_serialize(since.as_bytes()).collect();
        let changed_url = |page: usize| {
            format!("{api}/products.json?min_date_modified={since}&limit=250&page={page}")
        };
        let mut changed = 0;
        for page in 1.. {
            let (_, body) = timed_get(&client, &changed_url(page)).await;
            let rows: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("json");
            changed += rows.len();
            if rows.len() < 250 {
                break;
            }
        }
        let pages = changed.div_ceil(250).max(1);

        // The script: the same random requests for both servers.
        let mut rng = Rng(0x5EED_0013);
        let script: Vec<(Kind, String)> = (0..requests)
            .flat_map(|_| {
                let product = 1 + rng.below(spec.products as usize);
                let page = 1 + rng.below(pages);
                Kind::ALL.map(|kind| {
                    let path = match kind {
                        Kind::Images => format!("/products/{product}/images.json?limit=250"),
                        Kind::ChangedSince => format!(
                            "/products.json?min_date_modified={since}&limit=250&page={page}"
                        ),
                        Kind::ProductCount => format!("/products/{product}/images/count.json"),
                        Kind::StoreCount => "/products/images/count.json".to_owned(),
                    };
                    (kind, path)
                })
            })
            .collect();

        // The bare route learns each answer from the real server (this is also the warm-up).
        let mut bodies = HashMap::new();
        let mut bytes_by_kind: HashMap<Kind, (usize, usize)> = HashMap::new();
        for (kind, path) in &script {
            let (_, body) = timed_get(&client, &format!("{api}{path}")).await;
            let entry = bytes_by_kind.entry(*kind).or_default();
            entry.0 += body.len();
            entry.1 += 1;
            bodies.insert(format!("/api/v2{path}"), body);
        }
        let bare_app = Router::new()
            .fallback(bare)
            .with_state(Arc::new(bodies));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let bare_api = format!("http://{}/api/v2", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, bare_app).await });

        let mut ours: HashMap<Kind, Vec<Duration>> = HashMap::new();
        let mut theirs: HashMap<Kind, Vec<Duration>> = HashMap::new();
        for (i, (kind, path)) in script.iter().enumerate() {
            // Alternate which goes first, so that drift hits both alike.
            let order = if i % 2 == 0 { [&api, &bare_api] } else { [&bare_api, &api] };
            for base in order {
                let (elapsed, _) = timed_get(&client, &format!("{base}{path}")).await;
                let into = if base == &api { &mut ours } else { &mut theirs };
                into.entry(*kind).or_default().push(elapsed);
            }
        }
        let store_images = {
            let (_, body) = timed_get(&client, &format!("{api}/products/images/count.json")).await;
            let count: serde_json::Value = serde_json::from_slice(&body).expect("json");
            count["count"].as_u64().unwrap_or_default()
        };
        server.shutdown().await.expect("shutdown");

        match seeded_in {
            Some(t) => eprintln!("seeded {spec} in {:.1} s", t.as_secs_f64()),
            None => eprintln!("reused the store in {}", dir.display()),
        }
        eprintln!(
            "start-up over the store: {:.2} s; {changed} products changed in the last day; \
             {store_images} images",
            start_up.as_secs_f64()
        );
        let plans = query_plans(&dir).await;
        for (query, plan) in &plans {
            eprintln!("plan of `{query}`: {plan}");
        }

        println!(
            "| figure ({spec} store, {requests} requests each, one connection) | imagedesk p50 / p99 | bare axum route, same bytes (same run) p50 / p99 | mean body | goal |"
        );
        println!("|---|---|---|---|---|");
        for kind in Kind::ALL {
            let (a50, a99) = describe(ours.remove(&kind).unwrap_or_default());
            let (b50, b99) = describe(theirs.remove(&kind).unwrap_or_default());
            let (bytes, n) = bytes_by_kind.get(&kind).copied().unwrap_or((0, 1));
            println!(
                "| {} | {a50:.2} / {a99:.2} ms | {b50:.2} / {b99:.2} ms | {} B | {} |",
                kind.label(),
                bytes / n.max(1),
                kind.goal()
            );
        }
        let scans = plans
            .iter()
            .take(4)
            .filter(|(_, plan)| plan.contains("SCAN images"))
            .count();
        println!(
            "| query plans of the counts and lists (`EXPLAIN QUERY PLAN`) | {} | `SELECT COUNT(*) FROM images`: {} | – | no table scan |",
            if scans == 0 { "no scan of images" } else { "SCANS images" },
            plans.last().map_or("", |(_, p)| p.as_str())
        );
        if let Some(t) = seeded_in {
            println!(
                "| `serve --seed-synthetic {spec}` (in-process, whole seed) | {:.1} s | – | – | well under 2 min |",
                t.as_secs_f64()
            );
        }
    });
}
