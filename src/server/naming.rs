//! The stored name of an image: `{letter}/{3 digits}/{slug}__{5 digits}.{ext}` (SPEC §1).

use rand::Rng as _;

use crate::api::naming::slug;

/// A fresh stored name; the bucket and suffix are random, so callers retry on a collision.
pub fn image_file(source_name: &str, extension: &str) -> String {
    let mut rng = rand::rng();
    let letter = char::from(b'a' + rng.random_range(0..26u8));
    let bucket: u32 = rng.random_range(0..1000);
    let suffix: u32 = rng.random_range(0..100_000);
    format!(
        "{letter}/{bucket:03}/{}__{suffix:05}.{extension}",
        slug(source_name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_file_has_the_stored_shape() {
        let name = image_file("My Photo.jpeg", "jpg");
        let parts: Vec<&str> = name.split('/').collect();
        assert_eq!(parts.len(), 3);
        assert!(parts[0].len() == 1 && parts[0].chars().all(|c| c.is_ascii_lowercase()));
        assert!(parts[1].len() == 3 && parts[1].chars().all(|c| c.is_ascii_digit()));
        let (stem, ext) = parts[2].rsplit_once('.').unwrap();
        assert_eq!(ext, "jpg");
        let (slug, digits) = stem.rsplit_once("__").unwrap();
        assert_eq!(slug, "my-photo");
        assert!(digits.len() == 5 && digits.chars().all(|c| c.is_ascii_digit()));
    }
}
