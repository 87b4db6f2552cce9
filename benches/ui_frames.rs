//! The UI thread's CPU time per frame while scrolling a product of 5,000 images: the real app
//! state, the real sync engine and the real server on loopback, driven headless by
//! egui_kittest. A frame's time is `run_ui` (our code, layout, accessibility tree) plus the
//! tessellation of its shapes, which is what the UI thread does before handing vertices to the
//! GPU. It is read from the thread's own CPU clock, so that the background fetch and decode —
//! which share this 2-core machine with the UI thread — are not counted as the UI's work; the
//! wall-clock time of the same frames is reported beside it.
//!
//! Run: `cargo bench --bench ui_frames` (prints a markdown table; seeding takes a minute).

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use futures_util::StreamExt as _;
use imagedesk::api::{Client, Credentials, ImageWrite, NewProduct, UploadSource};
use imagedesk::imaging::synthetic;
use imagedesk::server::{Config, Server};
use imagedesk::sync::{Engine, EngineConfig};
use imagedesk::ui::{Backend, ImageDeskApp};

const TOKEN: &str = "bench-token";
const IMAGES: usize = 5_000;
/// Points scrolled per frame: a brisk flick of the wheel (7,200 points a second at 60 Hz).
const SCROLL_PER_FRAME: f32 = 120.0;
/// The time a 60 Hz frame leaves the background tasks (fetch and decode) between frames.
const FRAME_GAP: Duration = Duration::from_millis(8);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let store_dir = tempfile::tempdir().expect("tempdir");
    let replica_dir = tempfile::tempdir().expect("tempdir");
    let engine = runtime.block_on(async {
        let mut config = Config::local(store_dir.path(), TOKEN);
        config.max_images_per_product = IMAGES as i64;
        let server = Server::bind(config).await.expect("bind").spawn();
        let client =
            Client::new(&server.api_url(), Credentials::Token(TOKEN.into())).expect("client");
        let product = client
            .create_product(&NewProduct {
                name: "Everything".into(),
                sku: "ALL".into(),
            })
            .await
            .expect("product")
            .id;
        seed(&client, product).await;
        let mut config = EngineConfig::in_dir(replica_dir.path());
        config.tile_cache_bytes = 2 * 1024 * 1024 * 1024;
        let engine = Engine::open(config, client).await.expect("engine");
        let status = engine.settled(Duration::from_secs(300)).await;
        assert_eq!(status.pending, 0, "{status:?}");
        // The server must outlive the engine: leak its handle for the bench's lifetime.
        std::mem::forget(server);
        engine
    });

    let backend = Backend::new(engine, runtime.handle().clone());
    let mut harness = Harness::builder()
        .with_size(egui::Vec2::new(1280.0, 800.0))
        .with_step_dt(1.0 / 60.0)
        .build_ui_state(
            |ui, app: &mut ImageDeskApp| app.show_ui(ui),
            ImageDeskApp::new(backend),
        );
    let opened = Instant::now();
    while harness.state().images().len() < IMAGES {
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
        assert!(
            opened.elapsed() < Duration::from_secs(120),
            "grid never filled"
        );
    }

    // Warm-up: one pass down fetches every tile into the disk cache.
    let warm = scroll_pass(&mut harness, 1.0);
    // Measured: back up over the whole product (textures beyond the memory budget are
    // decoded again off the UI thread), then within the first 1,000 images, where every
    // texture stays resident.
    let full = scroll_pass(&mut harness, -1.0);
    let resident = scroll_within(&mut harness, 1_000);

    println!(
        "| scroll pass ({IMAGES} images, {SCROLL_PER_FRAME} pt/frame) | frames | CPU median | CPU p99 | CPU max | wall-clock p99 | texture memory (max) | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, pass, target) in [
        ("down the whole product, tiles fetched", &warm, "–"),
        (
            "back up the whole product, textures evicted and decoded again",
            &full,
            "p99 ≤ 8 ms; memory under its bound",
        ),
        (
            "up and down the first 1,000 images, textures resident",
            &resident,
            "p99 ≤ 8 ms",
        ),
    ] {
        println!(
            "| {name} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} MiB (budget 192 MiB) | {target} |",
            pass.times.len(),
            percentile(&pass.times, 0.5),
            percentile(&pass.times, 0.99),
            percentile(&pass.times, 1.0),
            percentile(&pass.wall_times, 0.99),
            pass.max_texture_bytes / (1024 * 1024)
        );
    }
}

async fn seed(client: &Client, product: i64) {
    // Small photographs keep seeding quick; their tiles are what the store's thumbnails are.
    let pictures: Vec<Vec<u8>> = (0..16)
        .map(|seed| synthetic::jpeg(&synthetic::photo(200, 150, seed), 82, false, None))
        .collect();
    let uploads = futures_util::stream::iter(0..IMAGES).map(|n| {
        let bytes = pictures[n % pictures.len()].clone();
        async move {
            let source = UploadSource::Bytes {
                file_name: format!("p{n}.jpg"),
                bytes: bytes.into(),
            };
            let fields = ImageWrite {
                description: Some(format!("picture {n}")),
                ..ImageWrite::default()
            };
            client
                .upload_image(product, &source, &fields, None, None)
                .await
                .expect("upload")
        }
    });
    uploads.buffer_unordered(4).for_each(|_| async {}).await;
}

struct Pass {
    times: Vec<f64>,
    wall_times: Vec<f64>,
    max_texture_bytes: usize,
}

/// One frame: a wheel event over the grid, the frame, and its tessellation. Returns the UI
/// thread's CPU time and the wall-clock time, in ms.
fn frame(harness: &mut Harness<'_, ImageDeskApp>, delta: f32) -> (f64, f64) {
    harness.event(egui::Event::PointerMoved(egui::pos2(660.0, 420.0)));
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
    let cpu = (thread_cpu_time() - cpu_started).as_secs_f64() * 1e3;
    let wall = wall_started.elapsed().as_secs_f64() * 1e3;
    std::thread::sleep(FRAME_GAP);
    (cpu, wall)
}

/// CPU time the calling thread has used (Linux `CLOCK_THREAD_CPUTIME_ID`, nanosecond resolution).
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

/// Scrolls the whole grid, down (`direction` 1) or up (-1).
fn scroll_pass(harness: &mut Harness<'_, ImageDeskApp>, direction: f32) -> Pass {
    let rows = IMAGES.div_ceil(5) as f32;
    let frames = (rows * 194.0 / SCROLL_PER_FRAME) as usize + 20;
    run_frames(harness, frames, |_| -direction * SCROLL_PER_FRAME)
}

/// Scrolls down and up over the first `images`, twice.
fn scroll_within(harness: &mut Harness<'_, ImageDeskApp>, images: usize) -> Pass {
    let span = ((images / 5) as f32 * 194.0 / SCROLL_PER_FRAME) as usize;
    run_frames(harness, span * 4, |n| {
        if (n / span).is_multiple_of(2) {
            -SCROLL_PER_FRAME
        } else {
            SCROLL_PER_FRAME
        }
    })
}

fn run_frames(
    harness: &mut Harness<'_, ImageDeskApp>,
    frames: usize,
    delta: impl Fn(usize) -> f32,
) -> Pass {
    let mut times = Vec::with_capacity(frames);
    let mut wall_times = Vec::with_capacity(frames);
    let mut max_texture_bytes = 0;
    for n in 0..frames {
        let (cpu, wall) = frame(harness, delta(n));
        times.push(cpu);
        wall_times.push(wall);
        max_texture_bytes = max_texture_bytes.max(harness.state().texture_bytes());
    }
    Pass {
        times,
        wall_times,
        max_texture_bytes,
    }
}

fn percentile(times: &[f64], q: f64) -> f64 {
    let mut sorted = times.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[at]
}
