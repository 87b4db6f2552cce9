//! The upload limits of issue 14, measured (`cargo bench --bench upload_limits`): how long a
//! JPEG at the scan cap takes to decode, against the same picture with its own scans. With
//! `UPLOAD_RSS_FILES=DIR` it instead writes the worst-case uploads that
//! `scripts/upload_rss.sh` sends to a release server, one upload per core, to read its peak RSS.

use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use imagedesk::imaging::{self, BoxSize, bombs, synthetic};

fn main() {
    match std::env::var_os("UPLOAD_RSS_FILES") {
        Some(dir) => write_upload_rss_files(Path::new(&dir)),
        None => time_at_the_scan_cap(),
    }
}

/// Side of the largest square image accepted: 7071² = 49,999,041 pixels.
const MAX_SIDE: u32 = 7071;

/// Writes the worst-case uploads that `scripts/upload_rss.sh` sends to a release server.
fn write_upload_rss_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let side = MAX_SIDE;
    let gradient = |channels: usize| -> Vec<u8> {
        let mut pixels = vec![0u8; side as usize * side as usize * channels];
        for (i, px) in pixels.chunks_exact_mut(channels).enumerate() {
            let (x, y) = (i as u32 % side, i as u32 / side);
            px[0] = (x / 28) as u8;
            px[1] = (y / 28) as u8;
            if channels > 2 {
                px[2] = ((x + y) / 56) as u8;
            }
            if channels > 3 {
                px[3] = 255;
            }
        }
        pixels
    };
    let write = |name: &str, bytes: Vec<u8>| {
        println!("{name}: {} bytes", bytes.len());
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let rgb = gradient(3);
    for (name, progressive, sampling) in [
        (
            "jpeg-444-progressive.jpg",
            true,
            jpeg_encoder::SamplingFactor::R_4_4_4,
        ),
        (
            "jpeg-420-baseline.jpg",
            false,
            jpeg_encoder::SamplingFactor::R_4_2_0,
        ),
    ] {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 75);
        encoder.set_progressive(progressive);
        encoder.set_sampling_factor(sampling);
        encoder
            .encode(&rgb, side as u16, side as u16, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        write(name, out);
    }
    let png_of = |color: png::ColorType, depth: png::BitDepth, channels: usize| {
        let samples = gradient(channels);
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, side, side);
            encoder.set_color(color);
            encoder.set_depth(depth);
            encoder.set_compression(png::Compression::Fast);
            let mut writer = encoder.write_header().unwrap();
            let mut stream = writer.stream_writer().unwrap();
            for row in samples.chunks_exact(side as usize * channels) {
                if depth == png::BitDepth::Sixteen {
                    let wide: Vec<u8> = row.iter().flat_map(|&s| [s, 0]).collect();
                    stream.write_all(&wide).unwrap();
                } else {
                    stream.write_all(row).unwrap();
                }
            }
            stream.finish().unwrap();
        }
        out
    };
    write(
        "png-rgba8.png",
        png_of(png::ColorType::Rgba, png::BitDepth::Eight, 4),
    );
    write(
        "png-rgba16.png",
        png_of(png::ColorType::Rgba, png::BitDepth::Sixteen, 4),
    );
    write(
        "png-grey-alpha16.png",
        png_of(png::ColorType::GrayscaleAlpha, png::BitDepth::Sixteen, 2),
    );
    write("png-iccp-500mb.png", bombs::png_with_iccp(500_000_000));
    write("gif-frame-9000.gif", bombs::gif_frame_outside_screen(9000));
    let mut gif = Vec::new();
    {
        let mut encoder = gif::Encoder::new(
            &mut gif,
            side as u16,
            side as u16,
            &[0, 0, 0, 255, 255, 255],
        )
        .unwrap();
        let indices: Vec<u8> = (0..side * side)
            .map(|i| ((i % side) / 64 % 2) as u8)
            .collect();
        let frame = gif::Frame {
            width: side as u16,
            height: side as u16,
            buffer: std::borrow::Cow::Owned(indices),
            ..gif::Frame::default()
        };
        encoder.write_frame(&frame).unwrap();
    }
    write("gif-screen-50mp.gif", gif);
    let mut webp = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp)
        .encode(&gradient(4), side, side, image::ExtendedColorType::Rgba8)
        .unwrap();
    write("webp-rgba-50mp.webp", webp);
    let progressive = synthetic::jpeg(&synthetic::photo(64, 64, 3), 85, true, None);
    write(
        "jpeg-5000-scans.jpg",
        bombs::jpeg_with_repeated_scans(&progressive, 5000),
    );
}

/// The worst case the scan cap allows, measured: a 50 MP progressive JPEG with its last scan
/// repeated up to `MAX_JPEG_SCANS`, beside the same picture as encoded (the reference).
fn time_at_the_scan_cap() {
    let side = std::env::var("SCAN_CAP_SIDE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7000u32);
    let image = image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([(x ^ y) as u8, (x / 7) as u8, (y / 5) as u8])
    });
    let progressive = synthetic::jpeg(&image, 85, true, None);
    let scans = count_scans(&progressive);
    let boxes = [BoxSize::new(1280, 1280)];
    let time = |bytes: &[u8]| {
        let started = Instant::now();
        let result = imaging::make_variants(bytes, &boxes);
        (
            started.elapsed(),
            result.map(|_| ()).map_err(|e| e.to_string()),
        )
    };
    println!(
        "{side}×{side}, {} bytes, {scans} scans: {:?}",
        progressive.len(),
        time(&progressive)
    );
    for total in [20u32, 50, imaging::MAX_JPEG_SCANS] {
        let bomb = bombs::jpeg_with_repeated_scans(&progressive, (total - scans) as usize);
        println!("{total} scans, {} bytes: {:?}", bomb.len(), time(&bomb));
    }
    let over = bombs::jpeg_with_repeated_scans(&progressive, 5000);
    println!("5000 more scans: {:?}", time(&over));
}

fn count_scans(jpeg: &[u8]) -> u32 {
    imaging::jpeg_layout(jpeg).expect("a JPEG").scans
}
