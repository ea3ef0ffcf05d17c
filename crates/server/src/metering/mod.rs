//! Usage metering: the record of each request, its durable journal, and the mover.

pub mod journal;
pub mod mover;
