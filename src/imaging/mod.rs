//! Decoding, validation and resizing of product images, shared by the server (variants at upload)
//! and the desktop app (grid tiles).
//!
//! Everything here is synchronous and CPU-bound: callers on an async runtime run it inside
//! `spawn_blocking`.

pub mod bombs;
mod cancel;
mod decode;
mod encode;
mod geometry;
mod gif_decode;
mod jpeg_markers;
mod libjpeg;
mod phash;
mod png_decode;
pub mod synthetic;
mod tile;

pub use cancel::{Cancel, CancelOnDrop};
pub use decode::{DecodedImage, decode_to_fit};
pub use encode::encode_like;
pub use geometry::{BoxSize, fit_within};
pub use jpeg_markers::{JpegLayout, jpeg_layout};
pub use phash::{PerceptualHash, SAME_PICTURE_MAX_DISTANCE, hash_decoded, perceptual_hash};
pub use tile::decode_tile_rgba;

use std::io::Cursor;

/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Largest image accepted, in pixels (width × height), checked from the header before decoding.
pub const MAX_PIXELS: u64 = 50_000_000;
/// Most scans a JPEG may have. Each scan of a progressive JPEG is a full pass over the
/// coefficients, so a file of thousands of tiny scans costs minutes of CPU. Encoders write
/// 1 (baseline), 10 (libjpeg's progressive script) or up to about 20 (mozjpeg's optimised
/// scans); 100 leaves room for any real encoder and bounds the work (see `jpeg_markers`).
pub const MAX_JPEG_SCANS: u32 = 100;
/// Most bytes a decoder may allocate for one upload: covers a 50 MP RGBA frame (200 MB) and
/// the coefficients of a 50 MP progressive 4:4:4 JPEG (300 MB), and is set on every decoder
/// before it reads the first byte, ancillary chunks included.
pub const MAX_DECODE_BYTES: u64 = 320 * 1024 * 1024;

/// The boxes of the four derived copies, largest first (SPEC §1).
pub const VARIANT_BOXES: [(Variant, BoxSize); 4] = [
    (Variant::Zoom, BoxSize::new(1280, 1280)),
    (Variant::Standard, BoxSize::new(386, 513)),
    (Variant::Thumbnail, BoxSize::new(220, 290)),
    (Variant::Tiny, BoxSize::new(44, 58)),
];

/// The derived copies the server keeps of every original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    Zoom,
    Standard,
    Thumbnail,
    Tiny,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Zoom,
        Variant::Standard,
        Variant::Thumbnail,
        Variant::Tiny,
    ];

    /// The path segment used in URLs and on disk.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Zoom => "zoom",
            Variant::Standard => "standard",
            Variant::Thumbnail => "thumbnail",
            Variant::Tiny => "tiny",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// The formats imagedesk accepts, proven from the bytes, never from a file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    WebP,
    Bmp,
}

impl ImageFormat {
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::WebP => "webp",
            ImageFormat::Bmp => "bmp",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::WebP => "image/webp",
            ImageFormat::Bmp => "image/bmp",
        }
    }

    /// The format named by a stored file's extension (as written by [`ImageFormat::extension`]).
    pub fn from_extension(ext: &str) -> Option<ImageFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "jpg" | "jpeg" => Some(ImageFormat::Jpeg),
            "png" => Some(ImageFormat::Png),
            "gif" => Some(ImageFormat::Gif),
            "webp" => Some(ImageFormat::WebP),
            "bmp" => Some(ImageFormat::Bmp),
            _ => None,
        }
    }

    /// Derived copies of JPEG originals are JPEG; all others are PNG (keeps transparency).
    pub fn variant_format(self) -> ImageFormat {
        match self {
            ImageFormat::Jpeg => ImageFormat::Jpeg,
            _ => ImageFormat::Png,
        }
    }

    fn to_image_crate(self) -> image::ImageFormat {
        match self {
            ImageFormat::Jpeg => image::ImageFormat::Jpeg,
            ImageFormat::Png => image::ImageFormat::Png,
            ImageFormat::Gif => image::ImageFormat::Gif,
            ImageFormat::WebP => image::ImageFormat::WebP,
            ImageFormat::Bmp => image::ImageFormat::Bmp,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImagingError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {0} bytes; at most {MAX_FILE_BYTES} bytes are accepted")]
    FileTooLarge(usize),
    #[error("the data is not a JPEG, PNG, GIF, WebP or BMP image")]
    UnsupportedFormat,
    #[error("the image is {width}×{height} pixels; at most {MAX_PIXELS} pixels are accepted")]
    TooManyPixels { width: u32, height: u32 },
    #[error("the JPEG has {scans} scans; at most {MAX_JPEG_SCANS} are accepted")]
    TooManyScans { scans: u32 },
    #[error("decoding the image would need more than {MAX_DECODE_BYTES} bytes of memory")]
    NeedsTooMuchMemory,
    #[error("the upload was cancelled")]
    Cancelled,
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    #[error("the image could not be encoded: {0}")]
    Encode(String),
    #[error("the image could not be resized: {0}")]
    Resize(String),
}

/// What the header of an accepted image says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// Identifies the format from magic bytes.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, ImagingError> {
    if bytes.is_empty() {
        return Err(ImagingError::Empty);
    }
    match image::guess_format(bytes) {
        Ok(image::ImageFormat::Jpeg) => Ok(ImageFormat::Jpeg),
        Ok(image::ImageFormat::Png) => Ok(ImageFormat::Png),
        Ok(image::ImageFormat::Gif) => Ok(ImageFormat::Gif),
        Ok(image::ImageFormat::WebP) => Ok(ImageFormat::WebP),
        Ok(image::ImageFormat::Bmp) => Ok(ImageFormat::Bmp),
        _ => Err(ImagingError::UnsupportedFormat),
    }
}

/// Checks size, format and pixel count from the header alone, so that a decompression bomb is
/// refused before a single pixel is allocated.
pub fn probe(bytes: &[u8]) -> Result<Probe, ImagingError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ImagingError::FileTooLarge(bytes.len()));
    }
    let format = sniff(bytes)?;
    let (width, height) = header_dimensions(bytes, format)?;
    if width == 0 || height == 0 {
        return Err(ImagingError::Decode("the image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(ImagingError::TooManyPixels { width, height });
    }
    Ok(Probe {
        format,
        width,
        height,
    })
}

fn header_dimensions(bytes: &[u8], format: ImageFormat) -> Result<(u32, u32), ImagingError> {
    if format == ImageFormat::Png {
        return png_decode::dimensions(bytes);
    }
    if format == ImageFormat::Jpeg {
        check_jpeg_layout(bytes)?;
        let mut decoder = jpeg_decoder::Decoder::new(Cursor::new(bytes));
        decoder
            .read_info()
            .map_err(|e| ImagingError::Decode(e.to_string()))?;
        let info = decoder
            .info()
            .ok_or_else(|| ImagingError::Decode("the JPEG has no frame header".into()))?;
        return Ok((u32::from(info.width), u32::from(info.height)));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.to_image_crate());
    reader.limits(decode::decode_limits());
    reader.into_dimensions().map_err(decode::image_error)
}

/// Refuses a JPEG whose decoding would cost more than the limits allow, from its marker
/// segments alone: too many scans, or (when the frame comes in several scans and the decoder
/// must keep every coefficient) too much coefficient memory.
fn check_jpeg_layout(bytes: &[u8]) -> Result<JpegLayout, ImagingError> {
    let Some(layout) = jpeg_markers::jpeg_layout(bytes) else {
        return Err(ImagingError::UnsupportedFormat);
    };
    if layout.scans > MAX_JPEG_SCANS {
        return Err(ImagingError::TooManyScans {
            scans: layout.scans,
        });
    }
    if (layout.progressive || layout.scans > 1) && layout.coefficient_bytes > MAX_DECODE_BYTES {
        return Err(ImagingError::NeedsTooMuchMemory);
    }
    Ok(layout)
}

/// One derived copy, encoded.
#[derive(Debug, Clone)]
pub struct EncodedImage {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub bytes: Vec<u8>,
}

/// The result of processing an upload: what the original is, and its derived copies.
#[derive(Debug)]
pub struct Processed {
    pub probe: Probe,
    /// Width and height after EXIF orientation.
    pub oriented: (u32, u32),
    pub variants: Vec<EncodedImage>,
}

/// Validates an original and makes one encoded copy per box, from a single decode: the image is
/// decoded (DCT-scaled for JPEG) just large enough for the first box, and each later box is
/// resized from the previous copy. Boxes must be given largest first.
pub fn make_variants(bytes: &[u8], boxes: &[BoxSize]) -> Result<Processed, ImagingError> {
    make_variants_until(bytes, boxes, &Cancel::never())
}

/// [`make_variants`] that stops with [`ImagingError::Cancelled`] at the first step boundary
/// after `cancel` is raised.
pub fn make_variants_until(
    bytes: &[u8],
    boxes: &[BoxSize],
    cancel: &Cancel,
) -> Result<Processed, ImagingError> {
    cancel.check()?;
    let probe = probe(bytes)?;
    let Some(first) = boxes.first() else {
        return Ok(Processed {
            probe,
            oriented: (probe.width, probe.height),
            variants: Vec::new(),
        });
    };
    let decoded = decode::decode_to_fit_until(bytes, probe, *first, cancel)?;
    cancel.check()?;
    let oriented = decoded.oriented_source;
    let out_format = probe.format.variant_format();
    let mut variants = Vec::with_capacity(boxes.len());
    let mut current = decoded;
    for (i, b) in boxes.iter().enumerate() {
        if i > 0 {
            let (w, h) = fit_within(oriented.0, oriented.1, *b);
            current = current.resized(w, h)?;
            cancel.check()?;
        }
        variants.push(encode_like(&current, out_format)?);
        cancel.check()?;
    }
    Ok(Processed {
        probe,
        oriented,
        variants,
    })
}
