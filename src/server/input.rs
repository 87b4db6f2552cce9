//! Parsing and validation of write bodies, with SPEC's rules: unknown fields are refused, the
//! record's read-only fields are ignored (so a client may send back what it read), and every
//! refusal names the field.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::sync::LazyLock;

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};

use super::error::{ApiError, ApiResult};
use super::repo::MAX_SORT_ORDER;
use crate::api::types::{Image, ImageWrite};
pub(super) const MAX_DESCRIPTION_CHARS: usize = 65_535;
/// A product's name and SKU, in characters as sent.
pub(super) const MAX_NAME_CHARS: usize = 255;

/// Fields of the record that clients read but never write; sent back, they are ignored. They are
/// the wire `Image`'s fields that `ImageWrite` lacks, taken from their OpenAPI schemas (which
/// follow serde's names), so that a new read-only field of `Image` needs no change here.
static READ_ONLY_FIELDS: LazyLock<BTreeSet<String>> = LazyLock::new(|| {
    let writable = field_names::<ImageWrite>();
    field_names::<Image>()
        .into_iter()
        .filter(|name| !writable.contains(name))
        .collect()
});

/// The read-only fields a write may send back (and that are ignored), for the OpenAPI document.
pub(super) fn read_only_fields() -> impl Iterator<Item = &'static str> {
    READ_ONLY_FIELDS.iter().map(String::as_str)
}

fn field_names<T: utoipa::PartialSchema>() -> BTreeSet<String> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.properties.keys().cloned().collect(),
        _ => BTreeSet::new(),
    }
}

/// Where the picture of a write comes from.
#[derive(Debug)]
pub enum ImageSource {
    /// A URL to download or a path inside the import directory.
    Reference(String),
    /// A file sent in the `image_file` part of a multipart body.
    Upload {
        filename: Option<String>,
        bytes: Bytes,
    },
}

/// The fields of an image write (`POST`/`PUT`), from a JSON or a multipart body.
#[derive(Debug, Default)]
pub struct WriteFields {
    pub image_file: Option<ImageSource>,
    pub is_thumbnail: Option<bool>,
    pub sort_order: Option<i64>,
    pub description: Option<String>,
    pub product_id: Option<i64>,
}

impl WriteFields {
    /// Takes one field of a write body. The one place that names the writable fields, for both
    /// encodings; how each encoding spells a value is `FieldValue`'s business.
    fn set(&mut self, name: &str, value: FieldValue) -> ApiResult<()> {
        match name {
            "image_file" => self.image_file = Some(value.image_source()?),
            "is_thumbnail" => self.is_thumbnail = Some(value.boolean(name)?),
            "sort_order" => self.sort_order = Some(value.sort_order()?),
            "description" => self.description = Some(description(&value.string(name)?)?),
            "product_id" => self.product_id = Some(value.integer(name)?),
            other if READ_ONLY_FIELDS.contains(other) => {}
            other => return Err(unknown_field(other)),
        }
        Ok(())
    }
}

/// One field of a write body as it came: JSON keeps its type; a multipart part is bytes, text
/// unless it is the uploaded file.
enum FieldValue {
    Json(Value),
    Part {
        filename: Option<String>,
        data: Bytes,
    },
}

impl FieldValue {
    /// A URL or import path, or (multipart, a part with a file name) the uploaded file.
    fn image_source(self) -> ApiResult<ImageSource> {
        match self {
            FieldValue::Json(value) => value
                .as_str()
                .map(|s| ImageSource::Reference(s.to_owned()))
                .ok_or_else(|| ApiError::invalid_field("image_file", "must be a string")),
            FieldValue::Part {
                filename: Some(filename),
                data,
            } => Ok(ImageSource::Upload {
                filename: Some(filename),
                bytes: data,
            }),
            FieldValue::Part {
                filename: None,
                data,
            } => Ok(ImageSource::Reference(trimmed_text("image_file", &data)?)),
        }
    }

    fn boolean(self, field: &str) -> ApiResult<bool> {
        let refused = || ApiError::invalid_field(field, "must be true or false");
        match self {
            FieldValue::Json(value) => value.as_bool().ok_or_else(refused),
            FieldValue::Part { data, .. } => match trimmed_text(field, &data)?.as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(refused()),
            },
        }
    }

    fn integer(self, field: &str) -> ApiResult<i64> {
        match self {
            FieldValue::Json(value) => value
                .as_i64()
                .ok_or_else(|| ApiError::invalid_field(field, "must be an integer")),
            FieldValue::Part { data, .. } => decimal(field, &data),
        }
    }

    fn sort_order(self) -> ApiResult<i64> {
        match self {
            FieldValue::Json(value) => sort_order_from_json(&value),
            FieldValue::Part { data, .. } => sort_order(decimal("sort_order", &data)?),
        }
    }

    /// A string as sent, surrounding spaces included.
    fn string(self, field: &str) -> ApiResult<String> {
        match self {
            FieldValue::Json(value) => value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| ApiError::invalid_field(field, "must be a string")),
            FieldValue::Part { data, .. } => std::str::from_utf8(&data)
                .map(str::to_owned)
                .map_err(|_| ApiError::invalid_field(field, "must be UTF-8 text")),
        }
    }
}

/// A multipart part's text without surrounding spaces (form fields often carry a newline).
fn trimmed_text(field: &str, data: &[u8]) -> ApiResult<String> {
    std::str::from_utf8(data)
        .map(|s| s.trim().to_owned())
        .map_err(|_| ApiError::invalid_field(field, "must be UTF-8 text"))
}

fn decimal(field: &str, data: &[u8]) -> ApiResult<i64> {
    let text = trimmed_text(field, data)?;
    text.parse::<i64>()
        .map_err(|_| ApiError::invalid_field(field, format!("'{text}' is not a decimal integer")))
}

/// What kind of body a request carries, from its `Content-Type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyKind {
    Json,
    Multipart(String),
    Other,
}

pub fn body_kind(headers: &HeaderMap) -> BodyKind {
    let Some(content_type) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return BodyKind::Other;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        BodyKind::Json
    } else if essence == "multipart/form-data" {
        BodyKind::Multipart(content_type.to_owned())
    } else {
        BodyKind::Other
    }
}

/// A JSON object's members as sent, repeated names kept: JSON leaves a repeated name's meaning
/// open and serde keeps the last silently, so a body that says two things about one field is
/// refused instead of guessed at.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Members;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    let members = match serde_json::from_slice::<Members>(body) {
        Ok(Members(members)) => members,
        // A well-formed value of another type than an object.
        Err(e) if e.is_data() => {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object.",
            ));
        }
        Err(e) => {
            return Err(ApiError::bad_request("The request body is not valid JSON.")
                .with_reason(e.to_string()));
        }
    };
    let mut object = Map::new();
    for (name, value) in members {
        if object.contains_key(&name) {
            return Err(repeated_field(&name));
        }
        object.insert(name, value);
    }
    Ok(object)
}

fn repeated_field(name: &str) -> ApiError {
    ApiError::invalid_field(name, format!("'{name}' is sent more than once"))
}

/// Parses a JSON image write.
pub fn parse_json_write(body: &[u8]) -> ApiResult<WriteFields> {
    let mut fields = WriteFields::default();
    for (name, value) in json_object(body)? {
        fields.set(&name, FieldValue::Json(value))?;
    }
    Ok(fields)
}

fn unknown_field(name: &str) -> ApiError {
    ApiError::bad_request(format!("The field '{name}' is not a field of an image."))
        .with_reason(format!("unknown field '{name}'"))
        .with_field(name)
}

fn sort_order_from_json(value: &Value) -> ApiResult<i64> {
    match value.as_i64() {
        Some(k) => sort_order(k),
        None if value.is_u64() => sort_order(i64::MAX),
        None => Err(ApiError::invalid_field(
            "sort_order",
            "must be an integer from 0 to 2147483647",
        )),
    }
}

fn sort_order(k: i64) -> ApiResult<i64> {
    if (0..=MAX_SORT_ORDER).contains(&k) {
        Ok(k)
    } else {
        Err(ApiError::invalid_field(
            "sort_order",
            format!("{k} is outside 0 to {MAX_SORT_ORDER}"),
        ))
    }
}

fn description(s: &str) -> ApiResult<String> {
    if s.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::invalid_field(
            "description",
            format!("longer than {MAX_DESCRIPTION_CHARS} characters"),
        ));
    }
    Ok(s.to_owned())
}

/// Parses a multipart image write: text parts for the fields, the file in part `image_file`.
pub async fn parse_multipart_write(content_type: &str, body: Bytes) -> ApiResult<WriteFields> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| {
        ApiError::bad_request("The multipart body has no valid boundary.")
            .with_reason(e.to_string())
    })?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut fields = WriteFields::default();
    let mut seen = BTreeSet::new();
    let malformed = |e: multer::Error| {
        ApiError::bad_request("The multipart body is malformed.").with_reason(e.to_string())
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        if !seen.insert(name.clone()) {
            return Err(repeated_field(&name));
        }
        let filename = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(malformed)?;
        fields.set(&name, FieldValue::Part { filename, data })?;
    }
    Ok(fields)
}

/// A product create: `{"name": …, "sku": …}`.
pub fn parse_new_product(body: &[u8]) -> ApiResult<(String, String)> {
    let mut name = None;
    let mut sku = String::new();
    for (field, value) in json_object(body)? {
        match field.as_str() {
            "name" => {
                let s = value
                    .as_str()
                    .ok_or_else(|| ApiError::invalid_field("name", "must be a string"))?;
                // The length as sent, so that the document's `maxLength` is the rule.
                if s.chars().count() > MAX_NAME_CHARS || s.trim().is_empty() {
                    return Err(ApiError::invalid_field(
                        "name",
                        format!(
                            "must have 1 to {MAX_NAME_CHARS} characters, not all of them spaces"
                        ),
                    ));
                }
                name = Some(s.trim().to_owned());
            }
            "sku" => {
                let s = value
                    .as_str()
                    .ok_or_else(|| ApiError::invalid_field("sku", "must be a string"))?;
                if s.chars().count() > MAX_NAME_CHARS {
                    return Err(ApiError::invalid_field(
                        "sku",
                        format!("longer than {MAX_NAME_CHARS} characters"),
                    ));
                }
                sku = s.to_owned();
            }
            "id" | "date_created" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "The field '{other}' is not a field of a product."
                ))
                .with_reason(format!("unknown field '{other}'")));
            }
        }
    }
    let name = name.ok_or_else(|| ApiError::invalid_field("name", "is required"))?;
    Ok((name, sku))
}

/// Paging of a list: `?page=` from 1 and `?limit=` 1–250 (default 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub limit: i64,
    /// Whether the request named `page` or `limit` at all.
    pub explicit: bool,
}

impl Paging {
    pub fn window(self) -> super::repo::Window {
        super::repo::Window {
            offset: (self.page - 1) * self.limit,
            limit: self.limit,
        }
    }
}

pub fn paging(query: &[(String, String)]) -> ApiResult<Paging> {
    let mut paging = Paging {
        page: 1,
        limit: 50,
        explicit: false,
    };
    for (name, value) in query {
        match name.as_str() {
            "page" => {
                paging.page = value
                    .parse::<i64>()
                    .ok()
                    .filter(|p| (1..=i64::from(u32::MAX)).contains(p))
                    .ok_or_else(|| {
                        ApiError::bad_request("The parameter 'page' is invalid.")
                            .with_reason(format!("'{value}' is not an integer of at least 1"))
                    })?;
                paging.explicit = true;
            }
            "limit" => {
                paging.limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|l| (1..=250).contains(l))
                    .ok_or_else(|| {
                        ApiError::bad_request("The parameter 'limit' is invalid.")
                            .with_reason(format!("'{value}' is not an integer from 1 to 250"))
                    })?;
                paging.explicit = true;
            }
            _ => {}
        }
    }
    Ok(paging)
}

/// `?min_date_modified=D` of a product list, in seconds since the epoch: D is RFC 2822 (as the
/// store writes dates, and as BigCommerce v2 takes it) or ISO 8601 (a date, a date and time in
/// UTC, or with an offset). A `+` sent unencoded arrives as a space; that is forgiven.
pub fn min_date_modified(query: &[(String, String)]) -> ApiResult<Option<i64>> {
    let Some((_, value)) = query.iter().find(|(name, _)| name == "min_date_modified") else {
        return Ok(None);
    };
    let value = value.trim();
    let parsed = parse_date(value).or_else(|| {
        // "… 18:54:04 +0000" whose '+' became a space in the query string.
        let (head, tail) = value.rsplit_once(' ')?;
        parse_date(&format!("{head}+{tail}"))
    });
    parsed.map(Some).ok_or_else(|| {
        ApiError::bad_request("The parameter 'min_date_modified' is invalid.")
            .with_reason(format!(
                "'{value}' is not an RFC 2822 or ISO 8601 date (e.g. 'Fri, 21 Dec 2012 18:54:04 +0000' or '2012-12-21T18:54:04Z')"
            ))
            .with_field("min_date_modified")
    })
}

fn parse_date(value: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    if let Ok(date) = DateTime::parse_from_rfc2822(value) {
        return Some(date.timestamp());
    }
    if let Ok(date) = DateTime::parse_from_rfc3339(value) {
        return Some(date.timestamp());
    }
    if let Ok(date) = NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S") {
        return Some(date.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

/// Resolves a client-given path inside the import directory, refusing anything that could leave
/// it: absolute paths, `..`, and links that point outside (the canonical path must stay inside).
pub fn resolve_import_path(import_dir: Option<&Path>, relative: &str) -> Result<PathBuf, String> {
    let dir = import_dir
        .ok_or("paths are not accepted: the server has no import directory (--import-dir)")?;
    let path = Path::new(relative);
    if relative.is_empty() {
        return Err("the path is empty".into());
    }
    if !path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err("the path must be relative to the import directory, without '..'".into());
    }
    let root = dir
        .canonicalize()
        .map_err(|e| format!("the import directory is not readable: {e}"))?;
    let resolved = root
        .join(path)
        .canonicalize()
        .map_err(|_| format!("'{relative}' was not found in the import directory"))?;
    if !resolved.starts_with(&root) {
        return Err(format!("'{relative}' leads outside the import directory"));
    }
    if !resolved.is_file() {
        return Err(format!("'{relative}' is not a file"));
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_writes_refuse_unknown_and_ignore_read_only_fields() {
        let ok = parse_json_write(br#"{"id": 5, "zoom_url": "x", "sort_order": 3}"#).unwrap();
        assert_eq!(ok.sort_order, Some(3));
        assert!(parse_json_write(br#"{"colour": "red"}"#).is_err());
        assert!(parse_json_write(br#"{"sort_order": -1}"#).is_err());
        assert!(parse_json_write(br#"{"sort_order": 2147483648}"#).is_err());
        assert!(parse_json_write(br#"{"sort_order": 1.5}"#).is_err());
        assert!(parse_json_write(br#"{"is_thumbnail": "yes"}"#).is_err());
        assert!(parse_json_write(br#"[1]"#).is_err());
        assert!(parse_json_write(b"{").is_err());
    }

    #[test]
    fn repeated_json_fields_are_refused_by_name() {
        for body in [
            &br#"{"description": "a", "description": "b"}"#[..],
            br#"{"description": "a", "sort_order": 1, "description": "a"}"#,
        ] {
            let err = parse_json_write(body).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
            assert_eq!(err.field.as_deref(), Some("description"));
        }
        let err = parse_new_product(br#"{"name": "a", "name": "b"}"#).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("name"));
        // Repeated names inside a nested value are that value's business (and refused as a
        // wrong type anyway); the body's shape errors keep their messages.
        assert_eq!(
            parse_json_write(b"[1]").unwrap_err().message,
            "The request body must be a JSON object."
        );
        assert_eq!(
            parse_json_write(b"{\"a\":").unwrap_err().message,
            "The request body is not valid JSON."
        );
    }

    #[test]
    fn read_only_fields_are_the_wire_fields_a_write_lacks() {
        let names: Vec<&str> = READ_ONLY_FIELDS.iter().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "date_created",
                "date_modified",
                "file_size",
                "height",
                "id",
                "perceptual_hash",
                "standard_url",
                "thumbnail_url",
                "tiny_url",
                "width",
                "zoom_url",
            ]
        );
    }

    #[tokio::test]
    async fn multipart_writes_follow_the_same_field_rules() {
        let body = "--b\r\n\
                    Content-Disposition: form-data; name=\"sort_order\"\r\n\r\n 4 \r\n\
                    --b\r\n\
                    Content-Disposition: form-data; name=\"description\"\r\n\r\n kept \r\n\
                    --b\r\n\
                    Content-Disposition: form-data; name=\"zoom_url\"\r\n\r\nx\r\n\
                    --b\r\n\
                    Content-Disposition: form-data; name=\"image_file\"; filename=\"a.jpg\"\r\n\r\n\
                    JPEG\r\n\
                    --b--\r\n";
        let fields = parse_multipart_write("multipart/form-data; boundary=b", body.into())
            .await
            .unwrap();
        assert_eq!(fields.sort_order, Some(4));
        assert_eq!(fields.description.as_deref(), Some(" kept "));
        assert!(matches!(
            fields.image_file,
            Some(ImageSource::Upload { filename: Some(ref f), ref bytes }) if f == "a.jpg" && bytes.as_ref() == b"JPEG"
        ));
        let refused = |part: &str, value: &str| {
            format!(
                "--b\r\nContent-Disposition: form-data; name=\"{part}\"\r\n\r\n{value}\r\n--b--\r\n"
            )
        };
        for (part, value) in [
            ("sort_order", "x"),
            ("is_thumbnail", "yes"),
            ("product_id", "1.5"),
            ("colour", "red"),
        ] {
            let body = refused(part, value);
            assert!(
                parse_multipart_write("multipart/form-data; boundary=b", body.into())
                    .await
                    .is_err(),
                "{part}={value}"
            );
        }
        let twice = "--b\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\na\r\n\
                     --b\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\nb\r\n\
                     --b--\r\n";
        let err = parse_multipart_write("multipart/form-data; boundary=b", twice.into())
            .await
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("description"));
    }

    #[test]
    fn min_date_modified_takes_rfc_2822_and_iso_8601() {
        let q = |v: &str| min_date_modified(&[("min_date_modified".to_owned(), v.to_owned())]);
        let expected = Some(1_356_116_044);
        assert_eq!(q("Fri, 21 Dec 2012 18:54:04 +0000").unwrap(), expected);
        assert_eq!(q("Fri, 21 Dec 2012 18:54:04  0000").unwrap(), expected);
        assert_eq!(q("2012-12-21T18:54:04Z").unwrap(), expected);
        assert_eq!(q("2012-12-21T19:54:04+01:00").unwrap(), expected);
        assert_eq!(q("2012-12-21T18:54:04").unwrap(), expected);
        assert_eq!(q("2012-12-21").unwrap(), Some(1_356_048_000));
        assert!(q("yesterday").is_err());
        assert!(q("").is_err());
        assert_eq!(min_date_modified(&[]).unwrap(), None);
    }

    #[test]
    fn paging_bounds() {
        let q = |p: &str, l: &str| {
            vec![
                ("page".to_owned(), p.to_owned()),
                ("limit".to_owned(), l.to_owned()),
            ]
        };
        assert_eq!(paging(&q("2", "250")).unwrap().window().offset, 250);
        assert!(paging(&q("0", "10")).is_err());
        assert!(paging(&q("1", "251")).is_err());
        assert!(paging(&q("1", "0")).is_err());
        assert!(paging(&q("x", "10")).is_err());
        assert!(!paging(&[]).unwrap().explicit);
    }
}
