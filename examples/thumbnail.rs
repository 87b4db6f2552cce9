//! Makes one thumbnail with exactly the server's code path (probe, DCT-scaled decode for JPEG,
//! fast_image_resize, encode), for measuring against `vipsthumbnail`:
//!
//! `cargo run --release --example thumbnail -- IN OUT SIZE`

use anyhow::Context as _;
use imagedesk::imaging::{self, BoxSize};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, size] = args.as_slice() else {
        anyhow::bail!("usage: thumbnail IN OUT SIZE (SIZE: the side of the square box, in pixels)");
    };
    let size: u32 = size
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .with_context(|| format!("SIZE must be a positive integer, not '{size}'"))?;
    let bytes = std::fs::read(input).with_context(|| format!("could not read {input}"))?;
    let processed = imaging::make_variants(&bytes, &[BoxSize::square(size)])?;
    let variant = processed
        .variants
        .first()
        .context("no variant was produced")?;
    std::fs::write(output, &variant.bytes).with_context(|| format!("could not write {output}"))?;
    Ok(())
}
