//! The OpenAPI 3.1 description, generated from the handlers' annotations (utoipa) and served at
//! `/api/v2/openapi.json`. This module holds the parts that are not routes; `routes.rs` adds the
//! paths, so that the dependency runs one way.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, RefOr, Schema};
use utoipa::{Modify, OpenApi};

mod bodies;

pub use bodies::{ImageCreate, ImageUpdate, ImageUpload, ProductCreate};

use crate::api::types::{Count, ErrorDetails, ErrorEntry, Image, Product};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "imagedesk Product Images API v2",
        description = "BigCommerce-style Product Images API v2 with imagedesk's extensions \
                       (products, date_modified, Idempotency-Key). The `.json` suffix is optional \
                       on every v2 path. Errors are arrays of {status, message, details}. The one \
                       v3 path (uploading a local file) has its own server, /api/v3, and answers \
                       errors as v3 objects {status, title, type, errors}."
    ),
    servers((url = "/api/v2")),
    components(schemas(Image, Product, Count, ErrorEntry, ErrorDetails)),
    modifiers(&Credentials),
    security(("basic" = []), ("token" = [])),
    tags((name = "images", description = "Product images"),
         (name = "products", description = "Products (imagedesk extension)"),
         (name = "v3", description = "BigCommerce v3 catalog: uploading a local file"))
)]
struct ApiDoc;

struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Auth-Token"))),
        );
    }
}

/// Which error shape the operations of a path answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorShape {
    /// `[{status, message, details}]` (`/api/v2`).
    V2,
    /// `{status, title, type, errors}` (`/api/v3`).
    V3,
}

/// The answers every API operation may give before its handler runs (`auth::api_guard`):
/// 401 (with `WWW-Authenticate`), 406, and 429 (with `X-Retry-After`, under `--rate-limit`).
/// Added to each operation here rather than written on each handler, so that no route can
/// leave them out.
pub fn add_guard_answers(doc: &mut OpenApiDoc, shape: ErrorShape) {
    for item in doc.paths.paths.values_mut() {
        for operation in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
        ]
        .into_iter()
        .flatten()
        {
            add_guard_answers_to(operation, shape);
        }
    }
}

fn add_guard_answers_to(operation: &mut Operation, shape: ErrorShape) {
    let error: RefOr<Schema> = match shape {
        ErrorShape::V2 => ArrayBuilder::new()
            .items(Ref::from_schema_name("ErrorEntry"))
            .into(),
        ErrorShape::V3 => Ref::from_schema_name("V3Error").into(),
    };
    let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    let seconds = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer));
    let answers = [
        (
            "401",
            "Missing or wrong credentials",
            Some(("WWW-Authenticate", text(), "Basic realm=\"imagedesk\"")),
        ),
        ("406", "The Accept header excludes application/json", None),
        (
            "429",
            "Rate limit reached (--rate-limit)",
            Some((
                "X-Retry-After",
                seconds(),
                "Seconds until the window resets",
            )),
        ),
    ];
    for (status, description, header) in answers {
        if operation.responses.responses.contains_key(status) {
            continue;
        }
        let mut response = ResponseBuilder::new().description(description).content(
            "application/json",
            ContentBuilder::new().schema(Some(error.clone())).build(),
        );
        if let Some((name, schema, about)) = header {
            response = response.header(
                name,
                HeaderBuilder::new()
                    .schema(schema)
                    .description(Some(about))
                    .build(),
            );
        }
        operation
            .responses
            .responses
            .insert(status.to_owned(), RefOr::T(response.build()));
    }
}

/// The document before the routes add their paths.
pub fn base() -> OpenApiDoc {
    ApiDoc::openapi()
}

pub fn render(doc: &OpenApiDoc) -> String {
    doc.to_pretty_json().unwrap_or_else(|e| {
        format!("{{\"error\": \"could not render the OpenAPI document: {e}\"}}")
    })
}
