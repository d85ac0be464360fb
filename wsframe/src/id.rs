//! Connection identity: [`ConnectionId`] and [`NodeId`].
//!
//! An id carries the id of the node (server process) that made it, so ids stay unique
//! when several nodes share rooms through a backplane.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// Identifies one server process in a cluster.
///
/// By default each process draws a random id at start-up; set one explicitly with
/// [`Config::node_id`](crate::Config::node_id) when ids must be stable.
///
/// ```
/// use wsframe::NodeId;
/// let node = NodeId(7);
/// assert_eq!(node.to_string(), "0000000000000007");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct NodeId(pub u64);

impl NodeId {
    /// A random node id, drawn from the standard library's randomly seeded hasher.
    pub fn random() -> NodeId {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        hasher.write_u32(std::process::id());
        NodeId(hasher.finish())
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Identifies one WebSocket connection, unique across the cluster.
///
/// ```
/// use wsframe::{ConnectionId, NodeId};
/// let a = ConnectionId::next(NodeId(1));
/// let b = ConnectionId::next(NodeId(1));
/// assert_ne!(a, b);
/// assert_eq!(a.node(), NodeId(1));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConnectionId {
    node: NodeId,
    seq: u64,
}

static NEXT_SEQ: AtomicU64 = AtomicU64::new(1);

impl ConnectionId {
    /// A fresh id on `node`, unique within this process.
    pub fn next(node: NodeId) -> ConnectionId {
        ConnectionId {
            node,
            seq: NEXT_SEQ.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(crate) fn from_parts(node: NodeId, seq: u64) -> ConnectionId {
        ConnectionId { node, seq }
    }

    /// The node that owns this connection.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The per-process sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.node, self.seq)
    }
}

/// Parses the `Display` form, `<node as 16 hex digits>-<sequence>`.
///
/// ```
/// use wsframe::{ConnectionId, NodeId};
/// let id = ConnectionId::next(NodeId(0xab));
/// assert_eq!(id.to_string().parse::<ConnectionId>().unwrap(), id);
/// assert!("nope".parse::<ConnectionId>().is_err());
/// ```
impl std::str::FromStr for ConnectionId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a connection id (expected <16 hex digits>-<number>)");
        let (node, seq) = s.split_once('-').ok_or_else(bad)?;
        if node.len() != 16 {
            return Err(bad());
        }
        Ok(ConnectionId {
            node: NodeId(u64::from_str_radix(node, 16).map_err(|_| bad())?),
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_carry_the_node() {
        let node = NodeId::random();
        let ids: std::collections::HashSet<_> =
            (0..1000).map(|_| ConnectionId::next(node)).collect();
        assert_eq!(ids.len(), 1000);
        assert!(ids.iter().all(|id| id.node() == node));
        assert_ne!(NodeId::random(), NodeId::random());
    }
}
