//! The model catalog in memory: which models exist, where each is served, what it
//! costs. Loaded from the database (operator edits) and refreshed every few seconds so
//! other replicas see changes without a restart; this replica reloads at once.

use crate::settings::UpstreamConfig;
use kobo_providers::{Upstream, UpstreamKind, UpstreamSettings, MOCK_MODEL};
use kobo_store::{ModelRecord, Store};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The built-in upstream every install has.
pub const MOCK_UPSTREAM: &str = "mock";

pub struct ModelCatalog {
    store: Arc<dyn Store>,
    upstreams: HashMap<String, Upstream>,
    models: RwLock<Arc<HashMap<String, ModelRecord>>>,
}

fn builtin_mock() -> ModelRecord {
    ModelRecord {
        name: MOCK_MODEL.into(),
        upstream: MOCK_UPSTREAM.into(),
        upstream_model: MOCK_MODEL.into(),
        input_price_per_1k_kobo: 0,
        output_price_per_1k_kobo: 0,
        input_cost_per_1k_micro_usd: 0,
        output_cost_per_1k_micro_usd: 0,
        fallbacks: Vec::new(),
        updated_at: 0,
    }
}

impl ModelCatalog {
    pub fn new(store: Arc<dyn Store>, configs: &[UpstreamConfig]) -> anyhow::Result<Self> {
        let mut upstreams = HashMap::new();
        upstreams.insert(
            MOCK_UPSTREAM.to_string(),
            Upstream::new(UpstreamSettings::mock(MOCK_UPSTREAM))?,
        );
        for c in configs {
            let api_key = match &c.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    anyhow::anyhow!(
                        "upstream `{}`: environment variable {var} is not set",
                        c.name
                    )
                })?),
                None => None,
            };
            let mut s = UpstreamSettings::new(c.name.clone(), c.kind, c.base_url.clone());
            s.api_key = api_key;
            s.connect_timeout = Duration::from_millis(c.connect_timeout_ms);
            s.first_byte_timeout = Duration::from_millis(c.first_byte_timeout_ms.min(c.timeout_ms));
            s.total_timeout = Duration::from_millis(c.timeout_ms);
            s.max_retries = c.max_retries;
            if c.kind != UpstreamKind::Mock && c.base_url.is_empty() {
                anyhow::bail!("upstream `{}` needs a base_url", c.name);
            }
            upstreams.insert(c.name.clone(), Upstream::new(s)?);
        }
        Ok(Self {
            store,
            upstreams,
            models: RwLock::new(Arc::new(HashMap::new())),
        })
    }

    pub async fn reload(&self) -> Result<(), kobo_store::StoreError> {
        let mut map: HashMap<String, ModelRecord> = HashMap::new();
        map.insert(MOCK_MODEL.into(), builtin_mock());
        for m in self.store.models().await? {
            map.insert(m.name.clone(), m);
        }
        *self.models.write() = Arc::new(map);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<ModelRecord> {
        self.models.read().get(name).cloned()
    }

    pub fn all(&self) -> Arc<HashMap<String, ModelRecord>> {
        self.models.read().clone()
    }

    pub fn upstream(&self, name: &str) -> Option<&Upstream> {
        self.upstreams.get(name)
    }

    pub fn has_upstream(&self, name: &str) -> bool {
        self.upstreams.contains_key(name)
    }
}
