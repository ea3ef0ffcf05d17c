//! The Kobo application: HTTP routes, middleware, services. `main` and the tests
//! both call [`App::build`] and [`App::serve`].

pub mod accounts;
pub mod app;
pub mod billing;
pub mod demo;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod invoices;
pub mod metering;
pub mod openapi;
pub mod routes;
pub mod settings;
pub mod state;
pub mod telemetry;
pub mod tenancy;

pub use app::{shutdown_signal, App};
pub use settings::Settings;
