//! imagedesk: a desktop tool for managing e-commerce product images, and a conforming server for
//! the BigCommerce-style Product Images API v2 that it embeds by default.
//!
//! - [`api`]: wire types, the async client and the reorder planner;
//! - [`server`]: the API server (`imagedesk serve`);
//! - [`imaging`]: decoding, validation and resizing, shared by both;
//! - [`sync`]: the app's local replica and durable outbox (offline-first);
//! - [`ui`]: the eframe/egui app, and [`desktop`], which starts it;
//! - [`store_cli`]: the store commands (`imagedesk sync`, `add`, `describe`, …) over the engine;
//! - [`durable`]: the one way to write a file that must survive a crash.

pub mod api;
pub mod desktop;
pub mod durable;
pub mod imaging;
pub mod server;
pub mod store_cli;
pub mod sync;
pub mod ui;
