//! One module per resource of the API table in the README.

pub mod auth;
pub mod content;
pub mod feed;
pub mod health;
pub mod invalidate;
pub mod logs;
pub mod mirrors;
pub mod origin;
pub mod status;
pub mod stream;
