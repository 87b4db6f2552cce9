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
    // Plant an orphan as an interrupted write would leave it.
    let orphan = data.path().join("images/original/z/999/orphan__00000.jpg");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"x").unwrap();

    let (child, url) = spawn_serve(data.path(), &[]);
    let client = client_for(&format!("{url}/api/v2"));
    let images = client.list_all_images(product).await.unwrap();
    assert!(!images.is_empty(), "some uploads finished before the kill");
    assert_eq!(images.iter().filter(|i| i.is_thumbnail).count(), 1);
    let mut named = std::collections::HashSet::new();
    for image in &images {
        for kind in ["original", "zoom", "standard", "thumbnail", "tiny"] {
            let path = data
                .path()
                .join("images")
                .join(kind)
                .join(&image.image_file);
            assert!(path.is_file(), "{} is missing", path.display());
            named.insert(path);
        }
    }
    assert!(!orphan.exists(), "unreferenced files are removed at start");
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
