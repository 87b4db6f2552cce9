//! `imagedesk import-folder` of 100 photographs of 12 MP (4000×3000 JPEGs, 25 SKUs × 4
//! pictures) against a release `imagedesk serve` on loopback with its default settings (no
//! `--rate-limit`: the store sends no quota headers, so the engine's budget is its own limit of
//! 4 creates at once), beside the same files POSTed one by one with `curl` (multipart, one
//! process per file, the product ids given) in the same run. Each run starts a fresh server
//! over a fresh data directory (stored pictures are deduplicated by content, so a second upload
//! of the same bytes would cost the server nothing) and a fresh replica; the time is from the
//! command's start to its exit (import-folder exits once every upload is confirmed), or to the
//! last curl's exit. The order of the two alternates run by run; medians of `IMPORT_BENCH_RUNS`
//! runs (default 3).
//!
//! Where the time goes: the server's CPU time (user + system, from /proc) and the client's
//! (the children's rusage: the curl processes, or import-folder) for each run, and the
//! imaging of one picture in-process (decode, four variants, perceptual hash).
//!
//!     cargo bench --bench import_folder
//!
//! `IMPORT_BENCH_BIN=PATH` runs another `imagedesk` binary (a copy of this build's).
//!
//! The photographs are made once into `$CARGO_TARGET_TMPDIR/import-folder-photos` (delete
//! it to make them again).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imagedesk::api::{Client, Credentials, NewProduct, RetryPolicy};
use imagedesk::imaging::{self, VARIANT_BOXES, synthetic};

const TOKEN: &str = "bench-token";
const PRODUCTS: usize = 25;
const PER_PRODUCT: usize = 4;
const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;

fn sku(product: usize) -> String {
    format!("BENCH-{product:02}")
}

/// `SKU.jpg`, `SKU-2.jpg`, … as import-folder reads them.
fn file_name(product: usize, view: usize) -> String {
    if view == 0 {
        format!("{}.jpg", sku(product))
    } else {
        format!("{}-{}.jpg", sku(product), view + 1)
    }
}

/// The 100 photographs, each distinct, made on both cores once and kept.
fn photographs() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("import-folder-photos");
    let wanted: Vec<(usize, usize)> = (0..PRODUCTS)
        .flat_map(|p| (0..PER_PRODUCT).map(move |v| (p, v)))
        .collect();
    if wanted
        .iter()
        .all(|(p, v)| dir.join(file_name(*p, *v)).exists())
    {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("photo folder");
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (dir, wanted) = (&dir, &wanted);
            scope.spawn(move || {
                for (i, (p, v)) in wanted.iter().enumerate() {
                    if i % threads != t {
                        continue;
                    }
                    let seed = 7_000 + i as u64;
                    let bytes =
                        synthetic::jpeg(&synthetic::photo(WIDTH, HEIGHT, seed), 85, false, None);
                    assert!(bytes.len() <= imaging::MAX_FILE_BYTES, "{}", bytes.len());
                    std::fs::write(dir.join(file_name(*p, *v)), bytes).expect("photo");
                }
            });
        }
    });
    eprintln!(
        "made {} photographs of {WIDTH}×{HEIGHT} in {:.1} s",
        wanted.len(),
        started.elapsed().as_secs_f64()
    );
    dir
}

/// The release binary cargo built for this bench, or `IMPORT_BENCH_BIN` (a copy, when the
/// build directory is shared with builds that may replace it mid-run).
fn imagedesk_binary() -> PathBuf {
    std::env::var_os("IMPORT_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_imagedesk")))
}

struct Serve {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Serve {
    /// A release `imagedesk serve` with default settings over a new data directory, and the
    /// 25 products; returns it and the products' ids in SKU order.
    async fn start() -> (Serve, Vec<i64>) {
        let data = tempfile::tempdir().expect("data dir");
        let mut child = Command::new(imagedesk_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data.path())
            .env("IMAGEDESK_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("imagedesk serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        loop {
            line.clear();
            let read = reader.read_line(&mut line).expect("serve output");
            assert!(read > 0, "serve exited before listening");
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                line = addr.to_owned();
                break;
            }
        }
        let base = line.trim().to_owned();
        let client = client(&format!("{base}/api/v2"));
        let mut ids = Vec::new();
        for p in 0..PRODUCTS {
            let product = client
                .create_product(&NewProduct {
                    name: format!("Bench product {p}"),
                    sku: sku(p),
                })
                .await
                .expect("product");
            ids.push(product.id);
        }
        (
            Serve {
                child,
                base,
                _data: data,
            },
            ids,
        )
    }

    /// User + system CPU seconds of the server so far.
    fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("server stat");
        // Fields after the command's closing parenthesis; utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')').expect("stat") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 =
            fields[11].parse::<f64>().unwrap_or(0.0) + fields[12].parse::<f64>().unwrap_or(0.0);
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        ticks / per_second
    }

    async fn image_count(&self) -> u64 {
        client(&format!("{}/api/v2", self.base))
            .count_store_images()
            .await
            .expect("count")
    }

    fn stop(mut self) {
        // SAFETY: signalling our own child by its id.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn client(api_url: &str) -> Client {
    Client::with_options(
        api_url,
        Credentials::Token(TOKEN.into()),
        Duration::from_secs(60),
        RetryPolicy::default(),
    )
    .expect("client")
}

/// User + system CPU seconds of the children waited for so far.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Wall seconds, server CPU seconds, client CPU seconds.
struct Run {
    wall: f64,
    server_cpu: f64,
    client_cpu: f64,
}

async fn curl_one_by_one(photos: &Path) -> Run {
    let (serve, ids) = Serve::start().await;
    let (server_before, client_before) = (serve.cpu_seconds(), children_cpu_seconds());
    let started = Instant::now();
    for (p, id) in ids.iter().enumerate() {
        for v in 0..PER_PRODUCT {
            let file = photos.join(file_name(p, v));
            let status = Command::new("curl")
                .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
                .arg(format!("X-Auth-Token: {TOKEN}"))
                .arg("-F")
                .arg(format!("image_file=@{}", file.display()))
                .arg(format!("{}/api/v2/products/{id}/images", serve.base))
                .output()
                .expect("curl");
            assert_eq!(
                String::from_utf8_lossy(&status.stdout),
                "201",
                "curl upload of {}",
                file.display()
            );
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let run = Run {
        wall,
        server_cpu: serve.cpu_seconds() - server_before,
        client_cpu: children_cpu_seconds() - client_before,
    };
    assert_eq!(serve.image_count().await, (PRODUCTS * PER_PRODUCT) as u64);
    serve.stop();
    run
}

async fn import_folder(photos: &Path) -> Run {
    let (serve, _ids) = Serve::start().await;
    let replica = tempfile::tempdir().expect("replica");
    let (server_before, client_before) = (serve.cpu_seconds(), children_cpu_seconds());
    let started = Instant::now();
    let output = Command::new(imagedesk_binary())
        .arg("import-folder")
        .arg(photos)
        .args(["--api", &format!("{}/api/v2", serve.base), "--replica-dir"])
        .arg(replica.path())
        .env("IMAGEDESK_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("import-folder");
    let wall = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "import-folder: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let run = Run {
        wall,
        server_cpu: serve.cpu_seconds() - server_before,
        client_cpu: children_cpu_seconds() - client_before,
    };
    assert_eq!(serve.image_count().await, (PRODUCTS * PER_PRODUCT) as u64);
    serve.stop();
    run
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Decode, four variants and the perceptual hash of one photograph, in this process: what the
/// server does for each upload (its file writes and fsyncs aside).
fn imaging_of_one(photos: &Path) -> (f64, f64) {
    let bytes = std::fs::read(photos.join(file_name(0, 0))).expect("photo");
    let boxes = VARIANT_BOXES.map(|(_, b)| b);
    let mut variants = Vec::new();
    let mut hashes = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        imaging::make_variants(&bytes, &boxes).expect("variants");
        variants.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        imaging::perceptual_hash(&bytes).expect("hash");
        hashes.push(started.elapsed().as_secs_f64());
    }
    (median(variants), median(hashes))
}

fn main() {
    let runs: usize = std::env::var("IMPORT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let photos = photographs();
    let bytes: u64 = std::fs::read_dir(&photos)
        .expect("photos")
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (mut ours, mut curl) = (Vec::new(), Vec::new());
    for run in 0..runs {
        // Alternate which goes first, so the machine's drift hits both alike.
        if run % 2 == 0 {
            curl.push(runtime.block_on(curl_one_by_one(&photos)));
            ours.push(runtime.block_on(import_folder(&photos)));
        } else {
            ours.push(runtime.block_on(import_folder(&photos)));
            curl.push(runtime.block_on(curl_one_by_one(&photos)));
        }
        let (o, c) = (ours.last().expect("run"), curl.last().expect("run"));
        eprintln!(
            "run {}: import-folder {:.2} s (server CPU {:.1} s, client {:.1} s), curl {:.2} s \
             (server CPU {:.1} s, curl {:.1} s), ratio {:.2}",
            run + 1,
            o.wall,
            o.server_cpu,
            o.client_cpu,
            c.wall,
            c.server_cpu,
            c.client_cpu,
            o.wall / c.wall
        );
    }
    let (variants, hash) = imaging_of_one(&photos);
    let walls = |runs: &[Run]| runs.iter().map(|r| r.wall).collect::<Vec<_>>();
    let spread = |runs: &[Run]| {
        let w = walls(runs);
        (
            w.iter().copied().fold(f64::INFINITY, f64::min),
            w.iter().copied().fold(0.0, f64::max),
        )
    };
    let ratios: Vec<f64> = ours
        .iter()
        .zip(&curl)
        .map(|(o, c)| o.wall / c.wall)
        .collect();
    let (o_min, o_max) = spread(&ours);
    let (c_min, c_max) = spread(&curl);
    println!(
        "{} photographs of {WIDTH}×{HEIGHT} ({:.0} MB), {runs} runs, {} cores",
        PRODUCTS * PER_PRODUCT,
        bytes as f64 / 1e6,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| 100 uploads | wall time, median (min–max) | server CPU | client CPU |");
    println!("|---|---|---|---|");
    println!(
        "| import-folder (4 at once) | {:.1} s ({o_min:.1}–{o_max:.1}) | server CPU {:.1} s | client CPU {:.1} s |",
        median(walls(&ours)),
        median(ours.iter().map(|r| r.server_cpu).collect()),
        median(ours.iter().map(|r| r.client_cpu).collect()),
    );
    println!(
        "| curl one by one | {:.1} s ({c_min:.1}–{c_max:.1}) | server CPU {:.1} s | client CPU {:.1} s |",
        median(walls(&curl)),
        median(curl.iter().map(|r| r.server_cpu).collect()),
        median(curl.iter().map(|r| r.client_cpu).collect()),
    );
    println!(
        "| import-folder ÷ curl, median of the runs' ratios | {:.2}× (runs: {}) | | |",
        median(ratios.clone()),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "| imaging of one picture, in-process | variants {:.0} ms + perceptual hash {:.0} ms | | |",
        variants * 1000.0,
        hash * 1000.0
    );
}
