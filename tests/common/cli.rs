//! Shared by the store-command tests (tests/store_cli.rs, tests/store_cli_exits.rs): the real
//! binary run with a data directory of the test's own, and the product set-up both start from.

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::time::Duration;

use imagedesk::api::{ImageWrite, NewProduct};

use super::{TOKEN, TestStore};

/// How long one command may take before the test fails rather than hangs.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(90);

/// A data directory of its own (never the user's) and a replica directory.
pub struct Cli {
    pub data: tempfile::TempDir,
    /// The commands' `IMAGEDESK_LOG` filter: warnings only, unless a test wants to see more.
    pub log: &'static str,
}

impl Cli {
    pub fn new() -> Cli {
        Cli {
            data: tempfile::tempdir().unwrap(),
            log: "warn",
        }
    }

    pub fn replica(&self) -> PathBuf {
        self.data.path().join("replica")
    }

    /// Runs `imagedesk ARGS` with this data directory and the test token. A command that
    /// overruns [`COMMAND_LIMIT`] is killed and the test fails with what it had printed, so
    /// that a hang says where it was.
    pub async fn run(&self, args: &[&str]) -> Output {
        let mut command = tokio::process::Command::new(binary());
        command
            .args(args)
            .env("IMAGEDESK_DATA_DIR", self.data.path())
            .env("IMAGEDESK_TOKEN", TOKEN)
            .env_remove("IMAGEDESK_API")
            .env("IMAGEDESK_LOG", self.log)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let stdout = tokio::spawn(read_all(child.stdout.take().unwrap()));
        let stderr = tokio::spawn(read_all(child.stderr.take().unwrap()));
        let status = match tokio::time::timeout(COMMAND_LIMIT, child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => {
                child.kill().await.unwrap();
                let said = Output {
                    status: child.wait().await.unwrap(),
                    stdout: stdout.await.unwrap(),
                    stderr: stderr.await.unwrap(),
                };
                panic!(
                    "imagedesk {args:?} did not finish within {COMMAND_LIMIT:?}; it said:\n{}",
                    text(&said)
                );
            }
        };
        Output {
            status,
            stdout: stdout.await.unwrap(),
            stderr: stderr.await.unwrap(),
        }
    }

    /// Runs a store command on `api` with this test's replica.
    pub async fn on(&self, api: &str, args: &[&str]) -> Output {
        let replica = self.replica();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--api", api, "--replica-dir", replica.to_str().unwrap()]);
        self.run(&all).await
    }
}

/// The binary under test. `IMAGEDESK_BIN` may name cargo's hashed copy in `deps/`: where
/// several checkouts share one build directory, the uplifted `target/debug/imagedesk` is
/// whichever checkout linked last.
pub fn binary() -> PathBuf {
    std::env::var_os("IMAGEDESK_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_imagedesk")),
        PathBuf::from,
    )
}

async fn read_all(mut pipe: impl tokio::io::AsyncRead + Unpin) -> Vec<u8> {
    let mut bytes = Vec::new();
    // A pipe cut by the kill ends the read; what came before it is kept.
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut bytes).await;
    bytes
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

/// Everything a command said, with its status, for failure messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A product with `n` images (made from pictures in the import directory), and their ids.
pub async fn product_with_images(store: &TestStore, sku: &str, n: u64) -> (i64, Vec<i64>) {
    let product = store
        .client
        .create_product(&NewProduct {
            name: format!("Product {sku}"),
            sku: sku.into(),
        })
        .await
        .unwrap()
        .id;
    let mut ids = Vec::new();
    for i in 0..n {
        let path = store.import_jpeg(&format!("{sku}-{i}.jpg"), i + 1);
        let write = ImageWrite {
            image_file: Some(path),
            description: Some(format!("picture {i}")),
            ..ImageWrite::default()
        };
        ids.push(
            store
                .client
                .create_image(product, &write, None)
                .await
                .unwrap()
                .id,
        );
    }
    (product, ids)
}
