//! `imagedesk export FILE.csv`: every image of the store, in the columns `import` reads back.

use std::path::Path;

use super::args::ExportArgs;
use super::catalogue::{Catalogue, original_url};
use super::outcome::{CliError, Exit};
use super::rows::{Cell, Rows};
use crate::durable;

/// The columns of `export` and `import` (SPEC §3).
pub const COLUMNS: &[&str] = &[
    "product_id",
    "sku",
    "image_id",
    "sort_order",
    "is_thumbnail",
    "description",
    "source",
];

pub fn run(args: &ExportArgs, catalogue: &Catalogue) -> Result<Exit, CliError> {
    let rows = rows(catalogue);
    let count = rows.rows.len();
    let bytes = rows.csv().map_err(|err| CliError::Setup {
        context: "could not write the CSV",
        source: err.into(),
    })?;
    write(&args.file, &bytes)?;
    println!(
        "exported {count} images of {} products to {}",
        catalogue.products.len(),
        args.file.display()
    );
    eprintln!("{}", catalogue.freshness.sentence());
    Ok(catalogue.exit())
}

/// One row per image, by product id then the product's order. Images whose create has not
/// reached the store have no id yet: their row has an empty `image_id` (so an import of the
/// file would add them again) and is left out, with a note.
pub fn rows(catalogue: &Catalogue) -> Rows {
    let mut rows = Vec::new();
    let mut unsent = 0;
    for product in &catalogue.products {
        for image in catalogue.images_of(product.id) {
            let Some(image_id) = image.server_id else {
                unsent += 1;
                continue;
            };
            rows.push(vec![
                Cell::number(product.id),
                Cell::text(&product.sku),
                Cell::number(image_id),
                Cell::number(image.sort_order),
                Cell::text(if image.is_thumbnail { "true" } else { "false" }),
                Cell::text(&image.description),
                Cell::text(original_url(image)),
            ]);
        }
    }
    if unsent > 0 {
        eprintln!(
            "note: {unsent} pictures not yet on the store are left out (`imagedesk sync` sends them)"
        );
    }
    Rows {
        columns: COLUMNS,
        rows,
    }
}

/// The whole file or nothing: a temporary file beside it, synced, then renamed over it.
fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    durable::write(path, bytes).map_err(|err| CliError::Setup {
        context: "could not write the CSV file",
        source: anyhow::anyhow!("{}: {err}", path.display()),
    })
}
