//! `PUT sort_order` requests per reorder, counted by the real server, against the lower bound
//! n − LIS (the images outside a longest increasing subsequence of the old order must each be
//! written at least once), computed here independently of the planner.
//!
//! The reorders go through the real sync engine, as the app sends them: single drags
//! (`move_images` of one tile) and random permutations of a 100-image product (`reorder`).
//! After each one the store's order must equal the replica's.
//!
//! Run: `cargo bench --bench reorder_puts` (prints a markdown table).

mod common;

use std::time::{Duration, Instant};

use common::{Rng, requests_counted, seeded_store};
use imagedesk::api::reorder::plan_reorder;
use imagedesk::sync::{Engine, EngineConfig, ImageId};

const IMAGES: usize = 100;
const DRAGS: usize = 50;
const PERMUTATIONS: usize = 20;

/// Length of the longest increasing subsequence (patience sorting).
fn lis_len(values: &[usize]) -> usize {
    let mut tails: Vec<usize> = Vec::new();
    for &v in values {
        match tails.binary_search(&v) {
            Ok(_) => {}
            Err(at) if at == tails.len() => tails.push(v),
            Err(at) => tails[at] = v,
        }
    }
    tails.len()
}

/// n − LIS of `after` read as positions in `before`.
fn lower_bound(before: &[i64], after: &[i64]) -> usize {
    let positions: Vec<usize> = after
        .iter()
        .map(|id| before.iter().position(|b| b == id).expect("same images"))
        .collect();
    after.len() - lis_len(&positions)
}

struct Tally {
    reorders: usize,
    puts: u64,
    bound: usize,
    mismatches: usize,
}

impl Tally {
    fn new() -> Self {
        Tally {
            reorders: 0,
            puts: 0,
            bound: 0,
            mismatches: 0,
        }
    }
}

async fn run() {
    let store = seeded_store(IMAGES, |_| {}).await;
    let (server, client, product) = (&store.server, &store.client, store.product);

    let replica = tempfile::tempdir().expect("tempdir");
    let mut engine_config = EngineConfig::in_dir(replica.path());
    engine_config.pull_interval = Duration::from_secs(3600);
    let engine = Engine::open(engine_config, client.clone())
        .await
        .expect("engine");
    assert_eq!(engine.settled(Duration::from_secs(60)).await.pending, 0);

    let base_url = server.base_url();
    let store_order = || async {
        client
            .list_all_images(product)
            .await
            .expect("list")
            .iter()
            .map(|i| i.id)
            .collect::<Vec<i64>>()
    };
    let replica_order = || async {
        engine
            .images(product)
            .await
            .expect("images")
            .iter()
            .map(|i| i.server_id.expect("synced"))
            .collect::<Vec<i64>>()
    };
    let local_ids = || async {
        engine
            .images(product)
            .await
            .expect("images")
            .iter()
            .map(|i| i.id)
            .collect::<Vec<ImageId>>()
    };

    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut drags, mut permutations) = (Tally::new(), Tally::new());
    for round in 0..DRAGS + PERMUTATIONS {
        let before = store_order().await;
        let sent_before = requests_counted(&base_url, Some("PUT")).await;
        let tally = if round < DRAGS {
            let ids = local_ids().await;
            let from = rng.below(ids.len());
            let mut to = rng.below(ids.len() - 1);
            if to >= from {
                to += 1;
            }
            // A drag onto slot `to` of the list without the dragged tile.
            engine
                .move_images(product, &[ids[from]], to.min(ids.len() - 1))
                .await
                .expect("move");
            &mut drags
        } else {
            let mut desired = local_ids().await;
            rng.shuffle(&mut desired);
            engine.reorder(product, &desired).await.expect("reorder");
            &mut permutations
        };
        let status = engine.settled(Duration::from_secs(60)).await;
        assert_eq!((status.pending, status.failed), (0, 0), "{status:?}");
        let after = store_order().await;
        assert_eq!(after, replica_order().await, "store order = replica order");
        let sent = requests_counted(&base_url, Some("PUT")).await - sent_before;
        let bound = lower_bound(&before, &after);
        tally.reorders += 1;
        tally.puts += sent;
        tally.bound += bound;
        if sent != bound as u64 {
            tally.mismatches += 1;
            eprintln!("round {round}: {sent} PUTs, n − LIS = {bound}");
        }
    }
    engine.close().await;

    // The planner's own time for a random permutation of 100 (what a drop costs the UI).
    let current: Vec<(i64, i64)> = (0..IMAGES as i64).map(|i| (i + 1, i)).collect();
    let mut plan_times = Vec::new();
    for _ in 0..200 {
        let mut desired: Vec<i64> = current.iter().map(|(id, _)| *id).collect();
        rng.shuffle(&mut desired);
        let started = Instant::now();
        let plan = plan_reorder(&current, &desired).expect("plan");
        plan_times.push(started.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(plan);
    }
    plan_times.sort_by(f64::total_cmp);
    let plan_median = plan_times[plan_times.len() / 2];

    store.server.shutdown().await.expect("shutdown");

    println!(
        "| reorder of a {IMAGES}-image product, through the engine | reorders | PUTs sent (server's count) | n − LIS | reorders where PUTs ≠ n − LIS | target |"
    );
    println!("|---|---|---|---|---|---|");
    for (label, t) in [
        ("single drag of one tile", &drags),
        ("random permutation", &permutations),
    ] {
        println!(
            "| {label} | {} | {} ({:.1} per reorder) | {} | {} | exactly equal |",
            t.reorders,
            t.puts,
            t.puts as f64 / t.reorders as f64,
            t.bound,
            t.mismatches,
        );
    }
    println!();
    println!(
        "Planner time for a random permutation of {IMAGES}: median {plan_median:.0} µs (200 plans)."
    );
    if drags.mismatches + permutations.mismatches > 0 {
        std::process::exit(1);
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run());
}
