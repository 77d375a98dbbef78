//! How a cluster re-mirrors a volume that lost its peer: the 2011 behaviour (`legacy`) and the
//! one AWS promised afterwards (`hardened`). The mechanism lives in the cluster; a policy only
//! answers its questions.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which policy a cluster runs; switchable at runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PolicyKind {
    Legacy,
    Hardened,
}

/// The questions the re-mirroring worker asks.
pub trait RemirrorPolicy: std::fmt::Debug + Send + Sync {
    fn kind(&self) -> PolicyKind;
    /// How long a lost peer is waited for before a new one is searched for.
    fn peer_grace(&self) -> Duration;
    /// Whether the previous peer, once reachable again, is taken back (no copy needed).
    fn reconnect_to_previous_peer(&self) -> bool;
    /// Whether a replica that lost its peer asks the authority before searching for space. In
    /// 2011 it did not: a replica already replaced elsewhere kept its data and searched the
    /// cluster for a new peer, only to be refused by the authority when it finally found one.
    fn confirm_with_authority_first(&self) -> bool;
    /// Whether a target's space is reserved when the copy starts (else checked at commit).
    fn reserve_target_space(&self) -> bool;
    /// A target may be filled up to this fraction of its capacity.
    fn max_fill_ratio(&self) -> f64;
    /// Delay before the next search after `failures` failed ones.
    fn retry_delay(&self, failures: u32, rng: &mut dyn rand::RngCore) -> Duration;
    /// Concurrent rebuilds a node may take part in, and a cluster may run (`None`: unlimited).
    fn max_rebuilds_per_node(&self) -> Option<usize>;
    fn max_rebuilds_per_cluster(&self) -> Option<usize>;
    /// Copy throttle in bytes per second (`None`: as fast as the network allows).
    fn copy_throttle(&self) -> Option<u64>;
    /// Whether a re-mirror copies from the replica clients can still reach (on the primary
    /// network) when both replicas are alive: the set then serves again as soon as the copy is
    /// done. In 2011 the primary that lost its peer searched from where it stood.
    fn copy_from_reachable_replica(&self) -> bool;
}

/// April 2011: retry at once and forever, only new nodes (the lost peer is presumed failed), no
/// reservation, no buffer, no limits.
#[derive(Debug, Clone, Default)]
pub struct Legacy;

impl RemirrorPolicy for Legacy {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Legacy
    }
    fn peer_grace(&self) -> Duration {
        Duration::ZERO
    }
    fn reconnect_to_previous_peer(&self) -> bool {
        false
    }
    fn confirm_with_authority_first(&self) -> bool {
        false
    }
    fn reserve_target_space(&self) -> bool {
        false
    }
    fn max_fill_ratio(&self) -> f64 {
        1.0
    }
    fn retry_delay(&self, _failures: u32, _rng: &mut dyn rand::RngCore) -> Duration {
        Duration::ZERO
    }
    fn max_rebuilds_per_node(&self) -> Option<usize> {
        None
    }
    fn max_rebuilds_per_cluster(&self) -> Option<usize> {
        None
    }
    fn copy_throttle(&self) -> Option<u64> {
        None
    }
    fn copy_from_reachable_replica(&self) -> bool {
        false
    }
}

/// After the post-mortem: a grace period and reconnection to the previous peer first, backoff
/// with jitter, reserved space under a fill ceiling, rebuild caps and a copy throttle.
#[derive(Debug, Clone)]
pub struct Hardened {
    pub peer_grace: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    pub max_fill_ratio: f64,
    pub max_rebuilds_per_node: usize,
    pub max_rebuilds_per_cluster: usize,
    pub copy_throttle: u64,
}

impl Default for Hardened {
    fn default() -> Self {
        Self {
            peer_grace: Duration::from_secs(5),
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(30),
            // The capacity buffer: keep 10% of every node free for re-mirroring headroom.
            max_fill_ratio: 0.9,
            max_rebuilds_per_node: 2,
            max_rebuilds_per_cluster: 8,
            // 256 MiB/s per rebuild: fast, but leaves the networks to the data path.
            copy_throttle: 256 << 20,
        }
    }
}

impl RemirrorPolicy for Hardened {
    fn kind(&self) -> PolicyKind {
        PolicyKind::Hardened
    }
    fn peer_grace(&self) -> Duration {
        self.peer_grace
    }
    fn reconnect_to_previous_peer(&self) -> bool {
        true
    }
    fn confirm_with_authority_first(&self) -> bool {
        true
    }
    fn reserve_target_space(&self) -> bool {
        true
    }
    fn max_fill_ratio(&self) -> f64 {
        self.max_fill_ratio
    }
    fn retry_delay(&self, failures: u32, rng: &mut dyn rand::RngCore) -> Duration {
        // Exponential backoff with full jitter.
        let exp = self.base_backoff.saturating_mul(1u32 << failures.min(16)).min(self.max_backoff);
        exp.mul_f64(rng.gen_range(0.5..=1.0))
    }
    fn max_rebuilds_per_node(&self) -> Option<usize> {
        Some(self.max_rebuilds_per_node)
    }
    fn max_rebuilds_per_cluster(&self) -> Option<usize> {
        Some(self.max_rebuilds_per_cluster)
    }
    fn copy_throttle(&self) -> Option<u64> {
        Some(self.copy_throttle)
    }
    fn copy_from_reachable_replica(&self) -> bool {
        true
    }
}

pub fn policy(kind: PolicyKind) -> Box<dyn RemirrorPolicy> {
    match kind {
        PolicyKind::Legacy => Box::new(Legacy),
        PolicyKind::Hardened => Box::new(Hardened::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hardened_backs_off_with_jitter_and_legacy_does_not() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let h = Hardened::default();
        let d1 = h.retry_delay(1, &mut rng);
        let d6 = h.retry_delay(6, &mut rng);
        assert!(d1 >= Duration::from_millis(200) && d1 <= Duration::from_millis(400), "{d1:?}");
        assert!(d6 > d1 && d6 <= h.max_backoff);
        assert_eq!(h.retry_delay(40, &mut rng).max(h.max_backoff), h.max_backoff);
        assert_eq!(Legacy.retry_delay(9, &mut rng), Duration::ZERO);
    }
}
