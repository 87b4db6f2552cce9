//! Files served from a bucket are streamed (issue 18, as issue 14 for files on disk): a client
//! that stops reading holds a chunk or two of its download in the store, not the object. A file
//! of its own, so that the memory measured is this test's alone.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use imagedesk::server::{FilesAt, S3Location, ServerLimits};
use object_store::ObjectStore as _;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes()
}

/// The head and the `Content-Length` bytes of the body.
async fn read_response(stream: &mut TcpStream) -> (String, usize) {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
            .await
            .expect("a response head within 10 s")
            .unwrap();
        assert_eq!(n, 1, "closed before a whole head");
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut left = length;
    let mut chunk = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = stream
            .read(&mut chunk[..left.min(64 * 1024)])
            .await
            .unwrap();
        assert!(n > 0, "closed with {left} bytes to go");
        left -= n;
    }
    (head, length)
}

/// A client whose receive buffer is small, so that the store cannot park the file in the
/// kernel.
async fn stingy_client(addr: std::net::SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_downloads_from_a_bucket_hold_little_memory() {
    const STALLED: usize = 100;
    const LEN: usize = 8 << 20;
    let bucket = common::s3::bucket();
    let store = start_with(|config| {
        config.files = FilesAt::S3(S3Location {
            bucket: bucket.name.clone(),
            prefix: "p".into(),
        });
        config.s3 = common::nodes::bucket_settings(&bucket);
        config.limits = ServerLimits {
            request_head: Duration::from_secs(30),
            write: Duration::from_secs(30),
            max_connections: 300,
            max_connections_per_ip: 300,
            ..ServerLimits::default()
        };
    })
    .await;
    // An original where the store finds `/product_images/big.jpg` (no record needed to serve).
    {
        let client = AmazonS3Builder::new()
            .with_bucket_name(&bucket.name)
            .with_region(bucket.region)
            .with_endpoint(&bucket.endpoint)
            .with_allow_http(true)
            .with_access_key_id(bucket.access_key)
            .with_secret_access_key(bucket.secret_key)
            .build()
            .unwrap();
        let bytes: Vec<u8> = (0..LEN).map(|i| (i % 251) as u8).collect();
        client
            .put(
                &ObjectPath::from("p/product_images/big.jpg"),
                Bytes::from(bytes).into(),
            )
            .await
            .unwrap();
    }
    let addr = store.server.addr();
    // One whole download first, so that the code paths and connections are warm.
    let mut warm = TcpStream::connect(addr).await.unwrap();
    warm.write_all(&get("/product_images/big.jpg"))
        .await
        .unwrap();
    let (head, length) = read_response(&mut warm).await;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(length, LEN);
    let before = rss_kib();
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let mut stream = stingy_client(addr).await;
        stream
            .write_all(&get("/product_images/big.jpg"))
            .await
            .unwrap();
        stalled.push(stream);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // They are being answered (the head came), and none is read further.
    for stream in stalled.iter_mut().step_by(25) {
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await.unwrap();
        assert_eq!(&status, b"HTTP/1.1 200");
    }
    let started = Instant::now();
    let health = reqwest::get(store.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    // Buffered whole, 100 × 8 MiB is 800 MiB; streamed, each holds what hyper buffers on
    // either side of the store.
    eprintln!("{STALLED} stalled downloads of {LEN} bytes from the bucket: RSS +{grown_mib} MiB");
    assert!(
        grown_mib < 160,
        "{STALLED} stalled downloads grew the RSS by {grown_mib} MiB"
    );
}
