//! One module per resource of the API table in DESIGN.md.

pub mod health;
