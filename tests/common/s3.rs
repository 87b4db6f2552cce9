//! A real S3-compatible server for tests: one `s3s-fs` process per test process (a small Rust
//! S3 server over a directory), started on first use on a free loopback port, and a fresh
//! empty bucket per call of [`bucket`].
//!
//! Like the PostgreSQL fixture, the server is run by a shell that holds this process's end of a
//! pipe: when the test process exits, the shell stops the server and removes its directory.
//!
//! The binary comes from `IMAGEDESK_S3S_FS`, else `s3s-fs` on the `PATH` (`.ci/run` builds it
//! into `/var/cache/imagedesk-ci/s3s/bin` and sets the variable).
//!
//! Only `std` and `tempfile`, so that unit tests inside `src/` can include this file too.

#![allow(dead_code)]

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "imagedesk-test-access";
pub const SECRET_KEY: &str = "imagedesk-test-secret";
pub const REGION: &str = "us-east-1";

const START_LIMIT: Duration = Duration::from_secs(30);

/// One bucket of the test server, and what a client needs to reach it.
#[derive(Debug, Clone)]
pub struct TestBucket {
    /// `http://127.0.0.1:PORT`: what `AWS_ENDPOINT_URL` would say (path-style requests).
    pub endpoint: String,
    pub region: &'static str,
    pub access_key: &'static str,
    pub secret_key: &'static str,
    pub name: String,
    /// The directory that holds the bucket's objects, one file per key (`s3s-fs`'s layout):
    /// tests may look at it, or age a file, to see what the store did.
    pub dir: PathBuf,
}

impl TestBucket {
    /// The keys of every object in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        collect_keys(&self.dir, &self.dir, &mut keys);
        keys.sort();
        keys
    }
}

fn collect_keys(root: &Path, dir: &Path, keys: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_keys(root, &path, keys);
        } else if let Ok(key) = path.strip_prefix(root)
            && let Some(key) = key.to_str()
            // s3s-fs keeps its own bookkeeping (multipart parts, metadata) in dot-files.
            && !key.split('/').any(|part| part.starts_with('.'))
        {
            keys.push(key.to_owned());
        }
    }
}

struct Server {
    port: u16,
    root: PathBuf,
    _lifeline: Mutex<ChildStdin>,
    _shell: Mutex<Child>,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_BUCKET: AtomicU32 = AtomicU32::new(0);

/// A fresh, empty bucket on the test server (started on first use).
pub fn bucket() -> TestBucket {
    let server = SERVER.get_or_init(start_server);
    let name = format!(
        "imagedesk-{}-{}",
        std::process::id(),
        NEXT_BUCKET.fetch_add(1, Ordering::SeqCst)
    );
    // s3s-fs keeps a bucket as a directory of its root.
    let dir = server.root.join(&name);
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("could not create bucket {name}: {e}"));
    TestBucket {
        endpoint: format!("http://127.0.0.1:{}", server.port),
        region: REGION,
        access_key: ACCESS_KEY,
        secret_key: SECRET_KEY,
        name,
        dir,
    }
}

fn binary() -> PathBuf {
    std::env::var_os("IMAGEDESK_S3S_FS").map_or_else(|| PathBuf::from("s3s-fs"), PathBuf::from)
}

const SHELL: &str = r#"
"$S3_BIN" --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS" --secret-key "$S3_SECRET" \
  "$S3_ROOT" >"$S3_LOG" 2>&1 &
pid=$!
read -r _ || true
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$S3_ROOT" "$S3_LOG"
"#;

fn start_server() -> Server {
    let bin = binary();
    let mut last_error = String::new();
    for _ in 0..3 {
        let root = tempfile::Builder::new()
            .prefix("imagedesk-s3-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        let log = root.with_extension("log");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free loopback port");
        let mut shell = Command::new("sh")
            .args(["-c", SHELL])
            .env("S3_BIN", &bin)
            .env("S3_PORT", port.to_string())
            .env("S3_ACCESS", ACCESS_KEY)
            .env("S3_SECRET", SECRET_KEY)
            .env("S3_ROOT", &root)
            .env("S3_LOG", &log)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("could not start sh");
        let lifeline = shell.stdin.take().expect("a piped stdin");
        let server = Server {
            port,
            root,
            _lifeline: Mutex::new(lifeline),
            _shell: Mutex::new(shell),
        };
        let started = Instant::now();
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                return server;
            }
            if started.elapsed() > START_LIMIT {
                let said = std::fs::read_to_string(&log).unwrap_or_default();
                last_error = format!(
                    "{} did not listen on port {port} within {START_LIMIT:?} \
                     (.ci/run builds it; or set IMAGEDESK_S3S_FS): {said}",
                    bin.display()
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let Server {
            _lifeline, _shell, ..
        } = server;
        if let Ok(mut pipe) = _lifeline.into_inner() {
            let _ = pipe.write_all(b"\n");
        }
        if let Ok(mut shell) = _shell.into_inner() {
            let _ = shell.wait();
        }
    }
    panic!("the test S3 server did not start: {last_error}");
}
