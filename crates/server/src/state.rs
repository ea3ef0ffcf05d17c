//! The one application state: services in `Arc`s, no globals.

use crate::billing::providers::Providers;
use crate::gateway::admission::Admission;
use crate::gateway::auth::LastUsed;
use crate::gateway::catalog::ModelCatalog;
use crate::gateway::key_cache::KeyCache;
use crate::gateway::tenants::TenantCache;
use crate::metering::journal::Journal;
use crate::settings::Settings;
use kobo_domain::clock::Clock;
use kobo_store::Store;
use std::sync::Arc;
use tokio_util::task::TaskTracker;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub keys: Arc<KeyCache>,
    pub tenants: Arc<TenantCache>,
    pub catalog: Arc<ModelCatalog>,
    pub admission: Arc<Admission>,
    pub journal: Journal,
    pub last_used: Arc<LastUsed>,
    /// The payment providers configured (Paystack, Flutterwave).
    pub payments: Arc<Providers>,
    /// Request work that outlives its handler (streams); shutdown waits for it.
    pub tasks: TaskTracker,
}

impl AppState {
    /// Reachability of the shared limiter store, for `/ready` (in-process: always).
    pub async fn limiter_ping(&self) -> Result<(), String> {
        self.admission.ping().await.map_err(|e| e.to_string())
    }
}
