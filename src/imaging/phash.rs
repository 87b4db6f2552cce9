//! Perceptual hashes: 64-bit fingerprints that stay (nearly) the same when a picture is
//! re-encoded or resized, so that the same picture uploaded twice to a product can be found.
//!
//! DCT pHash with colour: the picture is decoded small (through the same decoders and limits as
//! an upload), split into luma and two colour differences, and fitted into 32×32 with its shape
//! kept (a grey letterbox around it) by a convolution filter. 48 bits come from the 2-D DCT-II
//! of the luma: the 7×7 lowest frequencies without the DC term, each above their median or
//! not; they are the layout of light and dark, which JPEG quantisation and resampling barely
//! touch. 16 bits are thermometer codes of the subject's colour (the middle ninth).
//!
//! Why not the textbook grey 8×8 pHash: on the demo store's pictures (the same lit, striped
//! egg in different colours and shapes) it cannot tell different pictures from copies — the
//! closest two different pictures were 2 bits apart, as far as a picture from its own 1280 px
//! copy. Keeping the shape (portrait, square) and the subject's colour is what separates them.
//!
//! The hash is made from a small copy on purpose: the app already downloads each image's
//! thumbnail-size variant for its grid, so a hash costs no extra download, and an original and
//! its 256 px copy hash alike (the unit tests check it).

use fast_image_resize as fr;

use super::{BoxSize, DecodedImage, ImagingError, decode_to_fit, probe};

/// Side of the grey square the DCT is taken of.
const DCT_SIDE: usize = 32;
/// Side of the block of luma frequencies kept (its DC corner excepted: 48 bits).
const KEPT_SIDE: usize = 7;
/// Pictures are decoded to fit this box before being made 32×32: four times the DCT's side,
/// so the final filter sees every source pixel of a thumbnail, and a JPEG original is decoded
/// at 1/8 scale where it can be (cheap even for a 24 MP photo).
const DECODE_SIDE: u32 = 128;

/// Largest Hamming distance at which two hashes are taken for the same picture.
///
/// Chosen from the demo store's fifteen pictures (`tests::demo_copies_match_and_different_pictures_do_not`
/// measures them and prints the figures with `--nocapture`): each picture against seven
/// copies (JPEG quality 50 and 70; 50 % at q70; 1280 px at q85; 256 px at q60 and as PNG; the
/// store's own thumbnail variant, 220×290 box at q85):
///
/// - largest distance between a picture and one of its copies: **2** (photo-06 at q70);
/// - smallest distance between two different pictures, any copy of one against any copy of
///   the other: **4** (photo-02 and photo-08: both a blue, four-striped egg on cream in a
///   square frame); photo-01 and photo-04 (portrait, five stripes, blue and green; both in the
///   demo's tote bag) are 5 apart.
///
/// A survey outside the tests (not kept: 100 s in a debug build): 318 new pictures from the
/// demo's generator (`synthetic::photo`, seeds 15–120, 900×900, 900×675 and 675×900) against
/// the fifteen demo pictures; 12 came within 3 bits of one of them (4 %), 37 within 5. The
/// generator draws one scene (a lit, striped egg on a gradient), so a picture made by it for a
/// test may match a demo picture by chance: check the seed.
///
/// 3 sits between the two. The margin is thin because the demo's pictures are one synthetic
/// scene in different colours; real product shots of different views differ by 15 bits and
/// more (half the bits of two unrelated pictures). The grey-only pHash measured 2 and 2.
pub const SAME_PICTURE_MAX_DISTANCE: u32 = 3;

/// A 64-bit perceptual hash: bits 0..48 the luma layout, 48..56 and 56..64 the subject's blue
/// and red colour differences as thermometer codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerceptualHash(pub u64);

impl PerceptualHash {
    /// Bits in which the two hashes differ (0..=64).
    pub fn distance(&self, other: &PerceptualHash) -> u32 {
        (self.0 ^ other.0).count_ones()
    }

    /// Whether the two hashes are close enough to be the same picture, re-encoded or resized
    /// (see [`SAME_PICTURE_MAX_DISTANCE`]).
    pub fn is_same_picture(&self, other: &PerceptualHash) -> bool {
        self.distance(other) <= SAME_PICTURE_MAX_DISTANCE
    }

    /// The hash as SQLite stores it (an INTEGER is a signed 64-bit value; the bits are kept).
    pub fn to_i64(self) -> i64 {
        self.0 as i64
    }

    pub fn from_i64(value: i64) -> PerceptualHash {
        PerceptualHash(value as u64)
    }
}

impl std::fmt::Display for PerceptualHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The perceptual hash of an encoded picture (any accepted format), decoded under the same
/// size, scan and memory limits as an upload. CPU-bound: call it inside `spawn_blocking`.
pub fn perceptual_hash(bytes: &[u8]) -> Result<PerceptualHash, ImagingError> {
    let probe = probe(bytes)?;
    let decoded = decode_to_fit(bytes, probe, BoxSize::new(DECODE_SIDE, DECODE_SIDE))?;
    hash_decoded(&decoded)
}

/// The perceptual hash of decoded pixels (RGB or RGBA; transparent pixels count as white, the
/// background a cut-out is shown on).
pub fn hash_decoded(image: &DecodedImage) -> Result<PerceptualHash, ImagingError> {
    let planes = Planes::of(image)?;
    let luma = luma_bits_against_median(&low_frequencies(&planes.luma));
    let blue = thermometer(centre_mean(&planes.blue));
    let red = thermometer(centre_mean(&planes.red));
    Ok(PerceptualHash(
        luma | (blue << LUMA_BITS) | (red << (LUMA_BITS + COLOUR_STEPS.len() as u32)),
    ))
}

/// The picture as three 32×32 planes (Rec. 601 luma and the two colour differences, 0..=255
/// and -128..=127), fitted inside the square with its shape kept and the rest filled with
/// neutral grey: a portrait and a square shot of one object are not the same picture.
struct Planes {
    luma: Vec<f32>,
    blue: Vec<f32>,
    red: Vec<f32>,
}

/// The grey (luma) a letterbox is filled with; colour planes are filled with 0 (no colour).
const PAD_LUMA: f32 = 128.0;

impl Planes {
    fn of(image: &DecodedImage) -> Result<Planes, ImagingError> {
        let channels = usize::from(image.channels);
        if channels != 3 && channels != 4 {
            return Err(ImagingError::Decode(format!(
                "{channels} channels cannot be hashed"
            )));
        }
        let expected = image.width as usize * image.height as usize * channels;
        if image.width == 0 || image.height == 0 || image.pixels.len() != expected {
            return Err(ImagingError::Decode(
                "the picture has no pixels or a short buffer".into(),
            ));
        }
        let pixel_count = image.width as usize * image.height as usize;
        let (mut luma, mut blue, mut red) = (
            Vec::with_capacity(pixel_count),
            Vec::with_capacity(pixel_count),
            Vec::with_capacity(pixel_count),
        );
        for p in image.pixels.chunks_exact(channels) {
            let alpha = if channels == 4 {
                f32::from(p[3]) / 255.0
            } else {
                1.0
            };
            let [r, g, b] =
                [p[0], p[1], p[2]].map(|c| f32::from(c) * alpha + 255.0 * (1.0 - alpha));
            let y = 0.299 * r + 0.587 * g + 0.114 * b;
            luma.push(y);
            blue.push((b - y) * 0.564);
            red.push((r - y) * 0.713);
        }
        let side = DCT_SIDE as u32;
        let longest = f64::from(image.width.max(image.height));
        let fit =
            |s: u32| ((f64::from(s) * f64::from(side) / longest).round() as u32).clamp(1, side);
        let (w, h) = (fit(image.width), fit(image.height));
        let place = |plane: Vec<f32>, pad: f32| {
            let small = resize_plane(plane, image.width, image.height, w, h)?;
            Ok::<_, ImagingError>(letterbox(&small, w, h, pad))
        };
        Ok(Planes {
            luma: place(luma, PAD_LUMA)?,
            blue: place(blue, 0.0)?,
            red: place(red, 0.0)?,
        })
    }
}

/// Resizes one float plane with a Lanczos filter whose support widens with the reduction, so
/// that every source pixel counts.
fn resize_plane(
    plane: Vec<f32>,
    width: u32,
    height: u32,
    dst_w: u32,
    dst_h: u32,
) -> Result<Vec<f32>, ImagingError> {
    let resize_err = |e: &dyn std::fmt::Display| ImagingError::Resize(e.to_string());
    let bytes: Vec<u8> = plane.iter().flat_map(|v| v.to_ne_bytes()).collect();
    let src = fr::images::Image::from_vec_u8(width, height, bytes, fr::PixelType::F32)
        .map_err(|e| resize_err(&e))?;
    let mut dst = fr::images::Image::new(dst_w, dst_h, fr::PixelType::F32);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| resize_err(&e))?;
    Ok(dst
        .buffer()
        .chunks_exact(4)
        .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// `small` (w×h) centred on a 32×32 square of `pad`.
fn letterbox(small: &[f32], w: u32, h: u32, pad: f32) -> Vec<f32> {
    let (w, h) = (w as usize, h as usize);
    let (left, top) = ((DCT_SIDE - w) / 2, (DCT_SIDE - h) / 2);
    let mut square = vec![pad; DCT_SIDE * DCT_SIDE];
    for (y, row) in small.chunks_exact(w).enumerate() {
        let start = (top + y) * DCT_SIDE + left;
        square[start..start + w].copy_from_slice(row);
    }
    square
}

/// The 7×7 lowest frequencies of the 32×32 DCT-II of `plane` (row-major, `[v][u]`, v the
/// vertical frequency), computed separably: rows first, then columns, only as far as needed.
fn low_frequencies(plane: &[f32]) -> [[f64; KEPT_SIDE]; KEPT_SIDE] {
    let n = DCT_SIDE;
    let mut cosines = [[0.0f64; DCT_SIDE]; KEPT_SIDE];
    for (k, row) in cosines.iter_mut().enumerate() {
        for (x, c) in row.iter_mut().enumerate() {
            *c = (std::f64::consts::PI * (2 * x + 1) as f64 * k as f64 / (2 * n) as f64).cos();
        }
    }
    // Horizontal pass: each of the 32 rows to its 7 lowest frequencies.
    let mut rows = vec![[0.0f64; KEPT_SIDE]; n];
    for (y, out) in rows.iter_mut().enumerate() {
        let line = &plane[y * n..(y + 1) * n];
        for (u, value) in out.iter_mut().enumerate() {
            *value = line
                .iter()
                .zip(&cosines[u])
                .map(|(&g, &c)| f64::from(g) * c)
                .sum();
        }
    }
    // Vertical pass over those 7 columns.
    let mut block = [[0.0f64; KEPT_SIDE]; KEPT_SIDE];
    for (v, out_row) in block.iter_mut().enumerate() {
        for (u, value) in out_row.iter_mut().enumerate() {
            *value = rows
                .iter()
                .zip(&cosines[v])
                .map(|(row, &c)| row[u] * c)
                .sum();
        }
    }
    block
}

/// Luma coefficients smaller than this (on the 0..=255 scale, summed over 1,024 pixels) are
/// rounding noise: a flat picture's AC terms come out as ±1e-12, not 0, and would otherwise
/// give a hash that depends on the order of floating-point sums.
const NOISE: f64 = 1e-6;

/// Bits of the hash that describe the layout of light and dark: the 7×7 lowest frequencies
/// without the DC term.
const LUMA_BITS: u32 = (KEPT_SIDE * KEPT_SIDE - 1) as u32;

/// One bit per luma AC coefficient of the 7×7 lowest frequencies, row-major with the DC term
/// skipped: set when the coefficient is above the median of the 48.
fn luma_bits_against_median(block: &[[f64; KEPT_SIDE]; KEPT_SIDE]) -> u64 {
    let ac: Vec<f64> = block
        .iter()
        .flatten()
        .skip(1)
        .map(|&c| if c.abs() < NOISE { 0.0 } else { c })
        .collect();
    let mut sorted = ac.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    ac.iter()
        .enumerate()
        .filter(|(_, c)| **c > median)
        .fold(0u64, |acc, (i, _)| acc | (1 << i))
}

/// The mean of the middle ninth of a 32×32 plane (rows and columns 11..21): where a product
/// shot's subject is.
fn centre_mean(plane: &[f32]) -> f32 {
    let third = DCT_SIDE / 3;
    let (from, to) = (third, DCT_SIDE - third);
    let mut sum = 0.0;
    for row in plane.chunks_exact(DCT_SIDE).take(to).skip(from) {
        sum += row[from..to].iter().sum::<f32>();
    }
    sum / ((to - from) * (to - from)) as f32
}

/// Levels of a colour difference (-128..=127) at which the colour bits switch on, 12 apart.
const COLOUR_STEPS: [f32; 8] = [-42.0, -30.0, -18.0, -6.0, 6.0, 18.0, 30.0, 42.0];

/// A thermometer code of the subject's colour: one bit per step it is above. The Hamming
/// distance of two codes is the number of steps between the colours, so a re-encode (which
/// moves the mean colour by a fraction of a level) flips at most one bit, while a blue object
/// and a green one in the same place differ by several: light and dark alone cannot tell
/// colour variants of one product shot apart.
fn thermometer(value: f32) -> u64 {
    COLOUR_STEPS
        .iter()
        .enumerate()
        .filter(|(_, step)| value > **step)
        .fold(0u64, |acc, (i, _)| acc | (1 << i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::{VARIANT_BOXES, Variant, make_variants, synthetic};
    use image::{DynamicImage, imageops::FilterType};

    macro_rules! demo {
        ($($name:literal),* $(,)?) => {
            [$(($name, include_bytes!(concat!("../../assets/demo/", $name)) as &[u8])),*]
        };
    }

    /// Every picture of the demo store (`server::demo`), which are all different pictures.
    const DEMO: [(&str, &[u8]); 15] = demo![
        "photo-01.jpg",
        "photo-02.jpg",
        "photo-03.jpg",
        "photo-04.jpg",
        "photo-05.jpg",
        "photo-06.jpg",
        "photo-07.jpg",
        "photo-08.jpg",
        "photo-09.jpg",
        "photo-10.jpg",
        "photo-11.jpg",
        "photo-12.jpg",
        "photo-13.jpg",
        "photo-14.jpg",
        "cutout-01.png",
    ];

    fn hash(bytes: &[u8]) -> PerceptualHash {
        perceptual_hash(bytes).expect("a demo picture hashes")
    }

    /// JPEG at `quality`; transparency is flattened onto white, as a JPEG export does.
    fn jpeg(image: &DynamicImage, quality: u8) -> Vec<u8> {
        let rgba = image.to_rgba8();
        let flat = image::RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
            let p = rgba.get_pixel(x, y);
            let a = u16::from(p[3]);
            image::Rgb([0, 1, 2].map(|i| ((u16::from(p[i]) * a + 255 * (255 - a)) / 255) as u8))
        });
        synthetic::jpeg(&flat, quality, false, None)
    }

    /// The copies a shop owner may upload again: the name says what was done.
    fn altered_copies(bytes: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let image = image::load_from_memory(bytes).expect("demo picture decodes");
        let (w, h) = (image.width(), image.height());
        let longest = |side: u32| {
            let scale = f64::from(side) / f64::from(w.max(h));
            (
                (f64::from(w) * scale).round() as u32,
                (f64::from(h) * scale).round() as u32,
            )
        };
        let (w1280, h1280) = longest(1280);
        let (w256, h256) = longest(256);
        let thumbnail_box = VARIANT_BOXES
            .iter()
            .find(|(v, _)| *v == Variant::Thumbnail)
            .map(|(_, b)| *b)
            .expect("a thumbnail box");
        let store_thumbnail = make_variants(bytes, &[thumbnail_box])
            .expect("variants")
            .variants
            .remove(0)
            .bytes;
        vec![
            ("jpeg q50", jpeg(&image, 50)),
            ("jpeg q70", jpeg(&image, 70)),
            (
                "50% q70",
                jpeg(&image.resize_exact(w / 2, h / 2, FilterType::Triangle), 70),
            ),
            (
                "1280px q85",
                jpeg(
                    &image.resize_exact(w1280, h1280, FilterType::CatmullRom),
                    85,
                ),
            ),
            (
                "256px q60",
                jpeg(&image.resize_exact(w256, h256, FilterType::Lanczos3), 60),
            ),
            (
                "256px png",
                synthetic::png(&image.resize_exact(w256, h256, FilterType::Triangle)),
            ),
            ("store thumbnail", store_thumbnail),
        ]
    }

    /// Hashes of every demo picture and of its altered copies: `(picture, copies)`.
    fn demo_hashes() -> Vec<(PerceptualHash, Vec<(&'static str, PerceptualHash)>)> {
        DEMO.iter()
            .map(|(_, bytes)| {
                let copies = altered_copies(bytes)
                    .into_iter()
                    .map(|(what, copy)| (what, hash(&copy)))
                    .collect();
                (hash(bytes), copies)
            })
            .collect()
    }

    /// The figures behind [`SAME_PICTURE_MAX_DISTANCE`]: every copy of a picture matches it,
    /// and no copy of one demo picture matches any copy of another (originals included).
    /// `--nocapture` prints the largest and smallest distances.
    #[test]
    fn demo_copies_match_and_different_pictures_do_not() {
        let hashes = demo_hashes();
        let mut max_same = (0, "", "");
        for ((name, _), (original, copies)) in DEMO.iter().zip(&hashes) {
            for (what, copy) in copies {
                let d = original.distance(copy);
                println!("{name} vs {what}: {d}");
                if d > max_same.0 {
                    max_same = (d, name, what);
                }
            }
        }
        let all: Vec<Vec<PerceptualHash>> = hashes
            .iter()
            .map(|(o, copies)| {
                std::iter::once(*o)
                    .chain(copies.iter().map(|c| c.1))
                    .collect()
            })
            .collect();
        let mut min_different = (u32::MAX, "", "");
        let mut min_originals = u32::MAX;
        for i in 0..DEMO.len() {
            for j in i + 1..DEMO.len() {
                min_originals = min_originals.min(hashes[i].0.distance(&hashes[j].0));
                for a in &all[i] {
                    for b in &all[j] {
                        let d = a.distance(b);
                        if d < min_different.0 {
                            min_different = (d, DEMO[i].0, DEMO[j].0);
                        }
                    }
                }
            }
        }
        println!("max same-picture distance: {max_same:?}");
        println!("min different-picture distance (any copies): {min_different:?}");
        println!("min different-picture distance (originals): {min_originals}");
        assert!(
            max_same.0 <= SAME_PICTURE_MAX_DISTANCE,
            "a copy does not match: {max_same:?}"
        );
        assert!(
            min_different.0 > SAME_PICTURE_MAX_DISTANCE,
            "different pictures match: {min_different:?}"
        );
        for ((_, bytes), (original, _)) in DEMO.iter().zip(&hashes) {
            assert_eq!(hash(bytes), *original, "the same bytes hash the same");
        }
    }

    fn solid(rgb: [u8; 3], width: u32, height: u32) -> DecodedImage {
        DecodedImage {
            width,
            height,
            channels: 3,
            pixels: rgb.repeat((width * height) as usize),
            oriented_source: (width, height),
        }
    }

    /// Thermometer bits set for a colour difference of `value`: one per step below it.
    fn steps_below(value: f32) -> u64 {
        let below = COLOUR_STEPS.iter().filter(|s| value > **s).count();
        (1u64 << below) - 1
    }

    #[test]
    fn a_solid_picture_has_no_layout_bits_and_its_colour_in_the_colour_bits() {
        // A flat picture has no AC energy: every luma coefficient is 0, none is above the
        // median. Its colour differences are what Rec. 601 gives for the colour.
        for (rgb, size) in [([128, 128, 128], (40, 30)), ([255, 0, 0], (1, 1))] {
            let [r, g, b] = rgb.map(f32::from);
            let y = 0.299 * r + 0.587 * g + 0.114 * b;
            let expected = steps_below((b - y) * 0.564) << LUMA_BITS
                | steps_below((r - y) * 0.713) << (LUMA_BITS + 8);
            let hash = hash_decoded(&solid(rgb, size.0, size.1)).expect("hashes");
            assert_eq!(hash, PerceptualHash(expected), "{rgb:?}");
        }
        // Grey sits between the steps at -6 and 6: the four lowest of each code.
        assert_eq!(
            hash_decoded(&solid([200, 200, 200], 8, 8))
                .expect("hashes")
                .0,
            0x0F0F << 48
        );
    }

    #[test]
    fn a_picture_and_its_mirror_image_are_different_pictures() {
        let photo = synthetic::photo(400, 300, 5);
        let mirrored = image::imageops::flip_horizontal(&photo);
        let a = hash(&synthetic::jpeg(&photo, 85, false, None));
        let b = hash(&synthetic::jpeg(&mirrored, 85, false, None));
        assert!(!a.is_same_picture(&b), "{a} vs {b}: {}", a.distance(&b));
    }

    #[test]
    fn hashing_keeps_the_upload_limits() {
        let progressive = synthetic::jpeg(&synthetic::photo(64, 64, 5), 85, true, None);
        let bomb = crate::imaging::bombs::jpeg_with_repeated_scans(
            &progressive,
            crate::imaging::MAX_JPEG_SCANS as usize,
        );
        let err = perceptual_hash(&bomb).expect_err("refused");
        assert!(matches!(err, ImagingError::TooManyScans { .. }), "{err}");
        assert!(perceptual_hash(b"not a picture").is_err());
    }

    #[test]
    fn distance_counts_differing_bits_and_stores_as_sqlite_integers() {
        let a = PerceptualHash(0);
        let b = PerceptualHash(u64::MAX);
        assert_eq!(a.distance(&b), 64);
        assert_eq!(b.distance(&a), 64);
        assert_eq!(PerceptualHash(0b1011).distance(&PerceptualHash(0b0001)), 2);
        assert!(a.is_same_picture(&PerceptualHash(0b111)));
        assert!(!a.is_same_picture(&PerceptualHash(0b1111)));
        assert_eq!(PerceptualHash::from_i64(b.to_i64()), b);
    }
}
