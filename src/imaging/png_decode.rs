//! PNG decoding with the png crate directly, under our own memory bound. Going around the image
//! crate buys three things: the bound applies from the first chunk (the image crate parses the
//! header under its own 512 MiB default), ICC profiles and text chunks are skipped unread (an
//! iCCP chunk can inflate from kilobytes to hundreds of megabytes, and we never use it), and
//! 16-bit samples are stripped to 8 bits row by row inside the decoder instead of decoding a
//! 16-bit frame and converting it (which needed 12 bytes per pixel at the peak for RGB).

use std::io::Cursor;

use image::metadata::Orientation;

use super::{ImagingError, MAX_DECODE_BYTES};

/// Decoded 8-bit pixels: RGB or RGBA, before orientation.
pub struct PngPixels {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub pixels: Vec<u8>,
    pub orientation: Orientation,
}

fn reader(bytes: &[u8]) -> Result<png::Reader<Cursor<&[u8]>>, ImagingError> {
    let limits = png::Limits {
        bytes: usize::try_from(MAX_DECODE_BYTES).unwrap_or(usize::MAX),
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_ignore_iccp_chunk(true);
    decoder.set_ignore_text_chunk(true);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    decoder.read_info().map_err(decode_error)
}

fn decode_error(e: png::DecodingError) -> ImagingError {
    match e {
        png::DecodingError::LimitsExceeded => ImagingError::NeedsTooMuchMemory,
        other => ImagingError::Decode(other.to_string()),
    }
}

/// Width and height from the header chunks, with the same limits as a decode.
pub fn dimensions(bytes: &[u8]) -> Result<(u32, u32), ImagingError> {
    let reader = reader(bytes)?;
    Ok(reader.info().size())
}

/// Decodes the first frame to 8-bit RGB (opaque) or RGBA. Greyscale is widened in place, in
/// the buffer the final pixels need, so the peak is one RGB(A) frame.
pub fn decode(bytes: &[u8]) -> Result<PngPixels, ImagingError> {
    let mut reader = reader(bytes)?;
    let (width, height) = reader.info().size();
    let orientation = reader
        .info()
        .exif_metadata
        .as_deref()
        .and_then(Orientation::from_exif_chunk)
        .unwrap_or(Orientation::NoTransforms);
    let (color, _) = reader.output_color_type();
    let (decoded_channels, channels) = match color {
        png::ColorType::Grayscale => (1usize, 3u8),
        png::ColorType::GrayscaleAlpha => (2, 4),
        png::ColorType::Rgb => (3, 3),
        png::ColorType::Rgba => (4, 4),
        // EXPAND turns palettes into RGB(A); anything else is a decoder we do not know.
        png::ColorType::Indexed => {
            return Err(ImagingError::Decode("unexpected indexed output".into()));
        }
    };
    let pixel_count = width as usize * height as usize;
    let final_len = pixel_count
        .checked_mul(usize::from(channels))
        .ok_or(ImagingError::NeedsTooMuchMemory)?;
    let needed = reader
        .output_buffer_size()
        .ok_or(ImagingError::NeedsTooMuchMemory)?;
    if final_len.max(needed) as u64 > MAX_DECODE_BYTES {
        return Err(ImagingError::NeedsTooMuchMemory);
    }
    let mut pixels = vec![0u8; final_len.max(needed)];
    reader.next_frame(&mut pixels).map_err(decode_error)?;
    widen_in_place(&mut pixels, pixel_count, decoded_channels);
    pixels.truncate(final_len);
    Ok(PngPixels {
        width,
        height,
        channels,
        pixels,
        orientation,
    })
}

/// Turns `count` grey (1 channel) or grey+alpha (2) pixels at the start of `buf` into RGB or
/// RGBA, from the last pixel backwards so that no pixel is overwritten before it is read.
fn widen_in_place(buf: &mut [u8], count: usize, channels: usize) {
    match channels {
        1 => {
            for i in (0..count).rev() {
                let l = buf[i];
                buf[i * 3..i * 3 + 3].copy_from_slice(&[l, l, l]);
            }
        }
        2 => {
            for i in (0..count).rev() {
                let (l, a) = (buf[i * 2], buf[i * 2 + 1]);
                buf[i * 4..i * 4 + 4].copy_from_slice(&[l, l, l, a]);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `width`×`height` whose pixels are all zero, in the given colour type and depth.
    fn plain_png(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(color);
        encoder.set_depth(depth);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().unwrap();
        let samples = match color {
            png::ColorType::Grayscale | png::ColorType::Indexed => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
        };
        let bytes_per_sample = if depth == png::BitDepth::Sixteen {
            2
        } else {
            1
        };
        let data = vec![0u8; width as usize * height as usize * samples * bytes_per_sample];
        writer.write_image_data(&data).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn grey_and_sixteen_bit_pngs_come_out_as_eight_bit_rgb() {
        for (color, depth, channels) in [
            (png::ColorType::Grayscale, png::BitDepth::Eight, 3),
            (png::ColorType::GrayscaleAlpha, png::BitDepth::Sixteen, 4),
            (png::ColorType::Rgb, png::BitDepth::Sixteen, 3),
            (png::ColorType::Rgba, png::BitDepth::Eight, 4),
        ] {
            let decoded = decode(&plain_png(7, 5, color, depth)).unwrap();
            assert_eq!(
                (decoded.width, decoded.height, decoded.channels),
                (7, 5, channels)
            );
            assert_eq!(decoded.pixels.len(), 7 * 5 * usize::from(channels));
        }
    }

    #[test]
    fn widening_keeps_every_pixel() {
        let mut buf = vec![1, 9, 2, 8, 0, 0, 0, 0];
        widen_in_place(&mut buf, 2, 2);
        assert_eq!(buf, [1, 1, 1, 9, 2, 2, 2, 8]);
        let mut buf = vec![4, 5, 0, 0, 0, 0];
        widen_in_place(&mut buf, 2, 1);
        assert_eq!(buf, [4, 4, 4, 5, 5, 5]);
    }

    #[test]
    fn an_iccp_bomb_is_skipped_unread() {
        let bomb = crate::imaging::bombs::png_with_iccp(64 << 20);
        assert!(bomb.len() < 1_000_000, "{}", bomb.len());
        assert_eq!(dimensions(&bomb).unwrap(), (10, 10));
        assert_eq!(decode(&bomb).unwrap().pixels.len(), 300);
    }
}
