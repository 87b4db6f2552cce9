//! The catalogue's findings (`imagedesk report`, the app's Reports view): products without
//! pictures or without a thumbnail, pictures without alt text, originals too small to fill the
//! zoom box, the same picture twice in one product. Computed from the replica, so the command
//! line and the app always agree.

use std::collections::BTreeMap;

use super::model::{ImageId, LocalImage, ProductSummary};

/// The zoom box's side (SPEC §1): an original whose longer side is shorter cannot fill it.
pub const ZOOM_SIDE: u32 = 1280;

/// What a finding is about, in the order the rows of one product come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    NoImages,
    NoThumbnail,
    NoAltText,
    TooSmall,
    Duplicate,
}

impl FindingKind {
    pub const ALL: [FindingKind; 5] = [
        FindingKind::NoImages,
        FindingKind::NoThumbnail,
        FindingKind::NoAltText,
        FindingKind::TooSmall,
        FindingKind::Duplicate,
    ];

    /// The name scripts see (SPEC §3).
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

/// What more a finding says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindingDetail {
    Nothing,
    /// The original's size, under [`ZOOM_SIDE`] on its longer side.
    Size {
        width: u32,
        height: u32,
    },
    /// The image shows the same picture as this earlier one of the product.
    SameAs {
        image: ImageId,
        /// The store's id of that image; `None` while its create has not reached the store.
        image_id: Option<i64>,
    },
}

impl FindingDetail {
    /// The report's `detail` column.
    pub fn words(&self) -> String {
        match self {
            FindingDetail::Nothing => String::new(),
            FindingDetail::Size { width, height } => {
                format!("{width}x{height} px, under the {ZOOM_SIDE} px zoom box")
            }
            FindingDetail::SameAs { image_id, .. } => match image_id {
                Some(id) => format!("the same picture as image {id}"),
                None => "the same picture as one not on the store yet".to_owned(),
            },
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub product_id: i64,
    pub sku: String,
    /// The image it is about; `None` for a finding about the product.
    pub image: Option<ImageId>,
    /// The store's id of that image; `None` also while its create has not reached the store.
    pub image_id: Option<i64>,
    pub detail: FindingDetail,
}

/// A report and what it was made from (the app shows pictures and names from it).
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub products: Vec<ProductSummary>,
    /// Each product's visible images in display order.
    pub images: BTreeMap<i64, Vec<LocalImage>>,
}

/// Every finding, by product id, then kind, then image in the product's order. `images` holds
/// each product's visible images in display order; `duplicates` are pairs of images of one
/// product that show the same picture, in any order.
pub fn findings(
    products: &[ProductSummary],
    images: &BTreeMap<i64, Vec<LocalImage>>,
    duplicates: &[(ImageId, ImageId)],
) -> Vec<Finding> {
    let mut found = Vec::new();
    for product in products {
        let shown = images.get(&product.id).map_or(&[][..], Vec::as_slice);
        let finding = |kind, image: Option<&LocalImage>, detail| Finding {
            kind,
            product_id: product.id,
            sku: product.sku.clone(),
            image: image.map(|i| i.id),
            image_id: image.and_then(|i| i.server_id),
            detail,
        };
        if shown.is_empty() {
            found.push(finding(FindingKind::NoImages, None, FindingDetail::Nothing));
            continue;
        }
        if !shown.iter().any(|i| i.is_thumbnail) {
            found.push(finding(
                FindingKind::NoThumbnail,
                None,
                FindingDetail::Nothing,
            ));
        }
        for image in shown.iter().filter(|i| i.description.trim().is_empty()) {
            found.push(finding(
                FindingKind::NoAltText,
                Some(image),
                FindingDetail::Nothing,
            ));
        }
        for image in shown {
            if let (Some(width), Some(height)) = (image.width, image.height)
                && width.max(height) < ZOOM_SIDE
            {
                found.push(finding(
                    FindingKind::TooSmall,
                    Some(image),
                    FindingDetail::Size { width, height },
                ));
            }
        }
        let place = |id: ImageId| shown.iter().position(|i| i.id == id);
        let mut pairs: Vec<(usize, usize)> = duplicates
            .iter()
            .filter_map(|&(a, b)| {
                let (a, b) = (place(a)?, place(b)?);
                // The later one is the finding; the earlier one is what it repeats.
                (a != b).then(|| (a.max(b), a.min(b)))
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        for (later, earlier) in pairs {
            found.push(finding(
                FindingKind::Duplicate,
                Some(&shown[later]),
                FindingDetail::SameAs {
                    image: shown[earlier].id,
                    image_id: shown[earlier].server_id,
                },
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

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
            description: description.to_owned(),
            width: size.map(|s| s.0),
            height: size.map(|s| s.1),
            ..LocalImage::example(id, product_id)
        }
    }

    #[test]
    fn each_kind_is_found_once_in_its_place() {
        let mut thumb = image(1, 2, "front", Some((1600, 1200)));
        thumb.is_thumbnail = true;
        let small = image(2, 2, " ", Some((900, 600)));
        let unknown_size = image(3, 3, "", None);
        let images = BTreeMap::from([(2, vec![thumb, small]), (3, vec![unknown_size])]);
        let products = [
            product(1, 0, false),
            product(2, 2, true),
            product(3, 1, false),
        ];
        // Named earlier-first, and twice: one finding, on the later image.
        let duplicates = [(ImageId(1), ImageId(2)), (ImageId(2), ImageId(1))];
        let found: Vec<(&str, i64, Option<i64>, String)> =
            findings(&products, &images, &duplicates)
                .into_iter()
                .map(|f| (f.kind.name(), f.product_id, f.image_id, f.detail.words()))
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
