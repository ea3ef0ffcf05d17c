//! HTTP routes grouped by area. Handlers extract, call a service or the store, map.

pub mod admin;
pub mod admin_billing;
pub mod auth;
pub mod billing;
pub mod invoices;
pub mod keys;
pub mod ops;
pub mod orgs;
pub mod usage;
pub mod webhooks;
