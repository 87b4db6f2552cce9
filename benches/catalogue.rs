//! The app over a catalogue of 100,000 products and 1,000,000 images: cold start to the first
//! frame that lists products, product search per keystroke, frame time while scrolling the
//! product list and the counts view, and peak memory. Each beside the design it replaces, in
//! the same run: `Engine::products()` (every product with correlated COUNT subqueries, loaded
//! whole) and the search the old list ran in Rust over that vector.
//!
//! The replica is built once with SQL (one transaction, prepared statements) in
//! `$IMAGEDESK_BENCH_CACHE` (default: `<temp dir>/imagedesk-bench-catalogue-100k`) and reused
//! by later runs; delete it to build it again.
//!
//! Run: `cargo bench --bench catalogue` (prints a markdown table). The figures in BENCHMARKS.md
//! were taken with `CARGO_PROFILE_DEV_OPT_LEVEL=3 cargo bench --profile dev --bench catalogue`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use imagedesk::sync::memory_store::MemoryStore;
use imagedesk::sync::{Engine, EngineConfig, ProductQuery, ProductSort, ProductSummary};
use imagedesk::ui::{Backend, ImageDeskApp, View};

const PRODUCTS: i64 = 100_000;
/// Scrolled per frame: a brisk flick of the wheel (7,200 points a second at 60 Hz).
const SCROLL_PER_FRAME: f32 = 120.0;
/// What a 60 Hz frame leaves the background tasks (page reads) between frames.
const FRAME_GAP: Duration = Duration::from_millis(8);
const FRAMES: usize = 600;

const ADJECTIVES: [&str; 12] = [
    "Classic", "Modern", "Rustic", "Compact", "Deluxe", "Vintage", "Sleek", "Sturdy", "Bright",
    "Cosy", "Nordic", "Urban",
];
const MATERIALS: [&str; 8] = [
    "oak", "walnut", "steel", "linen", "leather", "glass", "bamboo", "marble",
];
const NOUNS: [&str; 10] = [
    "chair", "table", "lamp", "desk", "shelf", "sofa", "stool", "bench", "mirror", "rug",
];

/// What is typed, one keystroke at a time: names, SKUs, ids, in any case.
const TYPED: [&str; 6] = [
    "walnut desk 42",
    "RUSTIC OAK",
    "OAK-0120",
    "98765",
    "lamp 7",
    "marble mirror",
];

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::var_os("IMAGEDESK_BENCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("imagedesk-bench-catalogue-100k"));
    let built = runtime.block_on(ensure_replica(&dir));
    if let Some(took) = built {
        eprintln!("built the replica in {:.1} s", took.as_secs_f64());
    }

    // -- cold start: open the engine, draw until the list shows its first products ------------
    let started = Instant::now();
    let engine = runtime.block_on(open(&dir));
    let engine = Arc::new(engine);
    let backend = Backend::new(engine.clone(), runtime.handle().clone());
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(
            |ui, app: &mut ImageDeskApp| app.show_ui(ui),
            ImageDeskApp::new(backend),
        );
    let first_row = first_label(&runtime, &engine);
    while harness.query_by_label(&first_row).is_none() {
        harness.step();
        std::thread::sleep(Duration::from_millis(1));
        assert!(started.elapsed() < Duration::from_secs(60), "no products");
    }
    let cold = started.elapsed();

    // -- search: every prefix of each typed text is one keystroke's query ---------------------
    let keystrokes: Vec<String> = TYPED
        .iter()
        .flat_map(|text| {
            (1..=text.chars().count()).map(move |n| text.chars().take(n).collect::<String>())
        })
        .collect();
    let mut search = Vec::new();
    runtime.block_on(async {
        for text in &keystrokes {
            let query = ProductQuery {
                search: text.clone(),
                sort: ProductSort::Id,
                descending: false,
            };
            let at = Instant::now();
            let page = engine.product_page(&query, 0, 100).await.expect("page");
            search.push(at.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(page);
        }
    });
    let mut slowest: Vec<(f64, &String)> = search.iter().copied().zip(&keystrokes).collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("slowest keystrokes: {:?}", &slowest[..5]);
    // The same keystrokes typed into the app's search field: until the list shows the answer.
    let mut typed = Vec::new();
    harness.get_by_label("Search products").focus();
    harness.step();
    for text in TYPED {
        for c in text.chars() {
            harness.event(egui::Event::Text(c.to_string()));
            let at = Instant::now();
            harness.step();
            // A new query has no total until its first page arrives (and is drawn).
            while harness.state().listed().0.is_none() {
                std::thread::sleep(Duration::from_micros(100));
                harness.step();
            }
            typed.push(at.elapsed().as_secs_f64() * 1e3);
        }
        for _ in 0..text.chars().count() {
            harness.key_press(egui::Key::Backspace);
        }
        harness.step();
    }
    while harness.query_by_label(&first_row).is_none() {
        harness.step();
        std::thread::sleep(Duration::from_millis(1));
    }

    // -- scrolling ------------------------------------------------------------------------------
    let list_at = harness.get_by_label(&first_row).rect().center();
    let list = run_frames(&mut harness, list_at);
    let list_held = harness.state().listed().1;
    harness.get_by_label("Counts").click();
    harness.step();
    while harness.state().view() != View::Counts || harness.state().counts_rows(0..1).is_empty() {
        harness.step();
        std::thread::sleep(Duration::from_millis(1));
    }
    let counts = run_frames(&mut harness, egui::pos2(700.0, 600.0));
    let counts_held = harness.state().listed().2;
    let rss_new = memory();

    // -- the replaced design, same run: everything loaded, searched in Rust ------------------
    let at = Instant::now();
    let all = runtime.block_on(engine.products()).expect("products");
    let full_load = at.elapsed();
    let mut scan = Vec::new();
    for text in &keystrokes {
        let at = Instant::now();
        let needle = text.trim().to_lowercase();
        let found = all.iter().filter(|p| old_matches(p, &needle)).count();
        scan.push(at.elapsed().as_secs_f64() * 1e3);
        std::hint::black_box(found);
    }
    let rss_old = memory();

    println!(
        "| catalogue of {PRODUCTS} products, {} images | this design | replaced design (same run) | target |",
        all.iter().map(|p| p.image_count).sum::<u64>()
    );
    println!("|---|---|---|---|");
    println!(
        "| cold start to the first frame listing products | {:.0} ms | `Engine::products()` alone (before any frame): {:.0} ms | ≤ 1 s |",
        cold.as_secs_f64() * 1e3,
        full_load.as_secs_f64() * 1e3
    );
    println!(
        "| search, engine query per keystroke ({} keystrokes) | median {:.2} ms, p99 {:.2} ms | scan of the loaded vector: median {:.2} ms, p99 {:.2} ms (on the UI thread, every frame) | ≤ 20 ms |",
        search.len(),
        percentile(&search, 0.5),
        percentile(&search, 0.99),
        percentile(&scan, 0.5),
        percentile(&scan, 0.99)
    );
    println!(
        "| search typed into the app: keystroke to the list's new count ({} keystrokes) | median {:.2} ms, p99 {:.2} ms | – | ≤ 20 ms |",
        typed.len(),
        percentile(&typed, 0.5),
        percentile(&typed, 0.99)
    );
    for (name, pass, held) in [
        ("product list", &list, list_held),
        ("counts view", &counts, counts_held),
    ] {
        println!(
            "| frame, scrolling the {name} ({} frames, {SCROLL_PER_FRAME} pt/frame): UI-thread CPU | median {:.2} ms, p99 {:.2} ms, max {:.2} ms (wall p99 {:.2} ms); {held} rows held | – | p99 ≤ 8 ms |",
            pass.cpu.len(),
            percentile(&pass.cpu, 0.5),
            percentile(&pass.cpu, 0.99),
            percentile(&pass.cpu, 1.0),
            percentile(&pass.wall, 0.99),
        );
    }
    println!(
        "| peak RSS of the process (VmHWM) | {} MiB (now {} MiB) | {} MiB after also loading every product | ≤ 300 MiB |",
        rss_new.0 / 1024,
        rss_new.1 / 1024,
        rss_old.0 / 1024
    );
}

/// The old product list's test of a product against the search text.
fn old_matches(product: &ProductSummary, needle: &str) -> bool {
    needle.is_empty()
        || product.name.to_lowercase().contains(needle)
        || product.sku.to_lowercase().contains(needle)
        || product.id.to_string() == needle
}

async fn open(dir: &Path) -> Engine {
    let mut config = EngineConfig::in_dir(dir);
    // No store: the replica is what is measured, and a pull would replace it.
    config.offline = true;
    Engine::open_with(config, Arc::new(MemoryStore::new()))
        .await
        .expect("engine")
}

/// The list's first row as it labels it.
fn first_label(runtime: &tokio::runtime::Runtime, engine: &Engine) -> String {
    let page = runtime
        .block_on(engine.product_page(&ProductQuery::default(), 0, 1))
        .expect("page");
    let first = &page.rows[0];
    format!("{} ({})", first.name, first.image_count)
}

/// Builds the replica unless it is there: the engine makes the schema, then one transaction of
/// prepared inserts fills it (the triggers keep the counts and the search index as it goes).
async fn ensure_replica(dir: &Path) -> Option<Duration> {
    let ready = dir.join("filled");
    if ready.exists() {
        return None;
    }
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(dir);
    open(dir).await.close().await;
    use sqlx::Connection as _;
    let url = format!("sqlite://{}", dir.join("replica.sqlite").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("replica");
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut db)
        .await
        .expect("pragma");
    let mut tx = db.begin().await.expect("begin");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let mut server_id = 1_i64;
    for id in 1..=PRODUCTS {
        let n = id as usize;
        let name = format!(
            "{} {} {} {id}",
            ADJECTIVES[n % ADJECTIVES.len()],
            MATERIALS[(n / 12) % MATERIALS.len()],
            NOUNS[(n / 96) % NOUNS.len()]
        );
        let sku = format!(
            "{}-{:04}",
            MATERIALS[n % MATERIALS.len()].to_uppercase(),
            n % 10_000
        );
        // One product in ten not read yet, the rest read over the last day.
        let read_at = (id % 10 != 0).then_some(now_ms - (id * 863) % 86_400_000);
        sqlx::query("INSERT INTO products (id, name, sku, images_read_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(&name)
            .bind(&sku)
            .bind(read_at)
            .execute(&mut *tx)
            .await
            .expect("product");
        // 0..=20 images, 10 on average: 1,000,000 in all.
        let images = if id % 2 == 0 {
            20 - (id * 7919) % 21
        } else {
            (id * 7919) % 21
        };
        let images = if id % 4 < 2 { images } else { 10 };
        for position in 0..images {
            sqlx::query(
                "INSERT INTO images (server_id, product_id, position, sort_order, is_thumbnail,
                    description, image_file, thumbnail_url, width, height, file_size)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1600, 1200, 240000)",
            )
            .bind(server_id)
            .bind(id)
            .bind(position)
            .bind(position)
            .bind(position == 0 && id % 50 != 0)
            .bind(format!("{name}, view {position}"))
            .bind(format!("p/{id}/{server_id}.jpg"))
            .bind(format!(
                "http://127.0.0.1:1/product_images/thumbnail/p/{id}/{server_id}.jpg"
            ))
            .execute(&mut *tx)
            .await
            .expect("image");
            server_id += 1;
        }
    }
    tx.commit().await.expect("commit");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut db)
        .await
        .expect("checkpoint");
    db.close().await.expect("close");
    std::fs::write(&ready, b"").expect("marker");
    Some(started.elapsed())
}

struct Pass {
    cpu: Vec<f64>,
    wall: Vec<f64>,
}

/// Scrolls down with the pointer at `at` for [`FRAMES`] frames; the UI thread's CPU time and
/// the wall-clock time of each, in ms (a frame is `run_ui` plus the tessellation of its
/// shapes, as in `ui_frames.rs`).
fn run_frames(harness: &mut Harness<'_, ImageDeskApp>, at: egui::Pos2) -> Pass {
    let mut cpu = Vec::with_capacity(FRAMES);
    let mut wall = Vec::with_capacity(FRAMES);
    for n in 0..FRAMES {
        // Down for two thirds, back up for a third: pages are fetched and let go both ways.
        let delta = if n < FRAMES * 2 / 3 {
            -SCROLL_PER_FRAME
        } else {
            SCROLL_PER_FRAME
        };
        harness.event(egui::Event::PointerMoved(at));
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Unknown,
            modifiers: egui::Modifiers::default(),
        });
        let (cpu_started, wall_started) = (thread_cpu_time(), Instant::now());
        harness.step();
        let shapes = harness.output().shapes.clone();
        let ppp = harness.output().pixels_per_point;
        let _ = harness.ctx.tessellate(shapes, ppp);
        cpu.push((thread_cpu_time() - cpu_started).as_secs_f64() * 1e3);
        wall.push(wall_started.elapsed().as_secs_f64() * 1e3);
        std::thread::sleep(FRAME_GAP);
    }
    Pass { cpu, wall }
}

/// CPU time the calling thread has used (Linux `CLOCK_THREAD_CPUTIME_ID`).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// (peak, current) resident memory of this process in KiB, from /proc/self/status.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn percentile(times: &[f64], q: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at]
}
