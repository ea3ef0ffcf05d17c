//! The OpenAI-compatible gateway: the hot path.

pub mod admission;
pub mod auth;
pub mod catalog;
pub mod ip_scope;
pub mod key_cache;
pub mod proxy;
pub mod tenants;
