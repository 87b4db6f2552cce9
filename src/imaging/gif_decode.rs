//! GIF decoding with the gif crate directly. The image crate trusts a frame's own size: a file
//! whose logical screen is 1×1 (all the header check sees) may carry a 9000×9000 frame, which it
//! decodes into a buffer of that size. Here frames must lie inside the screen (checked by the
//! decoder from the frame descriptor, before any pixel), and the first frame is read row by row
//! into the screen's buffer, so the peak is one screen of RGBA.

use std::io::Cursor;

use super::{ImagingError, MAX_DECODE_BYTES};

/// The first frame, composed on a transparent screen: RGBA, `width`×`height`.
pub struct GifPixels {
    pub width: u32,
    pub height: u32,
    pub pixels: Vec<u8>,
}

const RGBA: usize = 4;

fn decode_error(e: gif::DecodingError) -> ImagingError {
    ImagingError::Decode(e.to_string())
}

pub fn decode(bytes: &[u8]) -> Result<GifPixels, ImagingError> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    options.check_frame_consistency(true);
    if let Some(limit) = std::num::NonZeroU64::new(MAX_DECODE_BYTES) {
        options.set_memory_limit(gif::MemoryLimit::Bytes(limit));
    }
    let mut decoder = options
        .read_info(Cursor::new(bytes))
        .map_err(decode_error)?;
    let (width, height) = (usize::from(decoder.width()), usize::from(decoder.height()));
    let screen_bytes = width * height * RGBA;
    if screen_bytes as u64 > MAX_DECODE_BYTES {
        return Err(ImagingError::NeedsTooMuchMemory);
    }
    let Some(frame) = decoder.next_frame_info().map_err(decode_error)? else {
        return Err(ImagingError::Decode("the GIF has no frame".into()));
    };
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let (frame_w, frame_h) = (usize::from(frame.width), usize::from(frame.height));
    let interlaced = frame.interlaced;
    // The decoder checked this already; a second look keeps the copies below in bounds
    // whatever it does.
    if left + frame_w > width || top + frame_h > height {
        return Err(ImagingError::Decode(
            "a frame lies outside the GIF's screen".into(),
        ));
    }
    let mut pixels = vec![0u8; screen_bytes];
    let mut row = vec![0u8; frame_w * RGBA];
    for y in frame_rows(frame_h, interlaced) {
        if frame_w > 0 && !decoder.fill_buffer(&mut row).map_err(decode_error)? {
            return Err(ImagingError::Decode("the GIF frame is truncated".into()));
        }
        let start = ((top + y) * width + left) * RGBA;
        pixels[start..start + row.len()].copy_from_slice(&row);
    }
    Ok(GifPixels {
        width: width as u32,
        height: height as u32,
        pixels,
    })
}

/// The frame's rows in the order the data gives them: top to bottom, or the four passes of an
/// interlaced GIF (every 8th row from 0, every 8th from 4, every 4th from 2, every 2nd from 1).
fn frame_rows(height: usize, interlaced: bool) -> Box<dyn Iterator<Item = usize>> {
    if !interlaced {
        return Box::new(0..height);
    }
    Box::new(
        [(0, 8), (4, 8), (2, 4), (1, 2)]
            .into_iter()
            .flat_map(move |(start, step)| (start..height).step_by(step)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::bombs;

    #[test]
    fn interlaced_rows_cover_the_frame_once() {
        let mut rows: Vec<usize> = frame_rows(11, true).collect();
        assert_eq!(&rows[..3], &[0, 8, 4]);
        rows.sort_unstable();
        assert_eq!(rows, (0..11).collect::<Vec<_>>());
    }

    #[test]
    fn a_frame_larger_than_the_screen_is_refused_before_its_pixels() {
        let bomb = bombs::gif_frame_outside_screen(3000);
        let err = decode(&bomb).err().expect("refused");
        assert!(err.to_string().contains("out-of-bounds"), "{err}");
    }

    #[test]
    fn a_frame_inside_the_screen_lands_at_its_offset() {
        let mut out = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut out, 4, 3, &[0, 0, 0, 255, 0, 0]).unwrap();
            let frame = gif::Frame {
                left: 1,
                top: 1,
                width: 2,
                height: 2,
                buffer: std::borrow::Cow::Owned(vec![1, 1, 1, 1]),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
        let decoded = decode(&out).unwrap();
        assert_eq!((decoded.width, decoded.height), (4, 3));
        let at = |x: usize, y: usize| &decoded.pixels[(y * 4 + x) * 4..(y * 4 + x) * 4 + 4];
        assert_eq!(at(1, 1), &[255, 0, 0, 255]);
        assert_eq!(at(0, 0), &[0, 0, 0, 0], "outside the frame is transparent");
    }
}
