//! `imagedesk report`: the catalogue's findings (`sync::findings`), one per row.

use super::args::ReportArgs;
use super::catalogue::Catalogue;
use super::outcome::{CliError, Exit};
use super::rows::{Cell, Rows, print};
use crate::sync::{Engine, findings};

pub const COLUMNS: &[&str] = &["kind", "product_id", "sku", "image_id", "detail"];

pub async fn run(
    engine: &Engine,
    args: &ReportArgs,
    catalogue: Catalogue,
) -> Result<Exit, CliError> {
    let duplicates = super::duplicates::find(engine, &catalogue).await?;
    let findings = findings::findings(&catalogue.products, &catalogue.images, &duplicates);
    let rows = Rows {
        columns: COLUMNS,
        rows: findings
            .iter()
            .map(|f| {
                vec![
                    Cell::text(f.kind.name()),
                    Cell::number(f.product_id),
                    Cell::text(&f.sku),
                    Cell::maybe(f.image_id),
                    Cell::text(f.detail.words()),
                ]
            })
            .collect(),
    };
    let write_error = |err: std::io::Error| CliError::Setup {
        context: "could not write the report",
        source: err.into(),
    };
    let bytes = rows
        .render(
            args.format,
            "findings",
            vec![("read_from_store", catalogue.freshness.is_current().into())],
        )
        .map_err(write_error)?;
    print(&bytes).map_err(write_error)?;
    let products = {
        let mut ids: Vec<i64> = findings.iter().map(|f| f.product_id).collect();
        ids.dedup();
        ids.len()
    };
    eprintln!(
        "{} findings in {products} of {} products; {}",
        findings.len(),
        catalogue.products.len(),
        catalogue.freshness.sentence()
    );
    Ok(catalogue.exit())
}
