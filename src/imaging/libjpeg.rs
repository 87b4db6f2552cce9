//! JPEG decoding with libjpeg-turbo's decoder, as compiled from source (with its SIMD code,
//! when `nasm` is installed) by the `mozjpeg-sys` crate: mozjpeg is libjpeg-turbo with a
//! different encoder, and its decoder is libjpeg-turbo's.
//!
//! Why not jpeg-decoder or zune-jpeg: a thumbnail of a 24 MP photo is almost all entropy
//! decoding, which libjpeg-turbo does about twice as fast, and libjpeg-turbo's DCT scaling
//! runs a 1×1, 2×2 or 4×4 inverse DCT at 1/8, 1/4 and 1/2 scale (shrink-on-load) where the
//! Rust decoders decode every block in full or not at all (BENCHMARKS.md has the profiles).
//!
//! Handing an untrusted file to C is fenced the same way as the Rust decoders:
//! - before this module sees the bytes, [`super::probe`] (or the tile path) has refused files
//!   over the size, pixel, scan and coefficient-memory caps from the marker segments alone;
//!   this module checks the pixel cap again on libjpeg's own reading of the header, and the
//!   output buffer against `MAX_DECODE_BYTES`, before the first row is decoded. A baseline
//!   frame needs a few MCU rows of working memory; a progressive one its coefficients, which
//!   the layout check bounds.
//! - libjpeg reports a fatal error by calling `error_exit`, which the mozjpeg crate implements
//!   as a Rust unwind (`extern "C-unwind"`, the C compiled with `-fexceptions`) instead of
//!   libjpeg's usual `longjmp`: no Rust frame is jumped over. [`catch_libjpeg`] turns that
//!   unwind into [`ImagingError::Decode`]; libjpeg's destructor runs as the unwind drops the
//!   decompressor.
//! - rows are read in chunks, and the cancel flag is checked between chunks.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::metadata::Orientation;
use mozjpeg::{ColorSpace, Decompress, Marker};

use super::jpeg_markers::orientation_from_exif;
use super::{Cancel, ImagingError, MAX_DECODE_BYTES, MAX_PIXELS};

/// Rows decoded between two looks at the cancel flag: a few milliseconds of work even for a
/// full-size row of a 50 MP picture.
const ROWS_PER_CHUNK: usize = 32;

/// The pixel layout asked of the decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Output {
    Rgb,
    Rgba,
}

impl Output {
    fn channels(self) -> usize {
        match self {
            Output::Rgb => 3,
            Output::Rgba => 4,
        }
    }
}

/// What the header says, given to the caller to choose a scale.
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub width: u32,
    pub height: u32,
    pub orientation: Orientation,
}

/// Pixels as decoded (before orientation).
#[derive(Debug)]
pub(super) struct Decoded {
    pub header: Header,
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

/// Decodes `bytes` at the DCT scale `scale(header)` returns, in eighths (1 to 8: 1 is 1/8 of
/// each side), or not at all when it returns `None`.
pub(super) fn decode(
    bytes: &[u8],
    output: Output,
    cancel: &Cancel,
    scale: impl FnOnce(&Header) -> Option<u8>,
) -> Result<Option<Decoded>, ImagingError> {
    catch_libjpeg(AssertUnwindSafe(|| {
        decode_unguarded(bytes, output, cancel, scale)
    }))
}

/// Runs `work`, turning libjpeg's fatal errors (unwinds carrying its message) into
/// [`ImagingError::Decode`].
fn catch_libjpeg<T>(
    work: AssertUnwindSafe<impl FnOnce() -> Result<T, ImagingError>>,
) -> Result<T, ImagingError> {
    match catch_unwind(work) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("libjpeg failed");
            Err(ImagingError::Decode(
                message
                    .trim_start_matches("libjpeg fatal error: ")
                    .to_string(),
            ))
        }
    }
}

fn decode_unguarded(
    bytes: &[u8],
    output: Output,
    cancel: &Cancel,
    scale: impl FnOnce(&Header) -> Option<u8>,
) -> Result<Option<Decoded>, ImagingError> {
    let io_err = |e: std::io::Error| ImagingError::Decode(e.to_string());
    let mut decompress = Decompress::builder()
        .with_markers(&[Marker::APP(1)])
        .from_mem(bytes)
        .map_err(io_err)?;
    let (width, height) = decompress.size();
    let (width, height) = (
        u32::try_from(width).map_err(|_| too_large(width, height))?,
        u32::try_from(height).map_err(|_| too_large(width, height))?,
    );
    if width == 0 || height == 0 {
        return Err(ImagingError::Decode("the image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImagingError::TooManyPixels { width, height });
    }
    let orientation = decompress
        .markers()
        .filter(|m| m.marker == Marker::APP(1))
        .find_map(|m| orientation_from_exif(m.data))
        .unwrap_or(Orientation::NoTransforms);
    let header = Header {
        width,
        height,
        orientation,
    };
    let Some(eighths) = scale(&header) else {
        return Ok(None);
    };
    decompress.scale(eighths.clamp(1, 8));
    // CMYK (Adobe, inverted) and YCCK have no conversion to RGB in libjpeg: take CMYK out and
    // convert here.
    let cmyk = matches!(
        decompress.color_space(),
        ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK
    );
    let mut started = if cmyk {
        decompress.to_colorspace(ColorSpace::JCS_CMYK)
    } else {
        match output {
            Output::Rgb => decompress.rgb(),
            Output::Rgba => decompress.rgba(),
        }
    }
    .map_err(io_err)?;
    let (out_w, out_h) = (started.width(), started.height());
    let decoded_channels = if cmyk { 4 } else { output.channels() };
    let row_bytes = out_w * decoded_channels;
    let total = row_bytes
        .checked_mul(out_h)
        .filter(|&n| n as u64 <= MAX_DECODE_BYTES)
        .ok_or(ImagingError::NeedsTooMuchMemory)?;
    let mut pixels = Vec::new();
    pixels
        .try_reserve_exact(total)
        .map_err(|_| ImagingError::NeedsTooMuchMemory)?;
    pixels.resize(total, 0);
    for chunk in pixels.chunks_mut(row_bytes * ROWS_PER_CHUNK) {
        cancel.check()?;
        started.read_scanlines_into(chunk).map_err(io_err)?;
    }
    started.finish().map_err(io_err)?;
    let pixels = if cmyk {
        cmyk_to(output, &pixels)
    } else {
        pixels
    };
    Ok(Some(Decoded {
        header,
        width: out_w as u32,
        height: out_h as u32,
        pixels,
    }))
}

fn too_large(width: usize, height: usize) -> ImagingError {
    ImagingError::TooManyPixels {
        width: u32::try_from(width).unwrap_or(u32::MAX),
        height: u32::try_from(height).unwrap_or(u32::MAX),
    }
}

/// Adobe CMYK JPEGs store inverted ink values: each colour is `c·k/255`.
fn cmyk_to(output: Output, cmyk: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(cmyk.len() / 4 * output.channels());
    for p in cmyk.chunks_exact(4) {
        let k = u16::from(p[3]);
        let [r, g, b] = [p[0], p[1], p[2]].map(|c| ((u16::from(c) * k) / 255) as u8);
        out.extend_from_slice(&[r, g, b]);
        if output == Output::Rgba {
            out.push(255);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::synthetic;

    fn full_size(_: &Header) -> Option<u8> {
        Some(8)
    }

    #[test]
    fn decodes_at_each_dct_scale_with_the_sizes_libjpeg_promises() {
        let photo = synthetic::photo(1001, 603, 4);
        let bytes = synthetic::jpeg(&photo, 85, false, None);
        for (eighths, size) in [
            (1, (126, 76)),
            (2, (251, 151)),
            (4, (501, 302)),
            (8, (1001, 603)),
        ] {
            let decoded = decode(&bytes, Output::Rgb, &Cancel::never(), |_| Some(eighths))
                .unwrap()
                .unwrap();
            assert_eq!((decoded.width, decoded.height), size, "scale {eighths}/8");
            assert_eq!(decoded.pixels.len(), size.0 as usize * size.1 as usize * 3);
        }
    }

    #[test]
    fn full_size_pixels_match_the_rust_decoder() {
        let photo = synthetic::photo(96, 64, 9);
        let bytes = synthetic::jpeg(&photo, 90, false, None);
        let ours = decode(&bytes, Output::Rgba, &Cancel::never(), full_size)
            .unwrap()
            .unwrap();
        let reference = image::load_from_memory(&bytes).unwrap().into_rgba8();
        let diff: u64 = ours
            .pixels
            .iter()
            .zip(reference.as_raw())
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = diff as f64 / ours.pixels.len() as f64;
        assert!(mean < 2.0, "mean difference {mean}");
        assert!(ours.pixels.chunks_exact(4).all(|p| p[3] == 255));
    }

    #[test]
    fn the_exif_orientation_is_read_from_the_header() {
        let photo = synthetic::photo(40, 20, 1);
        let bytes = synthetic::jpeg(&photo, 80, false, Some(6));
        let mut seen = None;
        let skipped = decode(&bytes, Output::Rgb, &Cancel::never(), |h| {
            seen = Some(*h);
            None
        })
        .unwrap();
        assert!(skipped.is_none());
        let header = seen.unwrap();
        assert_eq!((header.width, header.height), (40, 20));
        assert_eq!(header.orientation, Orientation::Rotate90);
    }

    #[test]
    fn libjpeg_errors_become_decode_errors_without_unwinding_further() {
        let photo = synthetic::photo(64, 64, 2);
        let bytes = synthetic::jpeg(&photo, 80, false, None);
        // A frame header that claims 0 components: libjpeg's error_exit, caught.
        let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        let mut broken = bytes.clone();
        broken[sof + 9] = 0;
        let err = decode(&broken, Output::Rgb, &Cancel::never(), full_size).unwrap_err();
        assert!(matches!(err, ImagingError::Decode(_)), "{err}");
        // Not a JPEG at all.
        let err = decode(b"\xFF\xD8garbage", Output::Rgb, &Cancel::never(), full_size);
        assert!(matches!(err, Err(ImagingError::Decode(_))), "{err:?}");
    }

    #[test]
    fn a_raised_cancel_flag_stops_before_the_rows() {
        let photo = synthetic::photo(64, 64, 2);
        let bytes = synthetic::jpeg(&photo, 80, false, None);
        let cancel = Cancel::never();
        cancel.cancel();
        let err = decode(&bytes, Output::Rgb, &cancel, full_size).unwrap_err();
        assert!(matches!(err, ImagingError::Cancelled), "{err}");
    }
}
