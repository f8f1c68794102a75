//! D1 queries of the origin data, driven by [`schema::TABLES`], one
//! description per content table.
//!
//! - [`schema`]: the tables, their fields and what each field may hold.
//! - [`validate`](mod@validate): a request body checked against a table,
//!   into the [`Changes`](validate::Changes) a write makes.
//! - [`sql`]: the statements of the writes and the feed, every value bound.
//! - [`entity`]: rows as JSON, the feed's items and its order.
//! - [`d1`]: the calls to D1, and the only module here that touches the
//!   platform; the others are plain Rust, tested natively.
//!
//! They depend one way: `d1` on all the others, `sql` on `validate`, every
//! one on `schema`.

pub mod d1;
pub mod entity;
pub mod schema;
pub mod sql;
pub mod validate;

pub use d1::Db;
pub use entity::{to_json, FeedItem};
pub use schema::table;
pub use validate::{validate, Mode};
