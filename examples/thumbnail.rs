//! Makes thumbnails with exactly the server's code path (probe, DCT-scaled decode for JPEG,
//! fast_image_resize, encode), for measuring against `vipsthumbnail`:
//!
//! `cargo run --release --example thumbnail -- IN OUT SIZE` writes one copy fitted to a
//! SIZE×SIZE box;
//! `cargo run --release --example thumbnail -- IN OUT all` does what an upload does: all four
//! variants (zoom, standard, thumbnail, tiny) from one decode, written as `OUT` with the
//! variant's name before the extension.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use imagedesk::imaging::{self, BoxSize, VARIANT_BOXES};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, size] = args.as_slice() else {
        anyhow::bail!("usage: thumbnail IN OUT SIZE|all (SIZE: the side of the square box)");
    };
    let bytes = std::fs::read(input).with_context(|| format!("could not read {input}"))?;
    if size == "all" {
        let boxes: Vec<BoxSize> = VARIANT_BOXES.iter().map(|(_, b)| *b).collect();
        let processed = imaging::make_variants(&bytes, &boxes)?;
        for ((variant, _), copy) in VARIANT_BOXES.iter().zip(&processed.variants) {
            let path = named_for(Path::new(output), variant.as_str());
            std::fs::write(&path, &copy.bytes)
                .with_context(|| format!("could not write {}", path.display()))?;
        }
        return Ok(());
    }
    let size: u32 = size
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .with_context(|| format!("SIZE must be a positive integer or 'all', not '{size}'"))?;
    let processed = imaging::make_variants(&bytes, &[BoxSize::square(size)])?;
    let variant = processed
        .variants
        .first()
        .context("no variant was produced")?;
    std::fs::write(output, &variant.bytes).with_context(|| format!("could not write {output}"))?;
    Ok(())
}

/// `out/photo.jpg` + `zoom` → `out/photo.zoom.jpg`.
fn named_for(output: &Path, variant: &str) -> PathBuf {
    let stem = output.file_stem().unwrap_or_default().to_string_lossy();
    let name = match output.extension() {
        Some(ext) => format!("{stem}.{variant}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{variant}"),
    };
    output.with_file_name(name)
}
