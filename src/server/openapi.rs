//! The OpenAPI 3.1 description, generated from the handlers' annotations (utoipa) and served at
//! `/api/v2/openapi.json`. This module holds the parts that are not routes; `routes.rs` adds the
//! paths, so that the dependency runs one way.

use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::types::{Count, ErrorDetails, ErrorEntry, Image, ImageWrite, NewProduct, Product};

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
    components(schemas(Image, Product, Count, NewProduct, ImageWrite, ErrorEntry, ErrorDetails)),
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

/// The document before the routes add their paths.
pub fn base() -> OpenApiDoc {
    ApiDoc::openapi()
}

pub fn render(doc: &OpenApiDoc) -> String {
    doc.to_pretty_json().unwrap_or_else(|e| {
        format!("{{\"error\": \"could not render the OpenAPI document: {e}\"}}")
    })
}
