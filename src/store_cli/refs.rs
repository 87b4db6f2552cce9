//! The values that name things on a store: `PRODUCT` and lists of `IMAGE`s. Parsed by clap, so
//! a malformed one is a usage error (exit status 2) before anything is opened.

use std::str::FromStr;

/// A product, by the store's id or by its SKU (`sku:ABC-1`); the same value names a CSV
/// row's product, so it lives with the CSV's reading.
pub use crate::sync::catalogue_csv::ProductRef;

/// Why a `PRODUCT` or `IMAGE` argument was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    #[error("'{0}' is not a product: give its id (a positive number) or sku:SKU")]
    Product(String),
    #[error("'sku:' needs the SKU after it, e.g. sku:ABC-1")]
    EmptySku,
    #[error("'{0}' is not an image id (a positive number)")]
    Image(String),
    #[error("the list of images is empty")]
    EmptyList,
    #[error("image {0} is listed twice")]
    Repeated(i64),
}

impl FromStr for ProductRef {
    type Err = RefError;

    fn from_str(text: &str) -> Result<ProductRef, RefError> {
        if let Some(sku) = text.strip_prefix("sku:") {
            if sku.is_empty() {
                return Err(RefError::EmptySku);
            }
            return Ok(ProductRef::Sku(sku.to_owned()));
        }
        match text.parse::<i64>() {
            Ok(id) if id > 0 => Ok(ProductRef::Id(id)),
            _ => Err(RefError::Product(text.to_owned())),
        }
    }
}

/// A store image id, as the store numbers it (not the app's local handle).
pub fn image_id(text: &str) -> Result<i64, RefError> {
    match text.trim().parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(RefError::Image(text.to_owned())),
    }
}

/// `IMAGE,IMAGE,…`: store image ids, each once, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageList(pub Vec<i64>);

impl FromStr for ImageList {
    type Err = RefError;

    fn from_str(text: &str) -> Result<ImageList, RefError> {
        let mut ids = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let id = image_id(part)?;
            if ids.contains(&id) {
                return Err(RefError::Repeated(id));
            }
            ids.push(id);
        }
        if ids.is_empty() {
            return Err(RefError::EmptyList);
        }
        Ok(ImageList(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_by_id_or_sku() {
        assert_eq!("42".parse(), Ok(ProductRef::Id(42)));
        assert_eq!("sku:A-1".parse(), Ok(ProductRef::Sku("A-1".into())));
        assert_eq!("sku:".parse::<ProductRef>(), Err(RefError::EmptySku));
        assert!("0".parse::<ProductRef>().is_err());
        assert!("SKU:A".parse::<ProductRef>().is_err());
    }

    #[test]
    fn image_lists() {
        assert_eq!("3, 1,2".parse(), Ok(ImageList(vec![3, 1, 2])));
        assert_eq!("3,3".parse::<ImageList>(), Err(RefError::Repeated(3)));
        assert_eq!(",".parse::<ImageList>(), Err(RefError::EmptyList));
        assert!("3,x".parse::<ImageList>().is_err());
    }
}
