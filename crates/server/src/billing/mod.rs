//! Plans, subscriptions and payments (capabilities 8 and 9).
//!
//! Every payment has our own reference, persisted before the provider is called. A
//! payment is settled by exactly one code path, [`settle::settle`], whichever of the
//! provider's webhook, the payer's return to the callback URL or a renewal charge gets
//! there first; the store applies it at most once, with its effects, in one transaction.

pub mod periods;
pub mod providers;
pub mod renewals;
pub mod schedule;
pub mod settle;
pub mod subscriptions;
