//! The real `imagedesk serve` binary: start-up line, demo seeding, graceful stop, and recovery
//! after SIGKILL in the middle of uploads.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use imagedesk::api::{ImageWrite, UploadSource};

fn spawn_serve(data_dir: &std::path::Path, extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("IMAGEDESK_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line}"))
        .to_owned();
    (child, url)
}

#[tokio::test]
async fn seed_demo_once_and_stop_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let (child, url) = spawn_serve(data.path(), &["--seed-demo"]);
    let client = client_for(&format!("{url}/api/v2"));
    let products = client.list_all_products().await.unwrap();
    assert!((5..=8).contains(&products.len()), "{}", products.len());
    let mut total = 0;
    for p in &products {
        let images = client.list_all_images(p.id).await.unwrap();
        assert!((3..=8).contains(&images.len()));
        assert_eq!(images.iter().filter(|i| i.is_thumbnail).count(), 1);
        total += images.len() as u64;
    }
    assert_eq!(client.count_store_images().await.unwrap(), total);
    let status = terminate(child);
    assert!(status.success(), "SIGTERM ends with status 0: {status:?}");

    // Seeding twice adds nothing.
    let (child, url) = spawn_serve(data.path(), &["--seed-demo"]);
    let client = client_for(&format!("{url}/api/v2"));
    assert_eq!(client.count_store_images().await.unwrap(), total);
    assert_eq!(
        client.list_all_products().await.unwrap().len(),
        products.len()
    );
    terminate(child);
}

#[tokio::test]
async fn sigterm_with_stalled_clients_exits_0_within_the_shutdown_deadline() {
    use tokio::io::AsyncWriteExt as _;
    let data = tempfile::tempdir().unwrap();
    let (child, url) = spawn_serve(data.path(), &["--shutdown-timeout", "1"]);
    let addr = url.trim_start_matches("http://").to_owned();
    // A request head that never ends, and a request body that never comes: both in flight.
    let mut half_head = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half_head
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut half_body = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v2/products HTTP/1.1\r\nHost: t\r\nX-Auth-Token: {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    half_body.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    // `terminate` allows 5 s: the 1 s deadline and the exit must fit in it.
    let status = terminate(child);
    assert!(status.success(), "SIGTERM ends with status 0: {status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    unsafe_kill(child.id(), "TERM");
    for _ in 0..100 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("the server did not stop on SIGTERM");
}

fn unsafe_kill(pid: u32, signal: &str) {
    Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
}

#[tokio::test]
async fn sigkill_during_uploads_leaves_a_consistent_store() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn_serve(data.path(), &[]);
    let client = client_for(&format!("{url}/api/v2"));
    let product = client
        .create_product(&imagedesk::api::NewProduct {
            name: "Crash".into(),
            sku: String::new(),
        })
        .await
        .unwrap()
        .id;
    let photo = imagedesk::imaging::synthetic::jpeg(
        &imagedesk::imaging::synthetic::photo(1600, 1200, 5),
        85,
        false,
        None,
    );
    let mut tasks = Vec::new();
    for worker in 0..4 {
        let client = client.clone();
        let photo = photo.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..50 {
                let source = UploadSource::Bytes {
                    file_name: format!("w{worker}.jpg"),
                    bytes: Bytes::from(photo.clone()),
                };
                if client
                    .upload_image(product, &source, &ImageWrite::default(), None, None)
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }));
    }
    // Kill once some uploads have landed, while the others are still in flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while client.count_images(product).await.unwrap() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    // Plant orphans as an interrupted write would leave them: in the legacy layout, and a
    // picture stored by content that no record commits to.
    let orphan = data.path().join("images/original/z/999/orphan__00000.jpg");
    let content_orphan = data
        .path()
        .join(format!("images/content/zoom/ff/{}.jpg", "f".repeat(64)));
    for path in [&orphan, &content_orphan] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"x").unwrap();
    }

    let (child, url) = spawn_serve(data.path(), &[]);
    let client = client_for(&format!("{url}/api/v2"));
    let images = client.list_all_images(product).await.unwrap();
    assert!(!images.is_empty(), "some uploads finished before the kill");
    assert_eq!(images.iter().filter(|i| i.is_thumbnail).count(), 1);
    // Every upload sent the same bytes: one picture stored by content, whose five files all
    // the records share.
    let hash = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&photo);
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let mut named = std::collections::HashSet::new();
    for kind in ["original", "zoom", "standard", "thumbnail", "tiny"] {
        let path = data
            .path()
            .join("images/content")
            .join(kind)
            .join(&hash[..2])
            .join(format!("{hash}.jpg"));
        assert!(
            path.is_file(),
            "{} is missing; there are {:?}",
            path.display(),
            snapshot(&data.path().join("images"))
                .keys()
                .collect::<Vec<_>>()
        );
        named.insert(path);
    }
    let served = reqwest::get(images[0].zoom_url.clone().unwrap())
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert!(!orphan.exists(), "unreferenced files are removed at start");
    assert!(!content_orphan.exists(), "so are unreferenced pictures");
    let mut stack = vec![data.path().join("images")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                assert!(
                    named.contains(&path),
                    "{} is named by no record",
                    path.display()
                );
            }
        }
    }
    assert_eq!(
        std::fs::read_dir(data.path().join("tmp")).unwrap().count(),
        0
    );
    terminate(child);
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.insert(path, bytes);
            }
        }
    }
    files
}

#[tokio::test]
async fn seed_synthetic_fills_an_empty_store_and_refuses_one_with_products() {
    let help = Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--seed-synthetic <PRODUCTS:IMAGES>"),
        "{help}"
    );

    let data = tempfile::tempdir().unwrap();
    let (child, url) = spawn_serve(data.path(), &["--seed-synthetic", "30:120"]);
    let client = client_for(&format!("{url}/api/v2"));
    assert_eq!(client.count_store_images().await.unwrap(), 120);
    assert_eq!(client.count_products().await.unwrap(), 30);
    assert!(terminate(child).success());

    let before = snapshot(data.path());
    let refused = Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .args(["--seed-synthetic", "50:500"])
        .env("IMAGEDESK_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("already has 30 products"), "{stderr}");
    assert!(refused.stdout.is_empty(), "it never listened");
    let after = snapshot(data.path());
    let changed: Vec<_> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
        .map(|(path, _)| path)
        .chain(before.keys().filter(|path| !after.contains_key(*path)))
        .collect();
    assert!(
        changed.is_empty(),
        "the refused store is untouched: {changed:?}"
    );

    // Impossible numbers are a usage error too.
    let bad = Command::new(env!("CARGO_BIN_EXE_imagedesk"))
        .args(["serve", "--data-dir"])
        .arg(data.path())
        .args(["--seed-synthetic", "2:5000"])
        .env("IMAGEDESK_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));

    let (child, url) = spawn_serve(data.path(), &[]);
    let client = client_for(&format!("{url}/api/v2"));
    assert_eq!(client.count_store_images().await.unwrap(), 120);
    assert_eq!(client.count_products().await.unwrap(), 30);
    terminate(child);
}
