use image::ImageEncoder;

use super::{DecodedImage, EncodedImage, ImageFormat, ImagingError};

/// JPEG quality of derived copies: visually clean for product photos, a third the size of q95.
const JPEG_QUALITY: u8 = 85;

/// Encodes decoded pixels as `format` (JPEG or PNG; anything else is written as PNG).
pub fn encode_like(
    image: &DecodedImage,
    format: ImageFormat,
) -> Result<EncodedImage, ImagingError> {
    let mut bytes = Vec::new();
    let format = if format == ImageFormat::Jpeg {
        encode_jpeg(image, &mut bytes)?;
        ImageFormat::Jpeg
    } else {
        encode_png(image, &mut bytes)?;
        ImageFormat::Png
    };
    Ok(EncodedImage {
        format,
        width: image.width,
        height: image.height,
        bytes,
    })
}

fn encode_jpeg(image: &DecodedImage, out: &mut Vec<u8>) -> Result<(), ImagingError> {
    let too_big = || ImagingError::Encode("JPEG sides are limited to 65535 pixels".into());
    let w = u16::try_from(image.width).map_err(|_| too_big())?;
    let h = u16::try_from(image.height).map_err(|_| too_big())?;
    let color = if image.channels == 4 {
        jpeg_encoder::ColorType::Rgba
    } else {
        jpeg_encoder::ColorType::Rgb
    };
    jpeg_encoder::Encoder::new(out, JPEG_QUALITY)
        .encode(&image.pixels, w, h, color)
        .map_err(|e| ImagingError::Encode(e.to_string()))
}

fn encode_png(image: &DecodedImage, out: &mut Vec<u8>) -> Result<(), ImagingError> {
    let color = if image.channels == 4 {
        image::ExtendedColorType::Rgba8
    } else {
        image::ExtendedColorType::Rgb8
    };
    image::codecs::png::PngEncoder::new_with_quality(
        out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(&image.pixels, image.width, image.height, color)
    .map_err(|e| ImagingError::Encode(e.to_string()))
}
