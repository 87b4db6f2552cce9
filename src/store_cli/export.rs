//! `imagedesk export FILE.csv`: every image of the store, in the columns `import` reads back
//! (written by [`crate::sync::catalogue_csv::export`], which the app's export uses too).

use std::path::Path;

use super::args::ExportArgs;
use super::catalogue::Catalogue;
use super::outcome::{CliError, Exit};
use crate::durable;
use crate::sync::catalogue_csv;

pub fn run(args: &ExportArgs, catalogue: &Catalogue) -> Result<Exit, CliError> {
    let export = catalogue_csv::export(&catalogue.products, &catalogue.images).map_err(|err| {
        CliError::Setup {
            context: "could not write the CSV",
            source: err.into(),
        }
    })?;
    if export.unsent > 0 {
        eprintln!(
            "note: {} pictures not yet on the store are left out (`imagedesk sync` sends them)",
            export.unsent
        );
    }
    write(&args.file, &export.bytes)?;
    println!(
        "exported {} images of {} products to {}",
        export.images,
        catalogue.products.len(),
        args.file.display()
    );
    eprintln!("{}", catalogue.freshness.sentence());
    Ok(catalogue.exit())
}

/// The whole file or nothing: a temporary file beside it, synced, then renamed over it.
fn write(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    durable::write(path, bytes).map_err(|err| CliError::Setup {
        context: "could not write the CSV file",
        source: anyhow::anyhow!("{}: {err}", path.display()),
    })
}
