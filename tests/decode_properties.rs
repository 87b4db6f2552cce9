//! Mutated images against the decoder: whatever the bytes, `make_variants` returns (an image
//! or an error) without panicking, within a time bound, and without allocating more than the
//! per-upload bound. Allocation is measured by a counting global allocator, which is why this
//! file holds one property test only (tests of one binary run in parallel threads).

use std::io::Cursor;
use std::time::{Duration, Instant};

use image::DynamicImage;
use imagedesk::imaging::{self, MAX_DECODE_BYTES, VARIANT_BOXES, synthetic};
use proptest::prelude::*;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::peak_of;

/// Time for one mutated small image, debug build: decoding and four encodes of a 48×32
/// picture take milliseconds; a mutation that makes a decoder loop or grind shows up here.
const CASE_TIME: Duration = Duration::from_secs(5);

fn encoded(image: &DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encodes");
    out.into_inner()
}

/// Small valid files of every accepted format (and the two JPEG kinds), the seeds of mutation.
fn seeds() -> Vec<Vec<u8>> {
    let photo = synthetic::photo(48, 32, 11);
    let cutout = DynamicImage::ImageRgba8(synthetic::cutout(48, 32, 12));
    let rgb = DynamicImage::ImageRgb8(photo.clone());
    vec![
        synthetic::jpeg(&photo, 80, false, Some(6)),
        synthetic::jpeg(&photo, 80, true, None),
        synthetic::png(&cutout),
        encoded(&rgb, image::ImageFormat::Gif),
        encoded(&cutout, image::ImageFormat::WebP),
        encoded(&rgb, image::ImageFormat::Bmp),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        at: usize,
        bit: u8,
    },
    SetByte {
        at: usize,
        value: u8,
    },
    Truncate {
        at: usize,
    },
    /// Copies `len` bytes from `from` and inserts them at `to` (repeats a chunk or a segment).
    Duplicate {
        from: usize,
        len: usize,
        to: usize,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
        1 => any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        2 => (any::<usize>(), 1usize..512, any::<usize>())
            .prop_map(|(from, len, to)| Mutation::Duplicate { from, len, to }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *mutation {
        Mutation::FlipBit { at, bit } => bytes[at % n] ^= 1 << bit,
        Mutation::SetByte { at, value } => bytes[at % n] = value,
        Mutation::Truncate { at } => bytes.truncate(at % n),
        Mutation::Duplicate { from, len, to } => {
            let from = from % n;
            let chunk = bytes[from..(from + len).min(n)].to_vec();
            let to = to % (n + 1);
            bytes.splice(to..to, chunk);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn mutated_images_are_decoded_or_refused_within_bounds(
        seed in 0usize..6,
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[seed].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let boxes = VARIANT_BOXES.map(|(_, b)| b);
        let started = Instant::now();
        let (result, peak) = peak_of(|| imaging::make_variants(&bytes, &boxes));
        let took = started.elapsed();
        prop_assert!(took < CASE_TIME, "took {took:?}: {result:?}");
        prop_assert!(peak as u64 <= MAX_DECODE_BYTES, "allocated {peak} bytes");
        if let Ok(processed) = result {
            prop_assert_eq!(processed.variants.len(), boxes.len());
        }
    }
}
