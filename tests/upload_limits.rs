//! Issue 14's upload findings against the real server on loopback: the JPEG scan bomb, a GIF
//! frame larger than its screen, the iCCP and 16-bit PNG memory bombs, and abandoned uploads.
//! Memory is measured by a counting global allocator (the server runs in this process), so the
//! tests of this file run one at a time.

mod common;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use imagedesk::api::{ImageWrite, UploadSource};
use imagedesk::imaging::{MAX_DECODE_BYTES, MAX_JPEG_SCANS, bombs, synthetic};

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

/// One test at a time: the allocation peaks are process-wide.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What a server and its upload may allocate above the decode bound: the request body, the
/// original's copies in flight, the variants, connection buffers.
const SLACK: usize = 48 << 20;

fn source(name: &str, bytes: Vec<u8>) -> UploadSource {
    UploadSource::Bytes {
        file_name: name.into(),
        bytes: Bytes::from(bytes),
    }
}

/// Uploads `bytes`; the HTTP status (201 as `Ok`), the error's text, and the peak of bytes
/// allocated meanwhile above what was allocated before.
async fn upload_measured(
    store: &TestStore,
    product: i64,
    name: &str,
    bytes: Vec<u8>,
) -> (Result<(), (Option<u16>, String)>, usize) {
    let upload = source(name, bytes);
    let base = counting_alloc::start_peak();
    let result = store
        .client
        .upload_image(product, &upload, &ImageWrite::default(), None, None)
        .await
        .map(|_| ())
        .map_err(|e| (e.status(), e.to_string()));
    let peak = counting_alloc::peak_since(base);
    println!(
        "{name}: {result:?}, peak {:.1} MiB",
        peak as f64 / 1048576.0
    );
    (result, peak)
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_under(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

#[tokio::test]
async fn a_jpeg_of_too_many_scans_is_a_400_naming_the_cap() {
    let _serial = SERIAL.lock().await;
    let store = start().await;
    let product = store.product("Scans").await;
    let progressive = synthetic::jpeg(&synthetic::photo(64, 64, 3), 85, true, None);
    let bomb = bombs::jpeg_with_repeated_scans(&progressive, 5000);
    let started = Instant::now();
    let (result, _) = upload_measured(&store, product, "bomb.jpg", bomb).await;
    let (status, message) = result.expect_err("refused");
    assert_eq!(status, Some(400), "{message}");
    assert!(
        message.contains(&format!("at most {MAX_JPEG_SCANS} are accepted")),
        "{message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(store.images(product).await.is_empty());
    // At the cap, a file is still accepted.
    let scans = imagedesk::imaging::jpeg_layout(&progressive).unwrap().scans;
    let at_cap = bombs::jpeg_with_repeated_scans(&progressive, (MAX_JPEG_SCANS - scans) as usize);
    let (result, _) = upload_measured(&store, product, "cap.jpg", at_cap).await;
    result.expect("a file at the cap is accepted");
}

#[tokio::test]
async fn a_gif_frame_larger_than_its_screen_is_a_400() {
    let _serial = SERIAL.lock().await;
    let store = start().await;
    let product = store.product("Gif").await;
    let bomb = bombs::gif_frame_outside_screen(4000);
    let (result, peak) = upload_measured(&store, product, "bomb.gif", bomb).await;
    let (status, message) = result.expect_err("refused");
    assert_eq!(status, Some(400), "{message}");
    assert!(peak < SLACK, "a refused frame allocated {peak} bytes");
    assert!(store.images(product).await.is_empty());
}

#[tokio::test]
async fn an_iccp_bomb_is_not_inflated() {
    let _serial = SERIAL.lock().await;
    let store = start().await;
    let product = store.product("Iccp").await;
    // 300 MB of profile in a 1.9 MB file: under the image crate's own default limit of
    // 512 MiB, so only our bound stops it.
    let bomb = bombs::png_with_iccp(300_000_000);
    assert!(bomb.len() < imagedesk::imaging::MAX_FILE_BYTES);
    let (result, peak) = upload_measured(&store, product, "bomb.png", bomb).await;
    result.expect("the pixels are fine; the profile is skipped unread");
    assert!(peak < SLACK, "the upload allocated {peak} bytes");
}

/// A 16-bit RGB PNG of `side`×`side` black pixels, written row by row (a 49 MP one is 294 MB
/// of samples, which need not all be in memory).
fn sixteen_bit_png(side: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, side, side);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Sixteen);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().unwrap();
        let mut stream = writer.stream_writer().unwrap();
        let row = vec![0u8; side as usize * 6];
        for _ in 0..side {
            stream.write_all(&row).unwrap();
        }
        stream.finish().unwrap();
    }
    out
}

#[tokio::test]
async fn a_sixteen_bit_png_of_49_mp_stays_within_the_decode_bound() {
    let _serial = SERIAL.lock().await;
    let store = start().await;
    let product = store.product("Deep").await;
    let file = sixteen_bit_png(7000);
    let (result, peak) = upload_measured(&store, product, "deep.png", file).await;
    result.expect("accepted");
    // Decoding to 16 bits and converting needed 12 bytes a pixel (588 MB); stripped in the
    // decoder it is one 8-bit RGB frame (147 MB) and the resize's scratch.
    assert!(
        (peak as u64) < MAX_DECODE_BYTES,
        "the upload allocated {peak} bytes"
    );
}

/// A progressive JPEG whose decoding takes seconds: `side`² pixels and scans up to the cap.
fn slow_jpeg(side: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..side * side)
        .flat_map(|i| {
            let (x, y) = (i % side, i / side);
            [(x ^ y) as u8, (x / 7) as u8, (y / 5) as u8]
        })
        .collect();
    let image = image::RgbImage::from_raw(side, side, pixels).unwrap();
    let progressive = synthetic::jpeg(&image, 85, true, None);
    let scans = imagedesk::imaging::jpeg_layout(&progressive).unwrap().scans;
    bombs::jpeg_with_repeated_scans(&progressive, (MAX_JPEG_SCANS - scans) as usize)
}

#[tokio::test]
async fn an_abandoned_upload_leaves_no_file_and_no_image() {
    let _serial = SERIAL.lock().await;
    let store = start().await;
    let product = store.product("Abandoned").await;
    let file = slow_jpeg(2500);
    // How long imaging takes here, from an upload that is not abandoned (then deleted).
    let started = Instant::now();
    let (result, _) = upload_measured(&store, product, "timed.jpg", file.clone()).await;
    result.expect("accepted");
    let imaging_time = started.elapsed();
    for image in store.images(product).await {
        store.client.delete_image(product, image.id).await.unwrap();
    }
    let content = store.data.path().join("images").join("content");
    assert!(files_under(&content).is_empty());
    // The same picture again with a comment segment after SOI (new bytes, so a new hash and a
    // fresh decode), sent over a raw connection that is closed while the server decodes.
    let mut file = file;
    let comment = [0xFF, 0xFE, 0x00, 0x04, b'x', b'y'];
    file.splice(2..2, comment);
    let boundary = "imagedesk-test-boundary";
    let mut body = Vec::new();
    write!(
        body,
        "--{boundary}\r\nContent-Disposition: form-data; name=\"image_file\"; filename=\"gone.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .unwrap();
    body.extend_from_slice(&file);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    let addr = store.server.addr();
    let mut head = Vec::new();
    write!(
        head,
        "POST /api/v3/catalog/products/{product}/images HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {TOKEN}\r\nAccept: application/json\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(&head).await.unwrap();
        stream.write_all(&body).await.unwrap();
        stream.flush().await.unwrap();
        // Well inside the imaging (which took `imaging_time` in full above), then gone.
        tokio::time::sleep(imaging_time / 4).await;
    }
    // Long enough for the abandoned work to have finished and written, had it gone on.
    tokio::time::sleep(imaging_time * 2 + Duration::from_secs(1)).await;
    assert!(store.images(product).await.is_empty());
    let left: Vec<_> = files_under(&content)
        .into_iter()
        .chain(files_under(&store.data.path().join("tmp")))
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}
