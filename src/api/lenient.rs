//! Reading the store's records leniently. A real BigCommerce store sends `null` where imagedesk's
//! server sends a value, leaves fields out, adds fields the client does not know, and answers
//! uploads in the v3 shape (`url_zoom` instead of `zoom_url`). The records are read through
//! the private `*In` types below, which default every field that has a sensible default; a
//! record that still cannot be read is reported as an [`UnreadableRecord`] (which field, the
//! store's value there) and skipped, so one bad record never stops a pull.
//!
//! The wire types in `types.rs` stay strict, because they also describe what imagedesk's own
//! server sends (its OpenAPI document marks their fields required).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use super::types::{FieldValue, Image, Product, RecordKind, UnreadableRecord, null_as_empty};

/// An image as any store may send it (v2 list or record, or the `data` of a v3 answer).
#[derive(Debug, Deserialize)]
pub(crate) struct ImageIn {
    id: i64,
    product_id: i64,
    /// Kept required: a record without its picture cannot be shown or compared.
    image_file: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    is_thumbnail: bool,
    #[serde(default, deserialize_with = "null_as_empty")]
    sort_order: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    description: String,
    /// v3 answers leave it out.
    #[serde(default, deserialize_with = "null_as_empty")]
    date_created: String,
    #[serde(default)]
    date_modified: Option<String>,
    #[serde(default, alias = "url_zoom")]
    zoom_url: Option<String>,
    #[serde(default, alias = "url_standard")]
    standard_url: Option<String>,
    #[serde(default, alias = "url_thumbnail")]
    thumbnail_url: Option<String>,
    #[serde(default, alias = "url_tiny")]
    tiny_url: Option<String>,
    #[serde(default)]
    width: Option<u32>,
    #[serde(default)]
    height: Option<u32>,
    #[serde(default)]
    file_size: Option<u64>,
    /// An extension field: anything but 16 hex digits is read as no hash, never as a reason to
    /// skip the record.
    #[serde(default, deserialize_with = "hex_hash_or_none")]
    perceptual_hash: Option<String>,
}

/// A perceptual hash as 16 hex digits (lower-cased), or `None` for any other value.
fn hex_hash_or_none<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(value
        .as_str()
        .filter(|text| text.len() == 16 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_ascii_lowercase))
}

impl From<ImageIn> for Image {
    fn from(i: ImageIn) -> Image {
        // An empty URL is no URL: a v3 store sends "" for a variant it has not made yet.
        let url = |u: Option<String>| u.filter(|u| !u.is_empty());
        Image {
            id: i.id,
            product_id: i.product_id,
            image_file: i.image_file,
            is_thumbnail: i.is_thumbnail,
            sort_order: i.sort_order,
            description: i.description,
            date_created: i.date_created,
            date_modified: i.date_modified.filter(|d| !d.is_empty()),
            zoom_url: url(i.zoom_url),
            standard_url: url(i.standard_url),
            thumbnail_url: url(i.thumbnail_url),
            tiny_url: url(i.tiny_url),
            width: i.width,
            height: i.height,
            file_size: i.file_size,
            perceptual_hash: i.perceptual_hash,
        }
    }
}

/// A product as any store may send it; a real one sends dozens of other fields.
#[derive(Debug, Deserialize)]
pub(crate) struct ProductIn {
    id: i64,
    #[serde(default, deserialize_with = "null_as_empty")]
    name: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    sku: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    date_created: String,
    #[serde(default)]
    date_modified: Option<String>,
}

impl From<ProductIn> for Product {
    fn from(p: ProductIn) -> Product {
        Product {
            id: p.id,
            name: p.name,
            sku: p.sku,
            date_created: p.date_created,
            date_modified: p.date_modified.filter(|d| !d.is_empty()),
        }
    }
}

/// The records of one page that could be read, the ones that could not, and how many records
/// the page held (paging counts these: a full page with one bad record is still full).
#[derive(Debug)]
pub(crate) struct PageRead<T> {
    pub records: Vec<T>,
    pub unreadable: Vec<UnreadableRecord>,
    pub raw_count: usize,
}

/// The body of a list: a JSON array; an empty body (a 204) is an empty list.
fn list_values(body: &[u8]) -> Result<Vec<Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(values)) => Ok(values),
        // Some stores answer an empty list with `null` or `{}`.
        Ok(Value::Null) => Ok(Vec::new()),
        Ok(Value::Object(map)) if map.is_empty() => Ok(Vec::new()),
        Ok(other) => Err(ApiError::Decode(format!(
            "expected a list of records, got {}",
            describe_kind(&other)
        ))),
        Err(e) => Err(ApiError::Decode(e.to_string())),
    }
}

fn describe_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads a page of images of `product_id`. A record without `product_id` gets the path's.
pub(crate) fn read_image_page(product_id: i64, body: &[u8]) -> Result<PageRead<Image>, ApiError> {
    read_page::<ImageIn, Image>(RecordKind::Image, Some(product_id), body)
}

/// Reads a page of products.
pub(crate) fn read_product_page(body: &[u8]) -> Result<PageRead<Product>, ApiError> {
    read_page::<ProductIn, Product>(RecordKind::Product, None, body)
}

fn read_page<In, T>(
    kind: RecordKind,
    product_id: Option<i64>,
    body: &[u8],
) -> Result<PageRead<T>, ApiError>
where
    In: DeserializeOwned + Into<T>,
{
    let values = list_values(body)?;
    let raw_count = values.len();
    let mut records = Vec::with_capacity(raw_count);
    let mut unreadable = Vec::new();
    for value in values {
        match read_record::<In>(kind, product_id, value) {
            Ok(record) => records.push(record.into()),
            Err(bad) => unreadable.push(bad),
        }
    }
    Ok(PageRead {
        records,
        unreadable,
        raw_count,
    })
}

/// Reads one record, or says which field of it could not be read.
fn read_record<In: DeserializeOwned>(
    kind: RecordKind,
    path_product_id: Option<i64>,
    mut value: Value,
) -> Result<In, UnreadableRecord> {
    if let (Some(product_id), Value::Object(map)) = (path_product_id, &mut value) {
        // A list is read under its product's path, so a record that leaves its product out (or
        // sends null) still belongs to it.
        if map.get("product_id").is_none_or(Value::is_null) {
            map.insert("product_id".into(), Value::from(product_id));
        }
    }
    let id = value.get("id").and_then(Value::as_i64);
    let product_id = match kind {
        RecordKind::Product => id,
        RecordKind::Image => value
            .get("product_id")
            .and_then(Value::as_i64)
            .or(path_product_id),
    };
    serde_path_to_error::deserialize::<_, In>(&value).map_err(|err| {
        let mut segments: Vec<String> = err
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let reason = err.inner().to_string();
        // serde reports a missing field at the record, not at the field: take its name from
        // the message so the report names it.
        if let Some(name) = missing_field(&reason) {
            segments.push(name.to_owned());
        }
        let found = segments
            .iter()
            .try_fold(&value, |at, segment| match at {
                Value::Object(map) => map.get(segment),
                Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                _ => None,
            })
            .map(|v| truncate(&v.to_string(), 120));
        UnreadableRecord {
            kind,
            product_id,
            id,
            // No path: the record as a whole (not even an object) could not be read.
            field: (!segments.is_empty()).then(|| segments.join(".")),
            value: found.map_or(FieldValue::Missing, FieldValue::Json),
            reason: without_position(&reason),
        }
    })
}

/// Reads a single record of `product_id` (a `GET` of one image, the answer to a write): the
/// same lenient reading, but a record that cannot be read is an error.
pub(crate) fn read_image(product_id: i64, body: &[u8]) -> Result<Image, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::Decode(e.to_string()))?;
    // A v3 answer wraps the record in `data`.
    let value = match value {
        Value::Object(mut map) if map.contains_key("data") && !map.contains_key("id") => {
            map.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    };
    read_record::<ImageIn>(RecordKind::Image, Some(product_id), value)
        .map(Image::from)
        .map_err(|bad| ApiError::Decode(bad.to_string()))
}

/// Reads a single product leniently.
pub(crate) fn read_product(body: &[u8]) -> Result<Product, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::Decode(e.to_string()))?;
    read_record::<ProductIn>(RecordKind::Product, None, value)
        .map(Product::from)
        .map_err(|bad| ApiError::Decode(bad.to_string()))
}

fn missing_field(reason: &str) -> Option<&str> {
    reason
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
}

/// serde_json appends "at line 1 column 2" to its messages; for a record read from a value
/// there is no line to point at.
fn without_position(reason: &str) -> String {
    match reason.find(" at line ") {
        Some(at) => reason[..at].to_owned(),
        None => reason.to_owned(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_json(id: i64) -> Value {
        serde_json::json!({
            "id": id,
            "product_id": 7,
            "image_file": format!("a/123/x__{id:05}.jpg"),
            "is_thumbnail": false,
            "sort_order": 0,
            "description": "alt",
            "date_created": "Mon, 30 Nov 2026 06:00:00 +0000",
        })
    }

    #[test]
    fn a_real_store_record_with_nulls_missing_urls_and_extra_fields_is_read() {
        let body = br#"[{"id": 3, "product_id": 7, "image_file": "a/1/b.jpg",
            "is_thumbnail": null, "sort_order": null, "description": null,
            "date_created": null, "image_url": "https://x/y.jpg", "cdn": {"a": 1}}]"#;
        let page = read_image_page(7, body).unwrap();
        assert_eq!(page.raw_count, 1);
        assert!(page.unreadable.is_empty(), "{:?}", page.unreadable);
        let image = &page.records[0];
        assert_eq!((image.id, image.product_id, image.sort_order), (3, 7, 0));
        assert_eq!(image.description, "");
        assert!(!image.is_thumbnail);
        assert_eq!(image.zoom_url, None);
        assert_eq!(image.date_modified, None);
    }

    #[test]
    fn one_broken_record_is_reported_with_its_field_and_value_and_the_rest_are_kept() {
        let mut bad = image_json(2);
        bad["sort_order"] = Value::from("first");
        let mut no_file = image_json(4);
        no_file.as_object_mut().unwrap().remove("image_file");
        let body = serde_json::to_vec(&Value::Array(vec![
            image_json(1),
            bad,
            image_json(3),
            no_file,
        ]))
        .unwrap();
        let page = read_image_page(7, &body).unwrap();
        assert_eq!(page.raw_count, 4);
        assert_eq!(
            page.records.iter().map(|i| i.id).collect::<Vec<_>>(),
            [1, 3]
        );
        assert_eq!(page.unreadable.len(), 2);
        let first = &page.unreadable[0];
        assert_eq!(first.kind, RecordKind::Image);
        assert_eq!((first.product_id, first.id), (Some(7), Some(2)));
        assert_eq!(first.field.as_deref(), Some("sort_order"));
        assert_eq!(first.value, FieldValue::Json("\"first\"".into()));
        assert!(first.reason.contains("invalid type"), "{}", first.reason);
        let second = &page.unreadable[1];
        assert_eq!(second.field.as_deref(), Some("image_file"));
        assert_eq!(second.value, FieldValue::Missing);
        assert!(second.to_string().contains("image 4 of product 7"));
        assert!(
            second.to_string().contains("field 'image_file' is missing"),
            "{second}"
        );
    }

    #[test]
    fn an_image_without_product_id_belongs_to_the_path_product() {
        let mut record = image_json(5);
        record.as_object_mut().unwrap().remove("product_id");
        let body = serde_json::to_vec(&Value::Array(vec![record])).unwrap();
        let page = read_image_page(42, &body).unwrap();
        assert_eq!(page.records[0].product_id, 42);
    }

    #[test]
    fn a_record_without_id_is_unreadable() {
        let mut record = image_json(5);
        record.as_object_mut().unwrap().remove("id");
        let body = serde_json::to_vec(&Value::Array(vec![record, Value::from(17)])).unwrap();
        let page = read_image_page(7, &body).unwrap();
        assert!(page.records.is_empty());
        assert_eq!(page.raw_count, 2);
        assert_eq!(page.unreadable[0].field.as_deref(), Some("id"));
        assert_eq!(page.unreadable[0].value, FieldValue::Missing);
        // Not even an object: reported at the record itself.
        let whole = &page.unreadable[1];
        assert_eq!(whole.field, None);
        assert_eq!(whole.value, FieldValue::Json("17".into()));
        let message = whole.to_string();
        assert!(message.contains("the record 17 is unreadable"), "{message}");
        assert!(!message.contains("'.'"), "{message}");
    }

    #[test]
    fn empty_bodies_are_empty_lists_and_a_non_list_is_an_error() {
        assert_eq!(read_image_page(1, b"").unwrap().raw_count, 0);
        assert_eq!(read_image_page(1, b"  \n").unwrap().raw_count, 0);
        assert_eq!(read_product_page(b"[]").unwrap().raw_count, 0);
        assert!(matches!(
            read_product_page(b"\"no\""),
            Err(ApiError::Decode(_))
        ));
    }

    #[test]
    fn products_with_nulls_and_many_fields_are_read() {
        let body = br#"[{"id": 1, "name": "Mug", "sku": null, "date_created": "x",
            "date_modified": null, "price": "12.00", "categories": [1,2]},
            {"id": "two", "name": "Bad"}]"#;
        let page = read_product_page(body).unwrap();
        assert_eq!(page.records.len(), 1);
        assert_eq!(page.records[0].sku, "");
        assert_eq!(page.unreadable[0].kind, RecordKind::Product);
        assert_eq!(page.unreadable[0].field.as_deref(), Some("id"));
        assert_eq!(page.unreadable[0].value, FieldValue::Json("\"two\"".into()));
    }

    #[test]
    fn a_v3_answer_is_read_into_an_image() {
        let body = br#"{"data": {"id": 9, "product_id": 7, "image_file": "a/1/b.jpg",
            "is_thumbnail": true, "sort_order": 2, "description": "",
            "url_zoom": "https://cdn/z.jpg", "url_standard": "https://cdn/s.jpg",
            "url_thumbnail": "https://cdn/t.jpg", "url_tiny": "",
            "date_modified": "2026-11-30T06:00:00+00:00"}, "meta": {}}"#;
        let image = read_image(7, body).unwrap();
        assert_eq!(
            (image.id, image.sort_order, image.is_thumbnail),
            (9, 2, true)
        );
        assert_eq!(image.zoom_url.as_deref(), Some("https://cdn/z.jpg"));
        assert_eq!(image.thumbnail_url.as_deref(), Some("https://cdn/t.jpg"));
        assert_eq!(image.tiny_url, None);
        assert_eq!(image.date_created, "");
    }

    #[test]
    fn a_single_unreadable_record_is_a_decode_error_naming_the_field() {
        match read_image(2, br#"{"id": 1, "product_id": 2, "image_file": 5}"#) {
            Err(ApiError::Decode(message)) => assert!(message.contains("image_file"), "{message}"),
            other => panic!("{other:?}"),
        }
        // An answer that leaves its product out belongs to the product written to.
        let image = read_image(3, br#"{"id": 1, "image_file": "a/1/b.jpg"}"#).unwrap();
        assert_eq!((image.product_id, image.sort_order), (3, 0));
    }
}
