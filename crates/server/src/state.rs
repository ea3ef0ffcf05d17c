//! The one application state: services in `Arc`s, no globals.

use crate::gateway::key_cache::KeyCache;
use crate::settings::Settings;
use kobo_domain::clock::Clock;
use kobo_store::Store;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub keys: Arc<KeyCache>,
}

impl AppState {
    /// Reachability of the shared limiter store, for `/ready` (in-process: always).
    pub async fn limiter_ping(&self) -> Result<(), String> {
        Ok(())
    }
}
