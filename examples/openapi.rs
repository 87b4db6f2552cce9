//! Prints the server's OpenAPI 3.1 description: `cargo run --example openapi > openapi.json`.
fn main() {
    println!("{}", imagedesk::server::openapi_json());
}
