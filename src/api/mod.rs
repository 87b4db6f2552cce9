//! The store's API: wire types, the async client, and the reorder planner. This is the only
//! code that knows the HTTP details of the store; callers use typed methods. Reading a real
//! store's records leniently lives in `lenient.rs`, the request budget shared by a client's
//! clones in `pacing.rs`.

mod client;
mod connect;
pub mod dates;
mod error;
mod lenient;
pub mod naming;
mod pacing;
pub mod reorder;
pub mod types;

pub use client::{Client, Credentials, Progress, RetryPolicy, UploadSource};
pub use connect::{StoreAddress, connect};
pub use error::ApiError;
pub use types::{
    Count, Created, FieldValue, Image, ImageWrite, Listing, NewProduct, Page, Product, RecordKind,
    UnreadableRecord, UploadRoute,
};
