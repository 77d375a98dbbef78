//! The two networks between the storage nodes of one cluster, as in the seed: a fast `primary`
//! network and a low-capacity `replication` network used as back-up and overflow. Faults change
//! their state; every node-to-node transfer asks the fabric for a route.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::NodeId;

/// One of the two networks of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Primary,
    Replication,
}

impl Network {
    pub const BOTH: [Network; 2] = [Network::Primary, Network::Replication];
}

/// Why a transfer between two nodes did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// No network connects the two nodes.
    Unreachable,
    /// The only route is over its bandwidth cap: the request times out.
    Saturated(Network),
}

#[derive(Debug, Clone, Default)]
struct NetworkState {
    isolated: BTreeSet<NodeId>,
    /// Bytes per second the network carries; `None` is unlimited.
    bandwidth: Option<u64>,
    latency: Duration,
    /// Bytes still allowed in the current one-second window.
    budget: u64,
    window: u64,
}

/// The state of both networks of one cluster.
#[derive(Debug, Clone, Default)]
pub struct Fabric {
    primary: NetworkState,
    replication: NetworkState,
}

impl Fabric {
    fn net(&self, n: Network) -> &NetworkState {
        match n {
            Network::Primary => &self.primary,
            Network::Replication => &self.replication,
        }
    }

    fn net_mut(&mut self, n: Network) -> &mut NetworkState {
        match n {
            Network::Primary => &mut self.primary,
            Network::Replication => &mut self.replication,
        }
    }

    /// Cuts `nodes` off `network`: they reach no other node over it.
    pub fn partition(&mut self, nodes: &[NodeId], network: Network) {
        self.net_mut(network).isolated.extend(nodes.iter().copied());
    }

    /// Reconnects `nodes` (all nodes when empty) on `network`.
    pub fn heal(&mut self, nodes: &[NodeId], network: Network) {
        let net = self.net_mut(network);
        if nodes.is_empty() {
            net.isolated.clear();
        } else {
            for n in nodes {
                net.isolated.remove(n);
            }
        }
    }

    /// Heals both networks and lifts caps and latency.
    pub fn heal_all(&mut self) {
        *self = Fabric::default();
    }

    /// Caps `network` at `bytes_per_second` (`None` lifts the cap).
    pub fn cap_bandwidth(&mut self, network: Network, bytes_per_second: Option<u64>) {
        let net = self.net_mut(network);
        net.bandwidth = bytes_per_second;
        net.budget = bytes_per_second.unwrap_or(0);
    }

    pub fn set_latency(&mut self, network: Network, latency: Duration) {
        self.net_mut(network).latency = latency;
    }

    pub fn is_isolated(&self, node: NodeId, network: Network) -> bool {
        self.net(network).isolated.contains(&node)
    }

    pub fn bandwidth(&self, network: Network) -> Option<u64> {
        self.net(network).bandwidth
    }

    /// The network traffic between `a` and `b` would take: primary when both are on it, else
    /// replication (the overflow path), else none.
    pub fn route(&self, a: NodeId, b: NodeId) -> Option<Network> {
        Network::BOTH.into_iter().find(|&n| {
            let net = self.net(n);
            !net.isolated.contains(&a) && !net.isolated.contains(&b)
        })
    }

    /// Whether traffic between `a` and `b` flows at `bytes_per_second` or more: a route exists
    /// and is not capped below that (a starved link routes, but cannot carry a volume's writes).
    pub fn carries(&self, a: NodeId, b: NodeId, bytes_per_second: u64) -> bool {
        self.route(a, b).is_some_and(|n| self.net(n).bandwidth.is_none_or(|cap| cap >= bytes_per_second))
    }

    /// Whether a node can talk to the cluster's authority (over either network).
    pub fn reaches_authority(&self, node: NodeId) -> bool {
        Network::BOTH.into_iter().any(|n| !self.net(n).isolated.contains(&node))
    }

    /// Sends `bytes` from `a` to `b` at time `now`, spending the route's bandwidth budget.
    pub fn transfer(&mut self, a: NodeId, b: NodeId, bytes: u64, now: Duration) -> Result<Network, RouteError> {
        let network = self.route(a, b).ok_or(RouteError::Unreachable)?;
        let net = self.net_mut(network);
        if let Some(cap) = net.bandwidth {
            let window = now.as_secs();
            if window != net.window {
                net.window = window;
                net.budget = cap;
            }
            if bytes > net.budget {
                return Err(RouteError::Saturated(network));
            }
            net.budget -= bytes;
        }
        Ok(network)
    }

    /// How long moving `bytes` between `a` and `b` takes at the route's cap and latency, no
    /// faster than `throttle` bytes per second.
    pub fn transfer_time(&self, a: NodeId, b: NodeId, bytes: u64, throttle: Option<u64>) -> Option<Duration> {
        let net = self.net(self.route(a, b)?);
        let rate = match (net.bandwidth, throttle) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        let copy = match rate {
            Some(0) => return None,
            Some(r) => Duration::from_secs_f64(bytes as f64 / r as f64),
            None => Duration::ZERO,
        };
        Some(net.latency + copy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_overflows_to_replication_and_stops_when_both_are_cut() {
        let mut f = Fabric::default();
        let (a, b) = (NodeId(0), NodeId(1));
        assert_eq!(f.route(a, b), Some(Network::Primary));
        f.partition(&[a], Network::Primary);
        assert_eq!(f.route(a, b), Some(Network::Replication));
        assert!(f.reaches_authority(a));
        f.partition(&[a], Network::Replication);
        assert_eq!(f.route(a, b), None);
        assert!(!f.reaches_authority(a));
        f.heal(&[a], Network::Primary);
        assert_eq!(f.route(a, b), Some(Network::Primary));
    }

    #[test]
    fn a_capped_network_refuses_what_exceeds_its_budget_per_second() {
        let mut f = Fabric::default();
        let (a, b) = (NodeId(0), NodeId(1));
        f.partition(&[a], Network::Primary);
        f.cap_bandwidth(Network::Replication, Some(1000));
        let t = Duration::from_millis(10);
        assert_eq!(f.transfer(a, b, 600, t), Ok(Network::Replication));
        assert_eq!(f.transfer(a, b, 600, t), Err(RouteError::Saturated(Network::Replication)));
        assert_eq!(f.transfer(a, b, 600, Duration::from_millis(1010)), Ok(Network::Replication));
        assert_eq!(f.transfer_time(a, b, 2000, None), Some(Duration::from_secs(2)));
    }
}
