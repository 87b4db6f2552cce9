//! Wire types of the Product Images API v2, shared by the client and the server.
//!
//! Fields that only imagedesk's server sends (`date_modified`) and the variant URLs are optional
//! when reading, because a real BigCommerce v2 store may leave them out.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One product image, as the store returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Image {
    pub id: i64,
    pub product_id: i64,
    /// Stored path `{letter}/{3 digits}/{slug}__{5 digits}.{ext}`.
    pub image_file: String,
    pub is_thumbnail: bool,
    pub sort_order: i64,
    /// A real v2 store sends `null` for an image without alt text.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub description: String,
    /// RFC 2822 with `+0000`.
    pub date_created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoom_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiny_url: Option<String>,
    /// Pixel size of the original after EXIF orientation (imagedesk extension, read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Bytes of the original file (imagedesk extension, read-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<u64>,
    /// Perceptual hash of the picture (imagedesk extension, read-only): 16 lower-case hex
    /// digits, the 64 bits of `imaging::PerceptualHash`, computed once at upload. Two pictures
    /// whose hashes differ in at most 3 bits are the same picture, re-encoded or resized.
    /// Absent when the store has not computed it (a real BigCommerce store never sends it):
    /// clients then compute it from a variant themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub perceptual_hash: Option<String>,
}

/// Reads `null` as the type's default: a real BigCommerce v2 store sends `null` where
/// imagedesk's server sends an empty string.
pub(crate) fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// What kind of record a list held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Product,
    Image,
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordKind::Product => "product",
            RecordKind::Image => "image",
        })
    }
}

/// A record of a list that could not be read even leniently (a required field missing or of
/// the wrong type). It is skipped and reported, so one bad record never stops a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableRecord {
    pub kind: RecordKind,
    /// The product it belongs to (for a product record, its own id), when known.
    pub product_id: Option<i64>,
    /// The record's own id, when it could be read.
    pub id: Option<i64>,
    /// The field that could not be read, as a path (`description`, `sort_order`); `None` when
    /// the record as a whole could not be read (it is not even an object).
    pub field: Option<String>,
    /// The store's value of that field (or of the whole record).
    pub value: FieldValue,
    /// What was expected, in words.
    pub reason: String,
}

/// The store's value of a field that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// The record has no such field.
    Missing,
    /// The value as JSON text (`null`, `"abc"`, `17`), cut short when long.
    Json(String),
}

impl std::fmt::Display for FieldValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldValue::Missing => f.write_str("missing"),
            FieldValue::Json(text) => f.write_str(text),
        }
    }
}

impl std::fmt::Display for UnreadableRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.kind, self.product_id, self.id) {
            (RecordKind::Product, _, Some(id)) | (RecordKind::Product, Some(id), None) => {
                write!(f, "product {id}")?
            }
            (RecordKind::Product, None, None) => f.write_str("a product")?,
            (RecordKind::Image, Some(product), Some(id)) => {
                write!(f, "image {id} of product {product}")?
            }
            (RecordKind::Image, Some(product), None) => write!(f, "an image of product {product}")?,
            (RecordKind::Image, None, Some(id)) => write!(f, "image {id}")?,
            (RecordKind::Image, None, None) => f.write_str("an image")?,
        }
        match (&self.field, &self.value) {
            (Some(field), value) => write!(f, ": field '{field}' is {value}")?,
            (None, FieldValue::Json(record)) => write!(f, ": the record {record} is unreadable")?,
            (None, FieldValue::Missing) => f.write_str(": the record is unreadable")?,
        }
        write!(f, " ({}); the record was skipped", self.reason)
    }
}

/// A list read leniently: the records that could be read, and the ones that could not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing<T> {
    pub records: Vec<T>,
    pub unreadable: Vec<UnreadableRecord>,
}

impl<T> Listing<T> {
    /// A listing in which every record could be read.
    pub fn complete(records: Vec<T>) -> Self {
        Listing {
            records,
            unreadable: Vec::new(),
        }
    }
}

/// The answer to a create: the new record, and whether the store echoed the
/// `Idempotency-Key` (SPEC §1: only a store that echoes keys may be sent a create again with
/// the same key; for any other, the client must look for the record first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub image: Image,
    pub key_echoed: bool,
}

/// How a store takes a local file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadRoute {
    /// multipart on the v2 images endpoint (imagedesk's own server).
    V2Multipart,
    /// The v3 catalog endpoint beside the v2 base (a real BigCommerce store).
    V3,
    /// Neither: the store takes pictures only as URLs (or import paths).
    Unsupported,
}

/// A product (imagedesk extension, minimal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: i64,
    pub name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sku: String,
    pub date_created: String,
    /// The last write of the product or of any of its images (SPEC §1). A real store may
    /// leave it out; imagedesk's server sends it beside this type (`server::repo::StoreProduct`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_modified: Option<String>,
}

/// The answer of every `count` endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Count {
    pub count: u64,
}

/// Body of `POST /products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NewProduct {
    pub name: String,
    #[serde(default)]
    pub sku: String,
}

/// Body of a JSON image write (`POST`/`PUT`). Only the fields that are `Some` are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImageWrite {
    /// On POST: an http(s) URL the server downloads, or a path inside its import directory.
    /// On PUT: replaces the picture, keeping the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_thumbnail: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<i64>,
}

/// One entry of the v2 error array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEntry {
    pub status: u16,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
}

/// Paging of a list request. `None` leaves the parameter out (the store's default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Page {
    pub page: Option<u32>,
    pub limit: Option<u32>,
}

impl Page {
    pub const MAX_LIMIT: u32 = 250;

    pub fn new(page: u32, limit: u32) -> Self {
        Self {
            page: Some(page),
            limit: Some(limit),
        }
    }
}
