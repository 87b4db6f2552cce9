use std::io::Cursor;

use fast_image_resize as fr;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder};

use super::jpeg_markers::orientation_from_exif;
use super::{
    BoxSize, Cancel, ImageFormat, ImagingError, MAX_DECODE_BYTES, MAX_PIXELS, Probe, fit_within,
    gif_decode, libjpeg, png_decode,
};

/// Decoded pixels, already turned upright (EXIF orientation applied).
#[derive(Debug, Clone)]
pub struct DecodedImage {
    pub width: u32,
    pub height: u32,
    /// 3 (RGB) or 4 (RGBA), 8 bits each.
    pub channels: u8,
    pub pixels: Vec<u8>,
    /// The full size of the original after orientation, which later boxes are fitted from.
    pub oriented_source: (u32, u32),
}

impl DecodedImage {
    /// A copy resized to exactly `width`×`height` (same pixel layout).
    pub fn resized(&self, width: u32, height: u32) -> Result<DecodedImage, ImagingError> {
        let pixels = resize(
            self.pixels.clone(),
            self.width,
            self.height,
            self.channels,
            width,
            height,
        )?;
        Ok(DecodedImage {
            width,
            height,
            channels: self.channels,
            pixels,
            oriented_source: self.oriented_source,
        })
    }
}

/// Decodes an image just large enough to fill `bounds` (after orientation) and resizes it to fit.
/// JPEG decodes at the smallest DCT scale (1/8, 1/4, 1/2, 1) that is not smaller than the target,
/// which is what keeps a 24 MP photo's thumbnail fast and small in memory.
pub fn decode_to_fit(
    bytes: &[u8],
    probe: Probe,
    bounds: BoxSize,
) -> Result<DecodedImage, ImagingError> {
    decode_to_fit_until(bytes, probe, bounds, &Cancel::never())
}

/// [`decode_to_fit`] that stops with [`ImagingError::Cancelled`] between chunks of JPEG rows
/// once `cancel` is raised.
pub(super) fn decode_to_fit_until(
    bytes: &[u8],
    probe: Probe,
    bounds: BoxSize,
    cancel: &Cancel,
) -> Result<DecodedImage, ImagingError> {
    match probe.format {
        ImageFormat::Jpeg => decode_jpeg(bytes, bounds, cancel),
        _ => decode_other(bytes, probe.format, bounds),
    }
}

/// Where a JPEG's pixels go: the raw (unrotated) size to resize to, and the oriented sizes.
#[derive(Debug, Clone, Copy)]
struct JpegFit {
    oriented: (u32, u32),
    raw_target: (u32, u32),
}

impl JpegFit {
    fn new(raw_w: u32, raw_h: u32, orientation: Orientation, bounds: BoxSize) -> JpegFit {
        let oriented = oriented_size(raw_w, raw_h, orientation);
        let (target_w, target_h) = fit_within(oriented.0, oriented.1, bounds);
        JpegFit {
            oriented,
            raw_target: oriented_size(target_w, target_h, orientation),
        }
    }
}

/// 8-bit Huffman-coded JPEGs (all that cameras and editors write) go through libjpeg-turbo
/// (`libjpeg`), DCT-scaled; lossless and 12-bit ones, which it does not decode, through
/// jpeg-decoder as before.
fn decode_jpeg(
    bytes: &[u8],
    bounds: BoxSize,
    cancel: &Cancel,
) -> Result<DecodedImage, ImagingError> {
    let mut fit = None;
    let decoded = libjpeg::decode(bytes, libjpeg::Output::Rgb, cancel, |header| {
        let planned = JpegFit::new(header.width, header.height, header.orientation, bounds);
        fit = Some(planned);
        Some(dct_scale_eighths(
            header.width,
            header.height,
            planned.raw_target.0,
            planned.raw_target.1,
        ))
    });
    let decoded = match decoded {
        Ok(Some(decoded)) => decoded,
        Ok(None) => {
            return Err(ImagingError::Decode("the JPEG was not decoded".into()));
        }
        Err(ImagingError::Decode(message)) => {
            let libjpeg_can_read =
                super::jpeg_layout(bytes).is_some_and(|layout| layout.eight_bit_huffman_dct);
            if libjpeg_can_read {
                return Err(ImagingError::Decode(message));
            }
            return decode_jpeg_wide(bytes, bounds);
        }
        Err(other) => return Err(other),
    };
    let Some(fit) = fit else {
        return Err(ImagingError::Decode("the JPEG has no frame header".into()));
    };
    let (raw_target_w, raw_target_h) = fit.raw_target;
    let orientation = decoded.header.orientation;
    let pixels = resize(
        decoded.pixels,
        decoded.width,
        decoded.height,
        3,
        raw_target_w,
        raw_target_h,
    )?;
    let (width, height, pixels) =
        apply_orientation(raw_target_w, raw_target_h, 3, pixels, orientation)?;
    Ok(DecodedImage {
        width,
        height,
        channels: 3,
        pixels,
        oriented_source: fit.oriented,
    })
}

/// The smallest DCT scale libjpeg offers (in eighths of each side: 1, 2, 4 or 8) whose output,
/// `ceil(side·n/8)`, covers the target on both axes.
fn dct_scale_eighths(w: u32, h: u32, target_w: u32, target_h: u32) -> u8 {
    for eighths in [1u8, 2, 4] {
        let n = u64::from(eighths);
        let (sw, sh) = (
            (u64::from(w) * n).div_ceil(8),
            (u64::from(h) * n).div_ceil(8),
        );
        if sw >= u64::from(target_w) && sh >= u64::from(target_h) {
            return eighths;
        }
    }
    8
}

/// JPEGs that libjpeg does not decode (lossless, 12-bit) through jpeg-decoder, DCT-scaled the
/// same way.
fn decode_jpeg_wide(bytes: &[u8], bounds: BoxSize) -> Result<DecodedImage, ImagingError> {
    let decode_err = |e: jpeg_decoder::Error| ImagingError::Decode(e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
    decoder.read_info().map_err(decode_err)?;
    let info = decoder
        .info()
        .ok_or_else(|| ImagingError::Decode("the JPEG has no frame header".into()))?;
    let (raw_w, raw_h) = (u32::from(info.width), u32::from(info.height));
    let orientation = decoder
        .exif_data()
        .and_then(orientation_from_exif)
        .unwrap_or(Orientation::NoTransforms);
    let fit = JpegFit::new(raw_w, raw_h, orientation, bounds);
    let (raw_target_w, raw_target_h) = fit.raw_target;
    let eighths = u32::from(dct_scale_eighths(raw_w, raw_h, raw_target_w, raw_target_h));
    let (scaled_w, scaled_h) = (
        (raw_w * eighths).div_ceil(8) as u16,
        (raw_h * eighths).div_ceil(8) as u16,
    );
    let (got_w, got_h) = decoder.scale(scaled_w, scaled_h).map_err(decode_err)?;
    let decoded = decoder.decode().map_err(decode_err)?;
    let (got_w, got_h) = (u32::from(got_w), u32::from(got_h));
    let rgb = jpeg_pixels_to_rgb(decoded, info.pixel_format)?;
    let expected = got_w as usize * got_h as usize * 3;
    if rgb.len() != expected {
        return Err(ImagingError::Decode(format!(
            "decoder returned {} bytes for {got_w}×{got_h}",
            rgb.len()
        )));
    }
    let pixels = resize(rgb, got_w, got_h, 3, raw_target_w, raw_target_h)?;
    let (width, height, pixels) =
        apply_orientation(raw_target_w, raw_target_h, 3, pixels, orientation)?;
    Ok(DecodedImage {
        width,
        height,
        channels: 3,
        pixels,
        oriented_source: fit.oriented,
    })
}

fn jpeg_pixels_to_rgb(
    pixels: Vec<u8>,
    format: jpeg_decoder::PixelFormat,
) -> Result<Vec<u8>, ImagingError> {
    use jpeg_decoder::PixelFormat;
    Ok(match format {
        PixelFormat::RGB24 => pixels,
        PixelFormat::L8 => pixels.iter().flat_map(|&l| [l, l, l]).collect(),
        // Lossless 16-bit greyscale: keep the high byte (big-endian samples).
        PixelFormat::L16 => pixels
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        // Adobe CMYK JPEGs store inverted ink values.
        PixelFormat::CMYK32 => pixels
            .chunks_exact(4)
            .flat_map(|p| {
                let k = u16::from(p[3]);
                [p[0], p[1], p[2]].map(|c| ((u16::from(c) * k) / 255) as u8)
            })
            .collect(),
    })
}

/// The image crate's limits for one upload: set on the reader before `into_decoder`, because
/// the decoder parses the header (and, for some formats, metadata) while it is built.
pub(super) fn decode_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// A decoder's error: memory limits become [`ImagingError::NeedsTooMuchMemory`].
pub(super) fn image_error(e: image::ImageError) -> ImagingError {
    match e {
        image::ImageError::Limits(_) => ImagingError::NeedsTooMuchMemory,
        other => ImagingError::Decode(other.to_string()),
    }
}

/// Full-size 8-bit pixels of a non-JPEG original, before orientation.
struct Frame {
    width: u32,
    height: u32,
    channels: u8,
    pixels: Vec<u8>,
    orientation: Orientation,
}

/// PNG and GIF go through their own crates (see `png_decode` and `gif_decode` for why); WebP
/// and BMP through the image crate, with the limits set before the header is read.
fn decode_frame(bytes: &[u8], format: ImageFormat) -> Result<Frame, ImagingError> {
    match format {
        ImageFormat::Png => {
            let png = png_decode::decode(bytes)?;
            Ok(Frame {
                width: png.width,
                height: png.height,
                channels: png.channels,
                pixels: png.pixels,
                orientation: png.orientation,
            })
        }
        ImageFormat::Gif => {
            let gif = gif_decode::decode(bytes)?;
            Ok(Frame {
                width: gif.width,
                height: gif.height,
                channels: 4,
                pixels: gif.pixels,
                orientation: Orientation::NoTransforms,
            })
        }
        _ => {
            let mut reader =
                image::ImageReader::with_format(Cursor::new(bytes), format.to_image_crate());
            reader.limits(decode_limits());
            let mut decoder = reader.into_decoder().map_err(image_error)?;
            let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
            let image = DynamicImage::from_decoder(decoder).map_err(image_error)?;
            let (width, height) = (image.width(), image.height());
            let (channels, pixels) = if image.color().has_alpha() {
                (4u8, image.into_rgba8().into_raw())
            } else {
                (3u8, image.into_rgb8().into_raw())
            };
            Ok(Frame {
                width,
                height,
                channels,
                pixels,
                orientation,
            })
        }
    }
}

fn decode_other(
    bytes: &[u8],
    format: ImageFormat,
    bounds: BoxSize,
) -> Result<DecodedImage, ImagingError> {
    let Frame {
        width: raw_w,
        height: raw_h,
        channels,
        pixels,
        orientation,
    } = decode_frame(bytes, format)?;
    if u64::from(raw_w) * u64::from(raw_h) > MAX_PIXELS {
        return Err(ImagingError::TooManyPixels {
            width: raw_w,
            height: raw_h,
        });
    }
    let (oriented_w, oriented_h) = oriented_size(raw_w, raw_h, orientation);
    let (target_w, target_h) = fit_within(oriented_w, oriented_h, bounds);
    let (raw_target_w, raw_target_h) = oriented_size(target_w, target_h, orientation);

    let pixels = resize(pixels, raw_w, raw_h, channels, raw_target_w, raw_target_h)?;
    let (width, height, pixels) =
        apply_orientation(raw_target_w, raw_target_h, channels, pixels, orientation)?;
    Ok(DecodedImage {
        width,
        height,
        channels,
        pixels,
        oriented_source: (oriented_w, oriented_h),
    })
}

fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

fn oriented_size(w: u32, h: u32, orientation: Orientation) -> (u32, u32) {
    if swaps_axes(orientation) {
        (h, w)
    } else {
        (w, h)
    }
}

fn apply_orientation(
    w: u32,
    h: u32,
    channels: u8,
    pixels: Vec<u8>,
    orientation: Orientation,
) -> Result<(u32, u32, Vec<u8>), ImagingError> {
    if orientation == Orientation::NoTransforms {
        return Ok((w, h, pixels));
    }
    let bad_buffer = || ImagingError::Decode("pixel buffer has the wrong size".into());
    let mut image = if channels == 4 {
        DynamicImage::ImageRgba8(image::RgbaImage::from_raw(w, h, pixels).ok_or_else(bad_buffer)?)
    } else {
        DynamicImage::ImageRgb8(image::RgbImage::from_raw(w, h, pixels).ok_or_else(bad_buffer)?)
    };
    image.apply_orientation(orientation);
    let (w, h) = (image.width(), image.height());
    Ok((w, h, image.into_bytes()))
}

/// Resizes interleaved 8-bit RGB or RGBA pixels with fast_image_resize (SIMD convolution).
/// RGBA is resized with premultiplied alpha so that transparent edges do not bleed; the source
/// is premultiplied in place (the resizer would otherwise premultiply into a copy as large as
/// the source: 200 MB more for a 50 MP picture), and only the small result is divided back.
pub(crate) fn resize(
    pixels: Vec<u8>,
    w: u32,
    h: u32,
    channels: u8,
    dst_w: u32,
    dst_h: u32,
) -> Result<Vec<u8>, ImagingError> {
    if (w, h) == (dst_w, dst_h) {
        return Ok(pixels);
    }
    let resize_err = |e: &dyn std::fmt::Display| ImagingError::Resize(e.to_string());
    let with_alpha = channels == 4;
    let pixel_type = if with_alpha {
        fr::PixelType::U8x4
    } else {
        fr::PixelType::U8x3
    };
    let mut src =
        fr::images::Image::from_vec_u8(w, h, pixels, pixel_type).map_err(|e| resize_err(&e))?;
    let mul_div = fr::MulDiv::default();
    if with_alpha {
        mul_div
            .multiply_alpha_inplace(&mut src)
            .map_err(|e| resize_err(&e))?;
    }
    let mut dst = fr::images::Image::new(dst_w, dst_h, pixel_type);
    let options = fr::ResizeOptions::new()
        .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom))
        .use_alpha(false);
    fr::Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| resize_err(&e))?;
    drop(src);
    if with_alpha {
        mul_div
            .divide_alpha_inplace(&mut dst)
            .map_err(|e| resize_err(&e))?;
    }
    Ok(dst.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_scale_covers_target() {
        assert_eq!(dct_scale_eighths(6000, 4000, 256, 171), 1);
        assert_eq!(dct_scale_eighths(6000, 4000, 1280, 853), 2);
        assert_eq!(dct_scale_eighths(6000, 4000, 1600, 1067), 4);
        assert_eq!(dct_scale_eighths(100, 100, 100, 100), 8);
        assert_eq!(dct_scale_eighths(1001, 999, 126, 125), 1);
        assert_eq!(dct_scale_eighths(1001, 999, 127, 125), 2);
    }
}
