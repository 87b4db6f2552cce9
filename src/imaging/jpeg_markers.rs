//! A walk over a JPEG's marker segments, without decoding anything, to learn what decoding
//! would cost before paying it: how many scans there are (each progressive scan is a full pass
//! over the image's coefficients, so a file of many tiny scans is a CPU bomb) and how much
//! coefficient memory a progressive decoder keeps for the whole frame.
//!
//! The walk is tolerant: a truncated or malformed file ends the walk with what was seen, and
//! the decoder reports the error itself. It only has to be right about files it lets through.

use image::metadata::Orientation;

/// What the marker segments say about the cost of decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JpegLayout {
    /// Start-of-scan markers in the file.
    pub scans: u32,
    /// Whether the frame is progressive (SOF2, SOF6, SOF10, SOF14).
    pub progressive: bool,
    /// Bytes of DCT coefficients of the whole frame (64 × i16 per block of every component,
    /// MCU-padded), which a decoder must keep when the frame comes in more than one scan.
    pub coefficient_bytes: u64,
    /// Whether the frame is 8-bit Huffman-coded DCT (SOF0, SOF1, SOF2 with precision 8): what
    /// libjpeg-turbo decodes. Lossless and 12-bit frames are left to jpeg-decoder.
    pub eight_bit_huffman_dct: bool,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
/// Bytes of coefficients per 8×8 block: 64 samples of i16.
const BLOCK_BYTES: u64 = 64 * 2;

/// Walks the marker segments of `bytes`. `None` if it does not start like a JPEG.
pub fn jpeg_layout(bytes: &[u8]) -> Option<JpegLayout> {
    if bytes.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut layout = JpegLayout::default();
    let mut pos = 2;
    while let Some(marker_at) = next_marker(bytes, pos) {
        let marker = bytes[marker_at];
        pos = marker_at + 1;
        match marker {
            EOI => break,
            // Standalone markers: no length follows.
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) = read_u16(bytes, pos) else {
            break;
        };
        let length = usize::from(length);
        let Some(segment) = bytes.get(pos + 2..pos + length.max(2)) else {
            break;
        };
        if is_sof(marker) {
            layout.progressive = matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE);
            layout.coefficient_bytes = coefficient_bytes(segment).unwrap_or(0);
            layout.eight_bit_huffman_dct =
                matches!(marker, 0xC0..=0xC2) && segment.first() == Some(&8);
        }
        pos += length.max(2);
        if marker == SOS {
            layout.scans = layout.scans.saturating_add(1);
            pos = skip_entropy_coded(bytes, pos);
        }
    }
    Some(layout)
}

/// The index of the next marker code (the byte after `0xFF` and any fill bytes) at or after
/// `pos`, skipping anything that is not a marker (garbage between segments).
fn next_marker(bytes: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let ff = pos + bytes.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        let mut code = ff + 1;
        while *bytes.get(code)? == 0xFF {
            code += 1;
        }
        if bytes[code] != 0x00 {
            return Some(code);
        }
        pos = code + 1;
    }
}

/// After a scan header: the position of the `0xFF` that starts the next marker which is not a
/// restart marker or a stuffed zero (which belong to the entropy-coded data).
fn skip_entropy_coded(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(offset) = bytes
        .get(pos..)
        .and_then(|b| b.iter().position(|&x| x == 0xFF))
    {
        let ff = pos + offset;
        match bytes.get(ff + 1) {
            Some(0x00 | 0xD0..=0xD7 | 0xFF) => pos = ff + 1,
            _ => return ff,
        }
    }
    bytes.len()
}

fn read_u16(bytes: &[u8], pos: usize) -> Option<u16> {
    let b = bytes.get(pos..pos + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

/// SOF0–SOF15 except DHT (C4), JPG (C8) and DAC (CC), which share the range.
fn is_sof(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Coefficient bytes of a frame from its SOF segment (after the length): precision, height,
/// width, component count, then (id, sampling factors, table) per component. Each component
/// has `ceil(width / (8·Hmax))·h` × `ceil(height / (8·Vmax))·v` blocks (whole MCUs).
fn coefficient_bytes(segment: &[u8]) -> Option<u64> {
    let height = u64::from(read_u16(segment, 1)?);
    let width = u64::from(read_u16(segment, 3)?);
    let count = usize::from(*segment.get(5)?);
    let components = segment.get(6..6 + 3 * count)?;
    let factors: Vec<(u64, u64)> = components
        .chunks_exact(3)
        .map(|c| (u64::from(c[1] >> 4).max(1), u64::from(c[1] & 0x0F).max(1)))
        .collect();
    let h_max = factors.iter().map(|f| f.0).max()?;
    let v_max = factors.iter().map(|f| f.1).max()?;
    let mcus_x = width.div_ceil(8 * h_max);
    let mcus_y = height.div_ceil(8 * v_max);
    Some(
        factors
            .iter()
            .map(|(h, v)| mcus_x * h * mcus_y * v * BLOCK_BYTES)
            .sum(),
    )
}

/// Reads the orientation tag from a JPEG APP1 payload (with or without the `Exif\0\0` prefix).
pub(super) fn orientation_from_exif(exif: &[u8]) -> Option<Orientation> {
    let tiff = exif.strip_prefix(b"Exif\0\0").unwrap_or(exif);
    Orientation::from_exif_chunk(tiff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::synthetic;

    #[test]
    fn counts_the_scans_of_baseline_and_progressive_files() {
        let photo = synthetic::photo(64, 48, 1);
        let baseline = jpeg_layout(&synthetic::jpeg(&photo, 80, false, None)).unwrap();
        assert_eq!(baseline.scans, 1);
        assert!(!baseline.progressive);
        assert!(baseline.eight_bit_huffman_dct);
        let progressive_bytes = synthetic::jpeg(&photo, 80, true, None);
        let progressive = jpeg_layout(&progressive_bytes).unwrap();
        assert!(progressive.progressive);
        assert!(
            (2..=12).contains(&progressive.scans),
            "{}",
            progressive.scans
        );
        let bomb = jpeg_layout(&crate::imaging::bombs::jpeg_with_repeated_scans(
            &progressive_bytes,
            500,
        ))
        .unwrap();
        assert_eq!(bomb.scans, progressive.scans + 500);
    }

    #[test]
    fn coefficient_memory_follows_the_sampling_factors() {
        // 4:2:0 (the encoder's default for colour): Y at 2×2, Cb and Cr at 1×1.
        let photo = synthetic::photo(100, 60, 2);
        let layout = jpeg_layout(&synthetic::jpeg(&photo, 80, true, None)).unwrap();
        // MCUs of 16×16: 7×4 of them; Y has 4 blocks per MCU, Cb and Cr one each.
        assert_eq!(layout.coefficient_bytes, 7 * 4 * (4 + 1 + 1) * BLOCK_BYTES);
    }

    #[test]
    fn a_progressive_frame_whose_coefficients_exceed_the_bound_is_refused_from_its_header() {
        use crate::imaging::{ImagingError, MAX_DECODE_BYTES, probe};
        // SOI, SOF2 of 8000×6000 (48 MP, under the pixel cap) with four components at 1×1
        // (CMYK): 4 × 750,000 blocks × 128 bytes = 384 MB of coefficients.
        let mut bytes = vec![0xFF, SOI, 0xFF, 0xC2, 0x00, 20, 8];
        bytes.extend_from_slice(&6000u16.to_be_bytes());
        bytes.extend_from_slice(&8000u16.to_be_bytes());
        bytes.push(4);
        for id in 1..=4u8 {
            bytes.extend_from_slice(&[id, 0x11, 0]);
        }
        bytes.extend_from_slice(&[0xFF, SOS, 0x00, 0x08, 1, 1, 0, 0, 0, 0, 0xFF, EOI]);
        let layout = jpeg_layout(&bytes).unwrap();
        assert_eq!(layout.coefficient_bytes, 4 * 1000 * 750 * BLOCK_BYTES);
        assert!(layout.coefficient_bytes > MAX_DECODE_BYTES);
        assert!(matches!(
            probe(&bytes),
            Err(ImagingError::NeedsTooMuchMemory)
        ));
    }

    #[test]
    fn markers_inside_entropy_data_and_garbage_do_not_count() {
        // SOI, a scan header, data with a stuffed FF00 and a restart marker, EOI.
        let mut bytes = vec![0xFF, SOI, 0xFF, SOS, 0x00, 0x03, 0x01];
        bytes.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF]);
        bytes.extend_from_slice(&[0xFF, EOI, 0xFF, SOS]);
        assert_eq!(jpeg_layout(&bytes).unwrap().scans, 1);
        assert_eq!(jpeg_layout(b"not a jpeg"), None);
        // Truncated in a length, in a segment, after a lone FF: the walk just stops.
        for cut in [&[0xFF, SOI, 0xFF, SOS, 0x00][..], &[0xFF, SOI, 0xFF][..]] {
            assert_eq!(jpeg_layout(cut).unwrap().scans, 0);
        }
    }
}
