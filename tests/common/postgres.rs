//! A real PostgreSQL server for tests: one throw-away cluster per test process, started on first
//! use on a free loopback port, and a fresh empty database per call of [`database`].
//!
//! The cluster lives in a temporary directory and runs as an unprivileged user (`nobody` when
//! the tests run as root: PostgreSQL refuses to run as root). It is started by a small shell
//! that holds this process's end of a pipe: when the test process exits, however it exits, the
//! shell reads end-of-file, stops the server and removes the directory, so no cluster outlives
//! its tests.
//!
//! The binaries come from `IMAGEDESK_PG_BIN` or the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package, which `.ci/run` installs).
//!
//! Only `std` and `tempfile`, so that unit tests inside `src/` can include this file too
//! (`#[path = "../../tests/common/postgres.rs"]`).

#![allow(dead_code)]

use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The user the cluster runs as when the tests run as root.
const UNPRIVILEGED_USER: &str = "nobody";

/// How long a cluster may take to accept connections.
const START_LIMIT: Duration = Duration::from_secs(60);

struct Cluster {
    port: u16,
    bin: PathBuf,
    /// Held for the life of the process: its closing stops the cluster.
    _lifeline: Mutex<ChildStdin>,
    _shell: Mutex<Child>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// The URL of a fresh, empty database on the test cluster (started on first use). Blocks for
/// the few milliseconds `CREATE DATABASE` takes (the first call: a second or two).
pub fn database() -> String {
    let cluster = CLUSTER.get_or_init(start_cluster);
    let name = format!(
        "imagedesk_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::SeqCst)
    );
    psql(cluster, &format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("could not create the test database {name}: {e}"));
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

/// Runs one SQL statement as the superuser on the `postgres` database.
fn psql(cluster: &Cluster, sql: &str) -> Result<(), String> {
    let out = Command::new(cluster.bin.join("psql"))
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .args(["-p", &cluster.port.to_string(), "-d", "postgres", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("IMAGEDESK_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).unwrap_or_else(|| {
        panic!(
            "PostgreSQL is not installed: no /usr/lib/postgresql/*/bin/postgres \
             (`apt-get install postgresql`, as .ci/run does, or set IMAGEDESK_PG_BIN)"
        )
    })
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| out.stdout.trim_ascii() == b"0")
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}

/// The shell that owns the cluster: creates it, runs it, and on end-of-file on its standard
/// input stops it and removes its directory.
const SHELL: &str = r#"
set -e
"$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1
"$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" -c listen_addresses=127.0.0.1 \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 \
  >"$PG_DIR/server.log" 2>&1 &
pid=$!
read -r _ || true
kill -INT "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -rf "$PG_DIR"
"#;

fn start_cluster() -> Cluster {
    let bin = binaries();
    let as_root = running_as_root();
    let mut last_error = String::new();
    // A port found free may be taken before the server binds it: try a few.
    for _ in 0..3 {
        let dir = tempfile::Builder::new()
            .prefix("imagedesk-pg-")
            .tempdir()
            .expect("a temporary directory")
            .keep();
        if as_root {
            give_to_unprivileged_user(&dir);
        }
        let port = free_port();
        let mut command = if as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", UNPRIVILEGED_USER, "--", "sh", "-c", SHELL]);
            c
        } else {
            let mut c = Command::new("sh");
            c.args(["-c", SHELL]);
            c
        };
        let mut shell = command
            .env("PG_BIN", &bin)
            .env("PG_DIR", &dir)
            .env("PG_PORT", port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("could not start the PostgreSQL shell (sh, runuser)");
        let lifeline = shell.stdin.take().expect("a piped stdin");
        let cluster = Cluster {
            port,
            bin: bin.clone(),
            _lifeline: Mutex::new(lifeline),
            _shell: Mutex::new(shell),
        };
        match wait_until_ready(&cluster, &dir) {
            Ok(()) => return cluster,
            Err(e) => {
                last_error = e;
                stop(cluster);
            }
        }
    }
    panic!("the test PostgreSQL cluster did not start: {last_error}");
}

fn give_to_unprivileged_user(dir: &Path) {
    let status = Command::new("chown")
        .args([UNPRIVILEGED_USER, dir.to_str().expect("a UTF-8 temp path")])
        .status()
        .expect("chown");
    assert!(
        status.success(),
        "could not give {dir:?} to {UNPRIVILEGED_USER}"
    );
}

fn wait_until_ready(cluster: &Cluster, dir: &Path) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match psql(cluster, "SELECT 1") {
            Ok(()) => return Ok(()),
            Err(e) if started.elapsed() > START_LIMIT => {
                let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
                let init = std::fs::read_to_string(dir.join("initdb.log")).unwrap_or_default();
                return Err(format!("{e}\ninitdb:\n{init}\nserver:\n{log}"));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Stops a cluster that never became ready (closing the lifeline makes the shell clean up).
fn stop(cluster: Cluster) {
    let Cluster {
        _lifeline, _shell, ..
    } = cluster;
    if let Ok(mut pipe) = _lifeline.into_inner() {
        let _ = pipe.write_all(b"\n");
    }
    if let Ok(mut shell) = _shell.into_inner() {
        let _ = shell.wait();
    }
}
