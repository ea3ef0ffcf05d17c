//! A string-keyed map split into mutex-guarded shards, able to lock several keys at once.
//!
//! Several keys are locked in ascending shard order, so two requests locking overlapping
//! sets can never deadlock. Expired entries are dropped lazily by the caller and swept
//! in bulk once a shard has seen as many operations as it holds entries, which keeps the
//! sweep's cost amortised O(1) per operation.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use parking_lot::{Mutex, MutexGuard};

const SHARDS: usize = 32;
/// A shard is not swept before it has seen this many operations.
const MIN_OPS_BETWEEN_SWEEPS: usize = 1024;

pub(crate) struct Shard<V> {
    pub(crate) map: HashMap<String, V>,
    ops_since_sweep: usize,
}

impl<V> Shard<V> {
    /// Counts one operation and, when due, drops every entry `expired` says is dead.
    pub(crate) fn tick(&mut self, mut expired: impl FnMut(&V) -> bool) {
        self.ops_since_sweep += 1;
        if self.ops_since_sweep >= MIN_OPS_BETWEEN_SWEEPS.max(self.map.len()) {
            self.ops_since_sweep = 0;
            self.map.retain(|_, v| !expired(v));
        }
    }
}

pub(crate) struct Sharded<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    hasher: RandomState,
}

impl<V> Sharded<V> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::new(),
                        ops_since_sweep: 0,
                    })
                })
                .collect(),
            hasher: RandomState::new(),
        }
    }

    fn shard_of(&self, key: &str) -> usize {
        // SHARDS is a power of two; the low bits of SipHash are well mixed.
        (self.hasher.hash_one(key) as usize) & (SHARDS - 1)
    }

    /// Locks the shard holding `key`.
    pub(crate) fn lock(&self, key: &str) -> MutexGuard<'_, Shard<V>> {
        self.shards[self.shard_of(key)].lock()
    }

    /// Locks the shards holding every key, in ascending order.
    pub(crate) fn lock_many<'a, 'k>(
        &'a self,
        keys: impl Iterator<Item = &'k str>,
    ) -> ManyLocked<'a, V> {
        let of_key: Vec<usize> = keys.map(|k| self.shard_of(k)).collect();
        let mut order = of_key.clone();
        order.sort_unstable();
        order.dedup();
        let guards = order.iter().map(|&i| self.shards[i].lock()).collect();
        let of_key = of_key
            .iter()
            .map(|shard| order.binary_search(shard).unwrap_or(0))
            .collect();
        ManyLocked { of_key, guards }
    }

    /// Number of live and not-yet-swept entries (for tests and metrics).
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().map.len()).sum()
    }
}

/// Guards over the shards of a list of keys; `shard(i)` is the shard of the `i`-th key.
pub(crate) struct ManyLocked<'a, V> {
    of_key: Vec<usize>,
    guards: Vec<MutexGuard<'a, Shard<V>>>,
}

impl<V> ManyLocked<'_, V> {
    pub(crate) fn shard(&mut self, key_index: usize) -> &mut Shard<V> {
        let guard = self.of_key.get(key_index).copied().unwrap_or(0);
        &mut self.guards[guard]
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn lock_many_maps_each_key_to_its_own_shard() {
        let map: Sharded<u64> = Sharded::new();
        let keys: Vec<String> = (0..100).map(|i| format!("key-{i}")).collect();
        {
            let mut locked = map.lock_many(keys.iter().map(String::as_str));
            for (i, key) in keys.iter().enumerate() {
                locked.shard(i).map.insert(key.clone(), i as u64);
            }
        }
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(map.lock(key).map.get(key), Some(&(i as u64)));
        }
        assert_eq!(map.len(), 100);
    }

    #[test]
    fn sweeping_drops_expired_entries() {
        let map: Sharded<u64> = Sharded::new();
        let mut shard = map.lock("a");
        for i in 0..10 {
            shard.map.insert(format!("k{i}"), i);
        }
        for _ in 0..MIN_OPS_BETWEEN_SWEEPS {
            shard.tick(|v| *v < 5);
        }
        assert_eq!(shard.map.len(), 5);
    }
}
