//! Writes the demo store's pictures into `assets/demo/` (committed; the server embeds them).
//!
//! `cargo run --release --example gen_demo_assets`

use std::path::Path;

use imagedesk::imaging::synthetic;

fn main() -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    std::fs::create_dir_all(&dir)?;
    for seed in 1..=14u64 {
        // Alternate landscape, portrait and square shots, as a real catalogue has.
        let (w, h) = match seed % 3 {
            0 => (800, 600),
            1 => (600, 800),
            _ => (720, 720),
        };
        let bytes = synthetic::jpeg(&synthetic::photo(w, h, seed), 78, seed % 5 == 0, None);
        std::fs::write(dir.join(format!("photo-{seed:02}.jpg")), bytes)?;
    }
    let cutout = synthetic::cutout(640, 640, 99);
    std::fs::write(
        dir.join("cutout-01.png"),
        synthetic::png(&image::DynamicImage::ImageRgba8(cutout)),
    )?;
    println!("wrote demo pictures to {}", dir.display());
    Ok(())
}
