//! HTTP routes grouped by area. Handlers extract, call a service or the store, map.

pub mod admin;
pub mod auth;
pub mod keys;
pub mod ops;
pub mod orgs;
pub mod usage;
