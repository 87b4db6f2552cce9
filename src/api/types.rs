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
    #[serde(default)]
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
}

/// A product (imagedesk extension, minimal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub sku: String,
    pub date_created: String,
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
