//! The hot path's API-key cache: prefix → key record, no database round trip in steady
//! state. An entry is trusted for `ttl`; revocation and rotation on this replica drop it
//! at once, and across replicas through the Redis bus (where configured). Without a
//! bus the TTL is 1 s, which bounds how long another replica can trust a revoked key.
//! Unknown prefixes are cached too (briefly), so garbage keys cannot hammer the database.

use kobo_store::{ApiKeyRecord, Store};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Entry {
    key: Option<Arc<ApiKeyRecord>>,
    fetched: Instant,
}

pub struct KeyCache {
    store: Arc<dyn Store>,
    entries: RwLock<HashMap<String, Entry>>,
    ttl: Duration,
    bus: Option<Arc<kobo_limits::RedisBus>>,
}

const MAX_ENTRIES: usize = 100_000;

impl KeyCache {
    pub fn new(
        store: Arc<dyn Store>,
        ttl: Duration,
        bus: Option<Arc<kobo_limits::RedisBus>>,
    ) -> Self {
        Self {
            store,
            entries: RwLock::new(HashMap::new()),
            ttl,
            bus,
        }
    }

    pub async fn get(
        &self,
        prefix: &str,
    ) -> Result<Option<Arc<ApiKeyRecord>>, kobo_store::StoreError> {
        if let Some(e) = self.entries.read().get(prefix) {
            if e.fetched.elapsed() < self.ttl {
                return Ok(e.key.clone());
            }
        }
        let key = self.store.key_by_prefix(prefix).await?.map(Arc::new);
        let mut entries = self.entries.write();
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.fetched.elapsed() < self.ttl);
        }
        entries.insert(
            prefix.to_string(),
            Entry {
                key: key.clone(),
                fetched: Instant::now(),
            },
        );
        Ok(key)
    }

    /// Forget a prefix here and tell the other replicas.
    pub async fn invalidate(&self, prefix: &str) {
        self.forget(prefix);
        if let Some(bus) = &self.bus {
            if let Err(e) = bus.publish(prefix).await {
                tracing::warn!(error = %e, "A key invalidation could not be broadcast; other replicas rely on the cache TTL.");
            }
        }
    }

    pub fn clear(&self) {
        self.entries.write().clear();
    }

    pub fn forget(&self, prefix: &str) {
        self.entries.write().remove(prefix);
    }
}
