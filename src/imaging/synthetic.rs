//! Synthetic "photographs" for the demo store, tests and benchmarks: gradients, a shaded
//! subject, hard edges and sensor-like noise, so that codecs and resizers see realistic work
//! (flat colours compress and resize unrealistically fast).

use image::{Rgb, RgbImage, Rgba, RgbaImage};

/// A small deterministic generator (SplitMix64), so that the same seed gives the same picture
/// (or the same synthetic store) on every machine without depending on a particular `rand`
/// version.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn hue_to_rgb(hue: f32, saturation: f32, value: f32) -> [f32; 3] {
    let h = (hue.rem_euclid(1.0)) * 6.0;
    let c = value * saturation;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let m = value - c;
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [r + m, g + m, b + m]
}

/// A product-shot-like RGB picture of `width`×`height`.
pub fn photo(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = SplitMix(seed);
    let hue = rng.unit();
    let top = hue_to_rgb(hue + 0.5, 0.15, 0.95);
    let bottom = hue_to_rgb(hue + 0.45, 0.25, 0.70);
    let subject = hue_to_rgb(hue, 0.65, 0.85);
    let stripe = hue_to_rgb(hue + 0.1, 0.8, 0.35);
    let (w, h) = (width as f32, height as f32);
    let (cx, cy) = (w * (0.4 + 0.2 * rng.unit()), h * (0.45 + 0.1 * rng.unit()));
    let (rx, ry) = (w * (0.22 + 0.1 * rng.unit()), h * (0.25 + 0.1 * rng.unit()));
    let stripes = 3.0 + (rng.unit() * 6.0).floor();
    let mut noise = SplitMix(seed ^ 0xA5A5_A5A5);
    let row_len = width as usize * 3;
    let mut pixels = vec![0u8; row_len * height as usize];
    for (y, row) in pixels.chunks_exact_mut(row_len).enumerate() {
        let fy = y as f32;
        let t = fy / h;
        for (x, px) in row.chunks_exact_mut(3).enumerate() {
            let fx = x as f32;
            let dx = (fx - cx) / rx;
            let dy = (fy - cy) / ry;
            let d2 = dx * dx + dy * dy;
            let mut colour = if d2 < 1.0 {
                // Lit from the top left: brightness follows the sphere's normal.
                let nz = (1.0 - d2).sqrt();
                let light = (0.35 + 0.65 * (-0.5 * dx - 0.5 * dy + 0.7 * nz)).clamp(0.15, 1.1);
                let band = ((dx + 1.0) * stripes).floor() as i32 % 2 == 0 && dy.abs() < 0.6;
                let base = if band { stripe } else { subject };
                base.map(|c| c * light)
            } else {
                let shadow = {
                    let sx = (fx - cx - rx * 0.15) / (rx * 1.1);
                    let sy = (fy - cy - ry * 0.9) / (ry * 0.25);
                    (1.0 - (sx * sx + sy * sy)).clamp(0.0, 1.0) * 0.35
                };
                let vignette = 1.0 - 0.25 * (((fx / w) - 0.5).powi(2) + (t - 0.5).powi(2));
                [0, 1, 2].map(|i| (top[i] * (1.0 - t) + bottom[i] * t) * vignette * (1.0 - shadow))
            };
            let n = (noise.next() & 0xFF) as f32 / 255.0 - 0.5;
            for c in &mut colour {
                *c = *c * 255.0 + n * 14.0;
            }
            px[0] = colour[0].clamp(0.0, 255.0) as u8;
            px[1] = colour[1].clamp(0.0, 255.0) as u8;
            px[2] = colour[2].clamp(0.0, 255.0) as u8;
        }
    }
    // The buffer is exactly width × height × 3 bytes.
    RgbImage::from_raw(width, height, pixels)
        .unwrap_or_else(|| RgbImage::from_pixel(width, height, Rgb([0, 0, 0])))
}

/// The same picture with the background made transparent (a cut-out product shot).
pub fn cutout(width: u32, height: u32, seed: u64) -> RgbaImage {
    let rgb = photo(width, height, seed);
    let mut out = RgbaImage::new(width, height);
    let (w, h) = (width as f32, height as f32);
    let mut rng = SplitMix(seed);
    let _hue = rng.unit();
    let (cx, cy) = (w * (0.4 + 0.2 * rng.unit()), h * (0.45 + 0.1 * rng.unit()));
    let (rx, ry) = (w * (0.22 + 0.1 * rng.unit()), h * (0.25 + 0.1 * rng.unit()));
    for (x, y, px) in out.enumerate_pixels_mut() {
        let p = rgb.get_pixel(x, y);
        let dx = (x as f32 - cx) / rx;
        let dy = (y as f32 - cy) / ry;
        let inside = dx * dx + dy * dy;
        let alpha = ((1.0 - inside) * 20.0).clamp(0.0, 1.0);
        *px = Rgba([p[0], p[1], p[2], (alpha * 255.0) as u8]);
    }
    out
}

/// Encodes RGB pixels as a baseline (or progressive) JPEG, optionally with an EXIF orientation.
pub fn jpeg(image: &RgbImage, quality: u8, progressive: bool, orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    encoder.set_progressive(progressive);
    if let Some(orientation) = orientation {
        // "Exif\0\0" + a little-endian TIFF header with one IFD entry: tag 0x0112, SHORT, 1.
        let mut exif = b"Exif\0\0II*\0\x08\0\0\0\x01\0\x12\x01\x03\0\x01\0\0\0".to_vec();
        exif.extend_from_slice(&orientation.to_le_bytes());
        exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        let _ = encoder.add_app_segment(1, &exif);
    }
    let (w, h) = (
        image.width().min(65535) as u16,
        image.height().min(65535) as u16,
    );
    // Encoding into a Vec cannot fail for valid sizes; an empty result is refused downstream.
    let _ = encoder.encode(image.as_raw(), w, h, jpeg_encoder::ColorType::Rgb);
    out
}

/// Encodes pixels as PNG (RGB or RGBA).
pub fn png(image: &image::DynamicImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let _ = image.write_to(&mut out, image::ImageFormat::Png);
    out.into_inner()
}
