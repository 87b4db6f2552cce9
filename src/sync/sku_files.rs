//! Pictures named by SKU (`SKU.jpg`, `SKU-2.jpg`, `sku_3.png`): which product each file goes
//! to, and at which position. Pure (apart from listing a folder), so that both the store
//! command `import-folder` and the app's "Import folder…" window use one reading of names.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use super::ProductSummary;

/// The file name endings taken for pictures (case ignored); the engine checks the contents.
pub const PICTURE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "gif", "webp", "bmp"];

/// A file's name read as `SKU[-_]N.ext`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub file: PathBuf,
    /// The whole stem, and the stem without its `-N`/`_N` ending (when it has one) with N.
    pub stem: String,
    pub numbered: Option<(String, u32)>,
}

/// Why a file of the folder is left alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmatched {
    NotAPicture,
    NoSuchSku,
    /// Several products have the SKU (case ignored): which one is meant cannot be told.
    AmbiguousSku(Vec<i64>),
}

impl Unmatched {
    /// The reason in plain words.
    pub fn words(&self) -> String {
        match self {
            Unmatched::NotAPicture => "not a picture (by its name's ending)".to_owned(),
            Unmatched::NoSuchSku => "no product has this SKU".to_owned(),
            Unmatched::AmbiguousSku(ids) => {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!("several products have this SKU ({})", ids.join(", "))
            }
        }
    }
}

/// A file going to a product, at a position (counting from 1, after the product's images).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub file: PathBuf,
    pub product_id: i64,
    pub sku: String,
    pub number: u32,
    pub position: usize,
}

/// Reads a file name: `None` when it is not a picture's.
pub fn name(file: &Path) -> Option<Named> {
    let extension = file.extension()?.to_str()?.to_ascii_lowercase();
    if !PICTURE_EXTENSIONS.contains(&extension.as_str()) {
        return None;
    }
    let stem = file.file_stem()?.to_str()?.to_owned();
    let numbered = stem.rfind(['-', '_']).and_then(|at| {
        let (sku, number) = (&stem[..at], &stem[at + 1..]);
        let all_digits = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
        (all_digits && !sku.is_empty())
            .then(|| number.parse::<u32>().ok().map(|n| (sku.to_owned(), n)))
            .flatten()
    });
    Some(Named {
        file: file.to_owned(),
        stem,
        numbered,
    })
}

/// Matches the folder's files to products. The whole stem naming a SKU wins over a stem with
/// its number taken off (a SKU may itself end in `-2`). Files of one product come in number
/// order (no number counts as 1), then by name.
pub fn matches(
    files: &[PathBuf],
    products: &[ProductSummary],
    image_counts: &HashMap<i64, usize>,
) -> (Vec<Match>, Vec<(PathBuf, Unmatched)>) {
    let mut by_sku: HashMap<String, Vec<&ProductSummary>> = HashMap::new();
    for product in products.iter().filter(|p| !p.sku.trim().is_empty()) {
        by_sku
            .entry(product.sku.trim().to_lowercase())
            .or_default()
            .push(product);
    }
    let mut unmatched = Vec::new();
    let mut found: BTreeMap<i64, Vec<(u32, PathBuf, String)>> = BTreeMap::new();
    for file in files {
        let Some(named) = name(file) else {
            unmatched.push((file.clone(), Unmatched::NotAPicture));
            continue;
        };
        let whole = by_sku.get(&named.stem.to_lowercase()).map(|p| (p, 1));
        let numbered = named
            .numbered
            .as_ref()
            .and_then(|(sku, n)| by_sku.get(&sku.to_lowercase()).map(|p| (p, *n)));
        match whole.or(numbered) {
            None => unmatched.push((file.clone(), Unmatched::NoSuchSku)),
            Some((products, _)) if products.len() > 1 => unmatched.push((
                file.clone(),
                Unmatched::AmbiguousSku(products.iter().map(|p| p.id).collect()),
            )),
            Some((products, number)) => {
                let product = products[0];
                found.entry(product.id).or_default().push((
                    number,
                    file.clone(),
                    product.sku.clone(),
                ));
            }
        }
    }
    let mut matched = Vec::new();
    for (product_id, mut files) in found {
        files.sort();
        let before = image_counts.get(&product_id).copied().unwrap_or(0);
        for (rank, (number, file, sku)) in files.into_iter().enumerate() {
            matched.push(Match {
                file,
                product_id,
                sku,
                number,
                position: before + rank + 1,
            });
        }
    }
    (matched, unmatched)
}

/// The folder's files (not its subfolders), by name.
pub fn folder_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink())
        })
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// A path's file name, for showing.
pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: i64, sku: &str) -> ProductSummary {
        ProductSummary {
            id,
            name: format!("P{id}"),
            sku: sku.to_owned(),
            image_count: 0,
            has_thumbnail: false,
            pending_edits: 0,
        }
    }

    #[test]
    fn sku_files_go_in_number_order_after_the_products_images_and_others_are_listed() {
        let files: Vec<PathBuf> = [
            "other.jpg",
            "sku_3.png",
            "SKU-2.jpg",
            "SKU.jpg",
            "notes.txt",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        let products = [product(7, "SKU"), product(8, "MUG")];
        let (matched, unmatched) = matches(&files, &products, &HashMap::from([(7, 2)]));
        let order: Vec<(&str, usize)> = matched
            .iter()
            .map(|m| (m.file.to_str().unwrap(), m.position))
            .collect();
        assert_eq!(
            order,
            vec![("SKU.jpg", 3), ("SKU-2.jpg", 4), ("sku_3.png", 5)]
        );
        assert_eq!(
            unmatched,
            vec![
                (PathBuf::from("other.jpg"), Unmatched::NoSuchSku),
                (PathBuf::from("notes.txt"), Unmatched::NotAPicture),
            ]
        );
    }

    #[test]
    fn a_sku_that_ends_in_a_number_is_matched_whole_first() {
        let products = [product(1, "MUG-2"), product(2, "MUG")];
        let files = [PathBuf::from("MUG-2.jpg"), PathBuf::from("mug-2-3.jpg")];
        let (matched, _) = matches(&files, &products, &HashMap::new());
        let got: Vec<(i64, u32)> = matched.iter().map(|m| (m.product_id, m.number)).collect();
        assert_eq!(got, vec![(1, 1), (1, 3)]);
    }

    #[test]
    fn a_sku_two_products_share_is_not_guessed() {
        let products = [product(1, "A"), product(2, "a")];
        let (matched, unmatched) = matches(&[PathBuf::from("a.jpg")], &products, &HashMap::new());
        assert!(matched.is_empty());
        assert_eq!(unmatched[0].1, Unmatched::AmbiguousSku(vec![1, 2]));
    }
}
