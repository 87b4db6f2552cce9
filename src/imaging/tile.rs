//! Grid tiles: small pictures decoded straight to RGBA, which is what a texture upload wants.

use image::metadata::Orientation;

use super::libjpeg::{self, Output};
use super::{
    BoxSize, Cancel, DecodedImage, ImageFormat, ImagingError, decode_to_fit, probe, sniff,
};

#[cfg(test)]
use super::MAX_JPEG_SCANS;

/// Decodes a picture for a grid tile of at most `max_side` pixels a side, as RGBA.
///
/// The store's thumbnails are small upright JPEGs: those are decoded whole by libjpeg-turbo
/// straight to RGBA (the GPU scales them). Anything else (a local original waiting to upload,
/// a PNG, a rotated photo) goes through [`decode_to_fit`], which scales in the DCT and applies
/// the EXIF orientation.
pub fn decode_tile_rgba(bytes: &[u8], max_side: u32) -> Result<DecodedImage, ImagingError> {
    if sniff(bytes)? == ImageFormat::Jpeg
        && let Some(decoded) = decode_small_jpeg(bytes, max_side)?
    {
        return Ok(decoded);
    }
    let probe = probe(bytes)?;
    let decoded = decode_to_fit(bytes, probe, BoxSize::new(max_side, max_side))?;
    Ok(to_rgba(decoded))
}

/// `None` when the JPEG is more than twice the tile (DCT scaling is cheaper then), asks to be
/// rotated, or is a kind libjpeg does not read (lossless, 12-bit): the general path handles
/// those. libjpeg reads the header itself, so a tile is parsed once.
fn decode_small_jpeg(bytes: &[u8], max_side: u32) -> Result<Option<DecodedImage>, ImagingError> {
    // Tiles come from a store, which is no more trusted than an upload: the same scan and
    // memory caps, before libjpeg sees the bytes.
    let layout = super::check_jpeg_layout(bytes)?;
    if !layout.eight_bit_huffman_dct {
        return Ok(None);
    }
    let decoded = libjpeg::decode(bytes, Output::Rgba, &Cancel::never(), |header| {
        let small = header.width.max(header.height) <= max_side.saturating_mul(2);
        let upright = header.orientation == Orientation::NoTransforms;
        (small && upright).then_some(8)
    })?;
    Ok(decoded.map(|decoded| DecodedImage {
        width: decoded.width,
        height: decoded.height,
        channels: 4,
        pixels: decoded.pixels,
        oriented_source: (decoded.width, decoded.height),
    }))
}

fn to_rgba(decoded: DecodedImage) -> DecodedImage {
    if decoded.channels == 4 {
        return decoded;
    }
    let pixels = decoded
        .pixels
        .chunks_exact(3)
        .flat_map(|p| [p[0], p[1], p[2], 255])
        .collect();
    DecodedImage {
        channels: 4,
        pixels,
        ..decoded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::synthetic;

    #[test]
    fn small_jpeg_decodes_to_rgba_at_full_size() {
        let photo = synthetic::photo(200, 150, 7);
        let bytes = synthetic::jpeg(&photo, 85, false, None);
        let tile = decode_tile_rgba(&bytes, 256).unwrap();
        assert_eq!((tile.width, tile.height, tile.channels), (200, 150, 4));
        assert_eq!(tile.pixels.len(), 200 * 150 * 4);
    }

    #[test]
    fn a_tile_with_too_many_scans_is_refused_before_decoding() {
        let photo = synthetic::photo(64, 64, 5);
        let progressive = synthetic::jpeg(&photo, 85, true, None);
        let bomb =
            crate::imaging::bombs::jpeg_with_repeated_scans(&progressive, MAX_JPEG_SCANS as usize);
        let err = decode_tile_rgba(&bomb, 256).expect_err("refused");
        assert!(matches!(err, ImagingError::TooManyScans { .. }), "{err}");
    }

    #[test]
    fn rotated_and_large_jpegs_are_fitted_upright() {
        let photo = synthetic::photo(200, 100, 3);
        let rotated = synthetic::jpeg(&photo, 85, false, Some(6));
        let tile = decode_tile_rgba(&rotated, 256).unwrap();
        assert_eq!(
            (tile.width, tile.height),
            (100, 200),
            "EXIF 6 turns it upright"
        );
        let large = synthetic::jpeg(&synthetic::photo(1600, 800, 3), 85, false, None);
        let tile = decode_tile_rgba(&large, 256).unwrap();
        assert_eq!((tile.width, tile.height, tile.channels), (256, 128, 4));
    }
}
