//! Hostile inputs, built in memory: the decompression and CPU bombs that the limits of this
//! module refuse (issue 14). Tests, benches and `scripts/upload_rss.sh` use them; nothing in
//! the app does.

/// A 10×10 PNG with an iCCP chunk (ICC profile) whose zlib stream inflates to `inflated` zero
/// bytes. A fixed-Huffman stream of 258-byte matches packs about 159 bytes per byte, so 500 MB
/// fits in 3.2 MB of file.
pub fn png_with_iccp(inflated: usize) -> Vec<u8> {
    let plain = plain_png(10, 10);
    let mut payload = b"icc\0\0".to_vec();
    payload.extend_from_slice(&zlib_zeros(inflated));
    // After the 8-byte signature and the 25-byte IHDR chunk.
    let (head, tail) = plain.split_at(33);
    let mut out = head.to_vec();
    out.extend_from_slice(&png_chunk(b"iCCP", &payload));
    out.extend_from_slice(tail);
    out
}

/// A GIF whose logical screen is 1×1 and whose one frame is `side`×`side`, all of palette
/// index 0: the header-size check sees one pixel, a decoder that trusts the frame allocates
/// `side²·4` bytes.
pub fn gif_frame_outside_screen(side: u16) -> Vec<u8> {
    let mut out = Vec::new();
    // A frame of one colour compresses to a few kilobytes.
    let indices = vec![0u8; usize::from(side) * usize::from(side)];
    {
        let mut encoder = match gif::Encoder::new(&mut out, 1, 1, &[0, 0, 0, 255, 255, 255]) {
            Ok(e) => e,
            Err(_) => return Vec::new(),
        };
        let frame = gif::Frame {
            width: side,
            height: side,
            buffer: std::borrow::Cow::Owned(indices),
            ..gif::Frame::default()
        };
        if encoder.write_frame(&frame).is_err() {
            return Vec::new();
        }
    }
    out
}

/// A progressive JPEG with `extra` more copies of its last scan appended before EOI. The last
/// scan of a progressive file is an AC refinement; sent again it is still valid, and every copy
/// costs the decoder a full pass over the coefficients: the CPU bomb of issue 14.
pub fn jpeg_with_repeated_scans(progressive_jpeg: &[u8], extra: usize) -> Vec<u8> {
    let Some(last_sos) = progressive_jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]) else {
        return progressive_jpeg.to_vec();
    };
    let end = if progressive_jpeg.ends_with(&[0xFF, 0xD9]) {
        progressive_jpeg.len() - 2
    } else {
        progressive_jpeg.len()
    };
    let scan = &progressive_jpeg[last_sos..end];
    let mut out = progressive_jpeg[..end].to_vec();
    for _ in 0..extra {
        out.extend_from_slice(scan);
    }
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A 10×10 black RGB PNG.
fn plain_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let data = vec![0u8; width as usize * height as usize * 3];
    if let Ok(mut writer) = encoder.write_header() {
        let _ = writer.write_image_data(&data);
        let _ = writer.finish();
    }
    out
}

fn png_chunk(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = (payload.len() as u32).to_be_bytes().to_vec();
    let mut typed = kind.to_vec();
    typed.extend_from_slice(payload);
    out.extend_from_slice(&typed);
    out.extend_from_slice(&crc32(&typed).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A zlib stream of `len` zeros: one fixed-Huffman block of a literal 0, then matches of 258
/// at distance 1, then literal zeros for the rest.
fn zlib_zeros(len: usize) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.put(1, 1); // BFINAL
    bits.put(1, 2); // BTYPE = 01, fixed Huffman
    let mut left = len;
    if left > 0 {
        bits.put_code(0x30, 8); // literal 0
        left -= 1;
    }
    while left >= 258 {
        bits.put_code(0xC5, 8); // length symbol 285 = 258, no extra bits
        bits.put_code(0, 5); // distance symbol 0 = 1
        left -= 258;
    }
    for _ in 0..left {
        bits.put_code(0x30, 8);
    }
    bits.put_code(0, 7); // end of block (256)
    let mut out = vec![0x78, 0x01];
    out.extend_from_slice(&bits.finish());
    // Adler-32 of zeros: a stays 1, b adds 1 per byte.
    let b = (len % 65_521) as u32;
    out.extend_from_slice(&((b << 16) | 1).to_be_bytes());
    out
}

#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    count: u32,
}

impl BitWriter {
    /// Writes `n` bits of `value`, least significant first (DEFLATE's order for everything but
    /// Huffman codes).
    fn put(&mut self, value: u32, n: u32) {
        self.acc |= u64::from(value) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.count -= 8;
        }
    }

    /// Writes a Huffman code, most significant bit first.
    fn put_code(&mut self, code: u32, n: u32) {
        let reversed = code.reverse_bits() >> (32 - n);
        self.put(reversed, n);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream is checked by the png crate's inflater: as the IDAT of a one-row greyscale
    /// PNG of `len - 1` pixels (plus the row's filter byte), it must decode, Adler-32 and all.
    #[test]
    fn the_zlib_stream_inflates_to_zeros() {
        for len in [2usize, 259, 260, 1000, 70_000] {
            let width = (len - 1) as u32;
            let mut ihdr = width.to_be_bytes().to_vec();
            ihdr.extend_from_slice(&1u32.to_be_bytes());
            ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
            let mut file = b"\x89PNG\r\n\x1a\n".to_vec();
            file.extend_from_slice(&png_chunk(b"IHDR", &ihdr));
            file.extend_from_slice(&png_chunk(b"IDAT", &zlib_zeros(len)));
            file.extend_from_slice(&png_chunk(b"IEND", &[]));
            let mut reader = png::Decoder::new(std::io::Cursor::new(file.as_slice()))
                .read_info()
                .unwrap();
            let mut buf = vec![1u8; reader.output_buffer_size().unwrap()];
            reader.next_frame(&mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == 0), "{len}");
        }
    }

    #[test]
    fn the_bombs_are_small() {
        assert!(png_with_iccp(100 << 20).len() < 1 << 20);
        assert!(gif_frame_outside_screen(4000).len() < 200_000);
    }
}
