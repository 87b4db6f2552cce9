//! Writes the benchmark inputs into a folder: a 6000×4000 baseline JPEG (24 MP), a progressive
//! one, one with EXIF orientation 6, and a 2000×2000 PNG, all synthetic photographs.
//!
//! `cargo run --release --example gen_bench_images -- DIR`

use std::path::PathBuf;

use imagedesk::imaging::synthetic;

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/bench-images".into()),
    );
    std::fs::create_dir_all(&dir)?;
    let big = synthetic::photo(6000, 4000, 42);
    std::fs::write(
        dir.join("photo-24mp.jpg"),
        synthetic::jpeg(&big, 85, false, None),
    )?;
    std::fs::write(
        dir.join("photo-24mp-progressive.jpg"),
        synthetic::jpeg(&big, 85, true, None),
    )?;
    std::fs::write(
        dir.join("photo-24mp-exif6.jpg"),
        synthetic::jpeg(&big, 85, false, Some(6)),
    )?;
    let square = synthetic::photo(2000, 2000, 7);
    std::fs::write(
        dir.join("photo-2000.png"),
        synthetic::png(&image::DynamicImage::ImageRgb8(square)),
    )?;
    println!("wrote benchmark images to {}", dir.display());
    Ok(())
}
