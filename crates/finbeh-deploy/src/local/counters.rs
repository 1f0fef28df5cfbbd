//! The router's per-deployment traffic counters (requests, errors, latency histogram) that the
//! rollout gates read. Each router thread counts into a shard of its own, so two threads never
//! write the same cache line; a snapshot sums the shards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::target::{LATENCY_BUCKETS_MS, TrafficCounters};

/// One thread's counts of one deployment (aligned so that shards never share a cache line).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard {
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; LATENCY_BUCKETS_MS.len() + 1],
}

/// The counts of one deployment, one shard per router thread.
#[derive(Debug)]
pub(crate) struct DeploymentCounters {
    shards: Box<[Shard]>,
}

impl DeploymentCounters {
    fn new(shards: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Shard::default()).collect(),
        }
    }

    /// Counts one request that took `elapsed` to its answer's head (or to failing), in the
    /// shard of router thread `shard`.
    pub(crate) fn record(&self, shard: usize, failed: bool, elapsed: Duration) {
        let Some(counts) = self.shards.get(shard % self.shards.len()) else {
            return;
        };
        counts.requests.fetch_add(1, Ordering::Relaxed);
        if failed {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
        let elapsed_ms = elapsed.as_secs_f64() * 1e3;
        let bucket = LATENCY_BUCKETS_MS
            .iter()
            .position(|&upper| elapsed_ms <= upper)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        if let Some(b) = counts.buckets.get(bucket) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn requests(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.requests.load(Ordering::Relaxed))
            .sum()
    }

    fn errors(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.errors.load(Ordering::Relaxed))
            .sum()
    }

    fn buckets(&self) -> Vec<u64> {
        (0..=LATENCY_BUCKETS_MS.len())
            .map(|i| {
                self.shards
                    .iter()
                    .filter_map(|s| s.buckets.get(i))
                    .map(|b| b.load(Ordering::Relaxed))
                    .sum()
            })
            .collect()
    }
}

/// Every deployment's counters by name, kept across route changes (a deployment redeployed
/// under the same name keeps counting on).
#[derive(Debug)]
pub(crate) struct CounterRegistry {
    shards: usize,
    by_name: Mutex<Vec<(String, Arc<DeploymentCounters>)>>,
}

impl CounterRegistry {
    /// A registry whose counters have `shards` shards (one per router thread).
    pub(crate) fn new(shards: usize) -> Self {
        Self {
            shards,
            by_name: Mutex::new(Vec::new()),
        }
    }

    /// The counters of `name`, created on first use.
    pub(crate) fn of(&self, name: &str) -> Arc<DeploymentCounters> {
        let mut by_name = self
            .by_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, counters)) = by_name.iter().find(|(n, _)| n == name) {
            return Arc::clone(counters);
        }
        let counters = Arc::new(DeploymentCounters::new(self.shards));
        by_name.push((name.to_owned(), Arc::clone(&counters)));
        counters
    }

    /// A snapshot of every deployment's counters (shards summed).
    pub(crate) fn snapshot(&self) -> TrafficCounters {
        let by_name = self
            .by_name
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = TrafficCounters::default();
        for (name, c) in by_name.iter() {
            out.requests.insert(name.clone(), c.requests());
            out.errors.insert(name.clone(), c.errors());
            out.latency_buckets.insert(name.clone(), c.buckets());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_sum_into_one_snapshot() {
        let registry = CounterRegistry::new(2);
        let blue = registry.of("blue");
        blue.record(0, false, Duration::from_micros(100));
        blue.record(1, true, Duration::from_millis(4));
        blue.record(7, false, Duration::from_secs(60)); // any shard index maps to a shard
        assert!(Arc::ptr_eq(&blue, &registry.of("blue")));
        let snapshot = registry.snapshot();
        assert_eq!(snapshot.requests["blue"], 3);
        assert_eq!(snapshot.errors["blue"], 1);
        let buckets = &snapshot.latency_buckets["blue"];
        assert_eq!(buckets.len(), LATENCY_BUCKETS_MS.len() + 1);
        assert_eq!(buckets[0], 1, "0.1 ms is in the first bucket (≤ 0.25 ms)");
        assert_eq!(buckets[5], 1, "4 ms is in the ≤ 5 ms bucket");
        assert_eq!(buckets[LATENCY_BUCKETS_MS.len()], 1, "60 s overflows");
    }
}
