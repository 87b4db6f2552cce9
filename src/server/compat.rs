//! `--compat`: which store the server behaves like. Imagedesk's own behaviour is the default;
//! `bc-v2` imitates what a real BigCommerce v2 store does where it differs (SPEC §2), so that a
//! client, the sync engine or an integration can be tested against those quirks without a real
//! store. The differences live here and at the few places that ask [`Compat`].

use serde_json::Value;

use crate::api::types::Image;

/// Which store the server imitates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Compat {
    /// imagedesk's own store: lists in (sort_order, id) order, `*_url` fields in every answer,
    /// Idempotency-Key honoured and echoed, multipart uploads on v2, a quota per token.
    #[default]
    Imagedesk,
    /// A real BigCommerce v2 store: lists in id order, 204 for an empty page, `null` for an
    /// empty description, no `*_url` (or extension) fields in answers to POST and PUT,
    /// Idempotency-Key ignored, multipart refused on v2 (use v3), one quota for the whole store.
    #[value(name = "bc-v2")]
    BcV2,
}

/// The order a list of images is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListOrder {
    /// SPEC's list order: (`sort_order`, `id`).
    SortOrder,
    /// A BigCommerce v2 store's: by id, whatever the sort orders say.
    Id,
}

/// What an image record is rendered for: answers to writes are leaner on a BigCommerce store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// A list or a single GET.
    Read,
    /// The answer to a POST or a PUT.
    Write,
}

/// The fields a BigCommerce v2 store sends back from a POST or a PUT (the seed's examples):
/// no `*_url`, no `date_modified`, none of imagedesk's extensions.
const BC_V2_WRITE_FIELDS: [&str; 7] = [
    "id",
    "product_id",
    "image_file",
    "is_thumbnail",
    "sort_order",
    "description",
    "date_created",
];

impl Compat {
    pub fn list_order(self) -> ListOrder {
        match self {
            Compat::Imagedesk => ListOrder::SortOrder,
            Compat::BcV2 => ListOrder::Id,
        }
    }

    /// Whether an empty list (or a page past the end) is answered 204 with no body.
    pub fn empty_list_is_no_content(self) -> bool {
        self == Compat::BcV2
    }

    /// Whether `Idempotency-Key` is honoured (replayed and echoed) rather than ignored.
    pub fn honours_idempotency_keys(self) -> bool {
        self == Compat::Imagedesk
    }

    /// Whether a v2 POST may be `multipart/form-data` (BigCommerce takes files only on v3).
    pub fn v2_takes_multipart(self) -> bool {
        self == Compat::Imagedesk
    }

    /// Whether the rate limit counts every request of the store against one quota (a real
    /// store's quota is shared by all its clients) rather than one quota per token.
    pub fn store_wide_quota(self) -> bool {
        self == Compat::BcV2
    }

    /// The image as this store sends it, rendered. imagedesk's own store serialises the wire
    /// record as it is (field order and all, as before `--compat` existed).
    pub fn render_image(self, image: &Image, answer: Answer) -> serde_json::Result<String> {
        match self {
            Compat::Imagedesk => serde_json::to_string(image),
            Compat::BcV2 => serde_json::to_string(&bc_v2_image(image, answer)?),
        }
    }

    /// A list of images as this store sends it, rendered.
    pub fn render_images(self, images: &[Image]) -> serde_json::Result<Vec<u8>> {
        match self {
            Compat::Imagedesk => {
                // About 620 bytes an image: one allocation instead of a dozen regrowths.
                let mut out = Vec::with_capacity(images.len() * 640 + 2);
                serde_json::to_writer(&mut out, images)?;
                Ok(out)
            }
            Compat::BcV2 => {
                let values = images
                    .iter()
                    .map(|image| bc_v2_image(image, Answer::Read))
                    .collect::<serde_json::Result<Vec<Value>>>()?;
                serde_json::to_vec(&values)
            }
        }
    }
}

/// The record as a BigCommerce v2 store sends it: `null` for an empty description, and only
/// the seed's fields in the answer to a write.
fn bc_v2_image(image: &Image, answer: Answer) -> serde_json::Result<Value> {
    let mut value = serde_json::to_value(image)?;
    if let Value::Object(fields) = &mut value {
        if answer == Answer::Write {
            fields.retain(|name, _| BC_V2_WRITE_FIELDS.contains(&name.as_str()));
        }
        if image.description.is_empty() {
            fields.insert("description".into(), Value::Null);
        }
        // An imagedesk extension a real store never sends: its clients hash thumbnails.
        fields.remove("perceptual_hash");
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(description: &str) -> Image {
        Image {
            id: 1,
            product_id: 2,
            image_file: "a/001/x__00001.jpg".into(),
            is_thumbnail: true,
            sort_order: 0,
            description: description.into(),
            date_created: "Fri, 21 Dec 2012 18:54:04 +0000".into(),
            date_modified: Some("Fri, 21 Dec 2012 18:54:04 +0000".into()),
            zoom_url: Some("http://h/z".into()),
            standard_url: Some("http://h/s".into()),
            thumbnail_url: Some("http://h/t".into()),
            tiny_url: Some("http://h/y".into()),
            width: Some(10),
            height: Some(10),
            file_size: Some(100),
            perceptual_hash: Some("0123456789abcdef".into()),
        }
    }

    #[test]
    fn bc_v2_writes_keep_only_the_seed_fields_and_null_descriptions() {
        let render = |compat: Compat, image: &Image, answer| -> Value {
            serde_json::from_str(&compat.render_image(image, answer).unwrap()).unwrap()
        };
        let written = render(Compat::BcV2, &image(""), Answer::Write);
        let mut names: Vec<&str> = written
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        names.sort_unstable();
        let mut expected = BC_V2_WRITE_FIELDS.to_vec();
        expected.sort_unstable();
        assert_eq!(names, expected);
        assert!(written["description"].is_null());

        let read = render(Compat::BcV2, &image("front"), Answer::Read);
        assert_eq!(read["description"], "front");
        assert_eq!(read["zoom_url"], "http://h/z");
        assert!(read.get("perceptual_hash").is_none());

        let ours = render(Compat::Imagedesk, &image(""), Answer::Write);
        assert_eq!(ours["description"], "");
        assert_eq!(ours["zoom_url"], "http://h/z");
        assert_eq!(ours["perceptual_hash"], "0123456789abcdef");

        let list: Value =
            serde_json::from_slice(&Compat::BcV2.render_images(&[image("")]).unwrap()).unwrap();
        assert!(list[0]["description"].is_null());
        assert_eq!(list[0]["tiny_url"], "http://h/y");
    }
}
