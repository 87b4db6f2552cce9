//! `imagedesk report`: the catalogue's findings, one per row.

use super::args::ReportArgs;
use super::catalogue::Catalogue;
use super::outcome::{CliError, Exit};
use super::rows::{Cell, Rows, print};
use crate::sync::{Engine, LocalImage};

pub const COLUMNS: &[&str] = &["kind", "product_id", "sku", "image_id", "detail"];

/// The zoom box's side (SPEC §1): an original whose longer side is shorter cannot fill it.
pub const ZOOM_SIDE: u32 = 1280;

/// What a finding is about, in the order rows of one product come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    NoImages,
    NoThumbnail,
    NoAltText,
    TooSmall,
    Duplicate,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::NoImages => "no-images",
            FindingKind::NoThumbnail => "no-thumbnail",
            FindingKind::NoAltText => "no-alt-text",
            FindingKind::TooSmall => "too-small",
            FindingKind::Duplicate => "duplicate",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub product_id: i64,
    pub sku: String,
    /// The store's id of the image; `None` for a finding about the product, or an image whose
    /// create has not reached the store yet.
    pub image_id: Option<i64>,
    pub detail: String,
}

pub async fn run(
    engine: &Engine,
    args: &ReportArgs,
    catalogue: Catalogue,
) -> Result<Exit, CliError> {
    let duplicates = super::duplicates::find(engine, &catalogue).await?;
    let findings = findings(&catalogue, &duplicates);
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
                    Cell::text(&f.detail),
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

/// Every finding, by product id, then kind, then image (in the product's order).
/// `duplicates`: pairs of images of one product showing the same picture, the later one first.
pub fn findings(catalogue: &Catalogue, duplicates: &[(LocalImage, LocalImage)]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for product in &catalogue.products {
        let images = catalogue.images_of(product.id);
        let finding = |kind, image: Option<&LocalImage>, detail: String| Finding {
            kind,
            product_id: product.id,
            sku: product.sku.clone(),
            image_id: image.and_then(|i| i.server_id),
            detail,
        };
        if images.is_empty() {
            findings.push(finding(FindingKind::NoImages, None, String::new()));
            continue;
        }
        if !images.iter().any(|i| i.is_thumbnail) {
            findings.push(finding(FindingKind::NoThumbnail, None, String::new()));
        }
        for image in images.iter().filter(|i| i.description.trim().is_empty()) {
            findings.push(finding(FindingKind::NoAltText, Some(image), String::new()));
        }
        for image in images {
            if let (Some(width), Some(height)) = (image.width, image.height)
                && width.max(height) < ZOOM_SIDE
            {
                findings.push(finding(
                    FindingKind::TooSmall,
                    Some(image),
                    format!("{width}x{height} px, under the {ZOOM_SIDE} px zoom box"),
                ));
            }
        }
        for (later, earlier) in duplicates
            .iter()
            .filter(|(a, _)| a.product_id == product.id)
        {
            let other = earlier.server_id.map_or_else(
                || "a picture not sent yet".to_owned(),
                |id| format!("image {id}"),
            );
            findings.push(finding(
                FindingKind::Duplicate,
                Some(later),
                format!("the same picture as {other}"),
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::store_cli::catalogue::Freshness;
    use crate::sync::{ImageId, ProductSummary, SyncState};

    fn product(id: i64, images: u64, thumb: bool) -> ProductSummary {
        ProductSummary {
            id,
            name: format!("P{id}"),
            sku: format!("S{id}"),
            image_count: images,
            has_thumbnail: thumb,
            pending_edits: 0,
        }
    }

    fn image(id: i64, product_id: i64, description: &str, size: Option<(u32, u32)>) -> LocalImage {
        LocalImage {
            id: ImageId(id),
            server_id: Some(100 + id),
            product_id,
            sort_order: id,
            is_thumbnail: false,
            description: description.to_owned(),
            image_file: String::new(),
            date_created: String::new(),
            date_modified: None,
            zoom_url: None,
            standard_url: None,
            thumbnail_url: None,
            tiny_url: None,
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            file_size: None,
            local_file: None,
            sync: SyncState::Synced,
        }
    }

    #[test]
    fn each_kind_is_found_once_in_its_place() {
        let mut thumb = image(1, 2, "front", Some((1600, 1200)));
        thumb.is_thumbnail = true;
        let small = image(2, 2, " ", Some((900, 600)));
        let unknown_size = image(3, 3, "", None);
        let catalogue = Catalogue {
            products: vec![
                product(1, 0, false),
                product(2, 2, true),
                product(3, 1, false),
            ],
            images: BTreeMap::from([
                (2, vec![thumb.clone(), small.clone()]),
                (3, vec![unknown_size]),
            ]),
            freshness: Freshness::Offline,
            unreadable: 0,
        };
        let found: Vec<(&str, i64, Option<i64>, String)> =
            findings(&catalogue, &[(small.clone(), thumb.clone())])
                .into_iter()
                .map(|f| (f.kind.name(), f.product_id, f.image_id, f.detail))
                .collect();
        assert_eq!(
            found,
            vec![
                ("no-images", 1, None, String::new()),
                ("no-alt-text", 2, Some(102), String::new()),
                (
                    "too-small",
                    2,
                    Some(102),
                    "900x600 px, under the 1280 px zoom box".to_owned()
                ),
                (
                    "duplicate",
                    2,
                    Some(102),
                    "the same picture as image 101".to_owned()
                ),
                ("no-thumbnail", 3, None, String::new()),
                ("no-alt-text", 3, Some(103), String::new()),
            ]
        );
    }
}
