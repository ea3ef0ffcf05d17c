//! Kobo's pure rules: no I/O, no async. Money, plans, calendar, permissions, ids.

pub mod api_key;
pub mod calendar;
pub mod clock;
pub mod email;
pub mod holidays;
pub mod ids;
pub mod invoice;
pub mod money;
pub mod password;
pub mod plan;
pub mod proration;
pub mod rbac;
pub mod tax;
