//! An in-process cache of organizations with their plan and effective limits, so the
//! hot path reads no database in steady state. Entries live one second: a plan change,
//! a suspension or new limits reach every replica within that.

use crate::tenancy::{overrides_of, EffectiveLimits};
use kobo_domain::ids::OrgId;
use kobo_domain::plan::Plan;
use kobo_store::{OrgRecord, Store, StoreError};
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Tenant {
    pub org: OrgRecord,
    pub plan: Plan,
    pub limits: EffectiveLimits,
}

pub struct TenantCache {
    store: Arc<dyn Store>,
    ttl: Duration,
    entries: RwLock<HashMap<OrgId, (Arc<Tenant>, Instant)>>,
}

impl TenantCache {
    pub fn new(store: Arc<dyn Store>, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    pub async fn get(&self, org: OrgId) -> Result<Option<Arc<Tenant>>, StoreError> {
        if let Some((t, at)) = self.entries.read().get(&org) {
            if at.elapsed() < self.ttl {
                return Ok(Some(t.clone()));
            }
        }
        let Some(rec) = self.store.organization(org).await? else {
            return Ok(None);
        };
        let plan = self.store.plan(&rec.plan_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "organization {org} has unknown plan {}",
                rec.plan_id
            ))
        })?;
        let limits = EffectiveLimits::of(&plan, &overrides_of(&rec));
        let t = Arc::new(Tenant {
            org: rec,
            plan,
            limits,
        });
        self.entries
            .write()
            .insert(org, (t.clone(), Instant::now()));
        Ok(Some(t))
    }

    pub fn forget(&self, org: OrgId) {
        self.entries.write().remove(&org);
    }
}
