//! The OpenAI-compatible gateway: the hot path.

pub mod ip_scope;
pub mod key_cache;
