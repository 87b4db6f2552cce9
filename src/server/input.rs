//! Parsing and validation of write bodies, with SPEC's rules: unknown fields are refused, the
//! record's read-only fields are ignored (so a client may send back what it read), and every
//! refusal names the field.

use std::path::{Component, Path, PathBuf};

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use bytes::Bytes;
use serde_json::{Map, Value};

use super::error::{ApiError, ApiResult};

pub const MAX_SORT_ORDER: i64 = 2_147_483_647;
const MAX_DESCRIPTION_CHARS: usize = 65_535;
const MAX_NAME_CHARS: usize = 255;

/// Fields of the record that clients read but never write; sent back, they are ignored.
const READ_ONLY_FIELDS: [&str; 10] = [
    "id",
    "date_created",
    "date_modified",
    "zoom_url",
    "standard_url",
    "thumbnail_url",
    "tiny_url",
    "width",
    "height",
    "file_size",
];

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

#[derive(Debug, Default)]
pub struct WriteFields {
    pub image_file: Option<ImageSource>,
    pub is_thumbnail: Option<bool>,
    pub sort_order: Option<i64>,
    pub description: Option<String>,
    pub product_id: Option<i64>,
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

fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => {
            Err(ApiError::bad_request("The request body is not valid JSON.")
                .with_reason(e.to_string()))
        }
    }
}

/// Parses a JSON image write.
pub fn parse_json_write(body: &[u8]) -> ApiResult<WriteFields> {
    let mut fields = WriteFields::default();
    for (name, value) in json_object(body)? {
        match name.as_str() {
            "image_file" => {
                let s = value
                    .as_str()
                    .ok_or_else(|| ApiError::invalid_field("image_file", "must be a string"))?;
                fields.image_file = Some(ImageSource::Reference(s.to_owned()));
            }
            "is_thumbnail" => {
                fields.is_thumbnail = Some(value.as_bool().ok_or_else(|| {
                    ApiError::invalid_field("is_thumbnail", "must be true or false")
                })?);
            }
            "sort_order" => fields.sort_order = Some(sort_order_from_json(&value)?),
            "description" => {
                let s = value
                    .as_str()
                    .ok_or_else(|| ApiError::invalid_field("description", "must be a string"))?;
                fields.description = Some(description(s)?);
            }
            "product_id" => {
                fields.product_id =
                    Some(value.as_i64().ok_or_else(|| {
                        ApiError::invalid_field("product_id", "must be an integer")
                    })?);
            }
            other if READ_ONLY_FIELDS.contains(&other) => {}
            other => return Err(unknown_field(other)),
        }
    }
    Ok(fields)
}

fn unknown_field(name: &str) -> ApiError {
    ApiError::bad_request(format!("The field '{name}' is not a field of an image."))
        .with_reason(format!("unknown field '{name}'"))
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
    let malformed = |e: multer::Error| {
        ApiError::bad_request("The multipart body is malformed.").with_reason(e.to_string())
    };
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        let filename = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(malformed)?;
        let text = || {
            std::str::from_utf8(&data)
                .map(|s| s.trim().to_owned())
                .map_err(|_| ApiError::invalid_field(&name, "must be UTF-8 text"))
        };
        match name.as_str() {
            "image_file" if filename.is_some() => {
                fields.image_file = Some(ImageSource::Upload {
                    filename,
                    bytes: data.clone(),
                });
            }
            "image_file" => fields.image_file = Some(ImageSource::Reference(text()?)),
            "is_thumbnail" => {
                fields.is_thumbnail = Some(match text()?.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => {
                        return Err(ApiError::invalid_field(
                            "is_thumbnail",
                            "must be true or false",
                        ));
                    }
                });
            }
            "sort_order" => {
                let t = text()?;
                let k = t.parse::<i64>().map_err(|_| {
                    ApiError::invalid_field("sort_order", format!("'{t}' is not a decimal integer"))
                })?;
                fields.sort_order = Some(sort_order(k)?);
            }
            "description" => {
                let s = std::str::from_utf8(&data)
                    .map_err(|_| ApiError::invalid_field("description", "must be UTF-8 text"))?;
                fields.description = Some(description(s)?);
            }
            "product_id" => {
                let t = text()?;
                fields.product_id = Some(t.parse::<i64>().map_err(|_| {
                    ApiError::invalid_field("product_id", format!("'{t}' is not a decimal integer"))
                })?);
            }
            other if READ_ONLY_FIELDS.contains(&other) => {}
            other => return Err(unknown_field(other)),
        }
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
                let s = s.trim();
                if s.is_empty() || s.chars().count() > MAX_NAME_CHARS {
                    return Err(ApiError::invalid_field(
                        "name",
                        format!("must have 1 to {MAX_NAME_CHARS} characters"),
                    ));
                }
                name = Some(s.to_owned());
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
