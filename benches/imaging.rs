//! In-process image work, each beside its reference in the same run (criterion):
//!
//! - `tile_decode`: a 256 px JPEG tile, as the store serves it, decoded to RGBA for a texture —
//!   imagedesk's `decode_tile_rgba` against libjpeg-turbo (TurboJPEG, Debian's libturbojpeg).
//! - `upload_variants`: the server's work on a 6000×4000 upload — all four variants from one
//!   DCT-scaled decode — against the zoom variant alone (the 1280 px box `vipsthumbnail -s 1280`
//!   makes; the whole-process comparison with vipsthumbnail itself is in `scripts/bench.sh`).
//!
//! Run: `cargo bench --bench imaging` (needs `libturbojpeg0-dev` and `pkg-config`). Medians are
//! in `target/criterion/<group>/<name>/new/estimates.json`; `scripts/bench.sh` reads them.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use imagedesk::imaging::{self, BoxSize, VARIANT_BOXES, synthetic};

/// A 256×171 tile made the way the store makes its variants (our encoder, quality 85) from a
/// synthetic photograph.
fn tile_jpeg() -> Vec<u8> {
    let photo = synthetic::photo(1536, 1024, 11);
    let original = synthetic::jpeg(&photo, 92, false, None);
    let processed =
        imaging::make_variants(&original, &[BoxSize::square(256)]).expect("tile variant");
    processed
        .variants
        .into_iter()
        .next()
        .expect("one variant")
        .bytes
}

/// Paired, interleaved timing of `a` against `b`: rounds of `batch` calls of each, the order
/// alternating, so that the machine's drift (a noisy neighbour, a frequency change) hits both
/// alike. Returns the medians of the per-call times (µs) and of the per-round ratios a / b.
fn interleaved(a: &dyn Fn(), b: &dyn Fn(), rounds: usize, batch: usize) -> (f64, f64, f64) {
    let time = |f: &dyn Fn()| {
        let started = std::time::Instant::now();
        for _ in 0..batch {
            f();
        }
        started.elapsed().as_secs_f64() * 1e6 / batch as f64
    };
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (x, y) = if round % 2 == 0 {
            let x = time(a);
            (x, time(b))
        } else {
            let y = time(b);
            (time(a), y)
        };
        ta.push(x);
        tb.push(y);
        ratios.push(x / y);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(ta), median(tb), median(ratios))
}

fn tile_decode(c: &mut Criterion) {
    let tile = tile_jpeg();
    let ours = imaging::decode_tile_rgba(&tile, 256).expect("ours decodes");
    let turbo: turbojpeg::Image<Vec<u8>> =
        turbojpeg::decompress(&tile, turbojpeg::PixelFormat::RGBA).expect("turbojpeg decodes");
    assert_eq!((ours.width, ours.height), (256, 171));
    assert_eq!((turbo.width as u32, turbo.height as u32), (256, 171));
    assert_eq!(ours.channels, 4);
    // Both decoders must agree on the picture (IDCT and upsampling differ by a few levels).
    let mean_diff = ours
        .pixels
        .iter()
        .zip(&turbo.pixels)
        .map(|(a, b)| f64::from(a.abs_diff(*b)))
        .sum::<f64>()
        / ours.pixels.len() as f64;
    assert!(
        mean_diff < 3.0,
        "decoders disagree: mean difference {mean_diff}"
    );

    let ours = || {
        black_box(imaging::decode_tile_rgba(black_box(&tile), 256).expect("decode"));
    };
    let turbo = || {
        let image: turbojpeg::Image<Vec<u8>> =
            turbojpeg::decompress(black_box(&tile), turbojpeg::PixelFormat::RGBA).expect("decode");
        black_box(image);
    };
    let (ours_us, turbo_us, ratio) = interleaved(&ours, &turbo, 201, 50);
    println!(
        "tile_decode interleaved (201 rounds × 50 decodes each): imagedesk {ours_us:.1} µs, \
         libjpeg-turbo {turbo_us:.1} µs, median ratio {ratio:.2}"
    );

    let mut group = c.benchmark_group("tile_decode");
    group.bench_function("imagedesk", |b| {
        b.iter(|| imaging::decode_tile_rgba(black_box(&tile), 256).expect("decode"))
    });
    group.bench_function("libjpeg-turbo", |b| {
        b.iter(|| {
            let image: turbojpeg::Image<Vec<u8>> =
                turbojpeg::decompress(black_box(&tile), turbojpeg::PixelFormat::RGBA)
                    .expect("decode");
            image
        })
    });
    group.finish();
}

fn upload_variants(c: &mut Criterion) {
    let photo = synthetic::photo(6000, 4000, 42);
    let original = synthetic::jpeg(&photo, 85, false, None);
    drop(photo);
    let boxes: Vec<BoxSize> = VARIANT_BOXES.iter().map(|(_, b)| *b).collect();

    let all_four = || {
        black_box(imaging::make_variants(black_box(&original), &boxes).expect("variants"));
    };
    let zoom_only = || {
        black_box(imaging::make_variants(black_box(&original), &boxes[..1]).expect("zoom"));
    };
    let (all_ms, zoom_ms, ratio) = interleaved(&all_four, &zoom_only, 21, 1);
    println!(
        "upload_variants interleaved (21 rounds): all four {:.1} ms, zoom only {:.1} ms, \
         median ratio {ratio:.2}",
        all_ms / 1e3,
        zoom_ms / 1e3
    );

    let mut group = c.benchmark_group("upload_variants");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("all four", |b| {
        b.iter(|| imaging::make_variants(black_box(&original), &boxes).expect("variants"))
    });
    group.bench_function("zoom only", |b| {
        b.iter(|| imaging::make_variants(black_box(&original), &boxes[..1]).expect("zoom"))
    });
    group.finish();
}

criterion_group!(benches, tile_decode, upload_variants);
criterion_main!(benches);
