//! The request bodies as the server judges them, for the OpenAPI document: every rule of
//! `input.rs` that a schema can say (ranges, lengths, required fields, which names are taken),
//! so that a client or a fuzzer generating from the document sends what the server accepts,
//! and what the document calls invalid is refused. The limits are `input.rs`'s and `repo.rs`'s
//! constants, and the read-only fields a write may send back are the ones `input.rs` ignores.
//!
//! These types exist for their schemas only; the wire types of `api/types.rs` stay the
//! client's.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, KnownFormat, Object, ObjectBuilder, Schema, SchemaFormat, SchemaType,
    Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::super::input::{self, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS};
use super::super::repo::MAX_SORT_ORDER;

/// Characters Rust's `str::trim` removes (Unicode `White_Space`): a product name of only these
/// is blank. Written out so that the document's pattern names exactly the server's rule.
pub const WHITE_SPACE: [char; 25] = [
    '\u{9}', '\u{a}', '\u{b}', '\u{c}', '\u{d}', ' ', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}',
    '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
];

fn typed(kind: Type) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::Type(kind))
}

fn sort_order() -> Object {
    typed(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(0))
        .maximum(Some(MAX_SORT_ORDER))
        .description(Some(
            "Position in the product's list; the others at or after it move one down (refused \
             when that would move one past 2147483647)",
        ))
        .build()
}

fn description() -> Object {
    typed(Type::String)
        .max_length(Some(MAX_DESCRIPTION_CHARS))
        .description(Some("Alt text"))
        .build()
}

fn product_id() -> Object {
    typed(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some("Must equal the product in the path"))
        .build()
}

/// A field of the record that a write may send back: ignored, whatever it holds.
fn ignored(kind: Option<Type>) -> Object {
    let builder = match kind {
        Some(kind) => typed(kind),
        None => ObjectBuilder::new().schema_type(SchemaType::AnyValue),
    };
    builder
        .description(Some("Read-only: ignored when sent"))
        .build()
}

/// Whether a body must carry the picture (a create) or may leave it out (an update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Picture {
    Required,
    Optional,
}

/// A JSON image write: the writable fields, the record's read-only fields (ignored), nothing
/// else.
fn json_write(picture: Picture) -> Schema {
    let mut object = typed(Type::Object)
        .property(
            "image_file",
            typed(Type::String).description(Some(
                "An http(s) URL the server downloads (15 s, 8 MiB; public addresses only), or a \
                 path inside the server's import directory",
            )),
        )
        .property("is_thumbnail", typed(Type::Boolean))
        .property("sort_order", sort_order())
        .property("description", description())
        .property("product_id", product_id());
    for name in input::read_only_fields() {
        object = object.property(name, ignored(None));
    }
    if picture == Picture::Required {
        object = object.required("image_file");
    }
    Schema::Object(
        object
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build(),
    )
}

/// `POST …/images` as JSON.
pub struct ImageCreate;

impl PartialSchema for ImageCreate {
    fn schema() -> RefOr<Schema> {
        RefOr::T(json_write(Picture::Required))
    }
}

impl ToSchema for ImageCreate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ImageCreate")
    }
}

/// `PUT …/images/{id}`.
pub struct ImageUpdate;

impl PartialSchema for ImageUpdate {
    fn schema() -> RefOr<Schema> {
        RefOr::T(json_write(Picture::Optional))
    }
}

impl ToSchema for ImageUpdate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ImageUpdate")
    }
}

/// A multipart create (v2, and v3's upload): the file in part `image_file`, the other fields
/// as text parts.
pub struct ImageUpload;

impl PartialSchema for ImageUpload {
    fn schema() -> RefOr<Schema> {
        let mut object = typed(Type::Object)
            .property(
                "image_file",
                typed(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
                    .description(Some(
                        "The picture (JPEG, PNG, GIF, WebP or BMP; 8 MiB, 50 MP at most)",
                    )),
            )
            .property(
                "is_thumbnail",
                typed(Type::String).enum_values(Some(["true", "false"])),
            )
            .property("sort_order", sort_order())
            .property("description", description())
            .property("product_id", product_id())
            .required("image_file");
        for name in input::read_only_fields() {
            object = object.property(name, ignored(Some(Type::String)));
        }
        RefOr::T(Schema::Object(
            object
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
                .build(),
        ))
    }
}

impl ToSchema for ImageUpload {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ImageUpload")
    }
}

/// `POST /products`.
pub struct ProductCreate;

impl PartialSchema for ProductCreate {
    fn schema() -> RefOr<Schema> {
        let blank: String = WHITE_SPACE
            .iter()
            .map(|c| format!("\\u{:04x}", u32::from(*c)))
            .collect();
        let object = typed(Type::Object)
            .property(
                "name",
                typed(Type::String)
                    .max_length(Some(MAX_NAME_CHARS))
                    // At least one character that is not a space.
                    .pattern(Some(format!("[^{blank}]")))
                    .description(Some("Stored without surrounding spaces")),
            )
            .property("sku", typed(Type::String).max_length(Some(MAX_NAME_CHARS)))
            .property("id", ignored(None))
            .property("date_created", ignored(None))
            .required("name")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        RefOr::T(Schema::Object(object.build()))
    }
}

impl ToSchema for ProductCreate {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ProductCreate")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_what_trim_removes() {
        for c in (0..=0x3000).filter_map(char::from_u32) {
            assert_eq!(WHITE_SPACE.contains(&c), c.is_whitespace(), "{:?}", c);
        }
    }
}
