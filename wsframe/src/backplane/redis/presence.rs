//! Cluster-wide room membership, read from Redis.

use std::collections::{HashMap, HashSet};

use redis::aio::MultiplexedConnection;

use super::names::Keys;
use crate::ConnectionId;

/// Removes the entries (ARGV pairs after the prefix: connection id, node id) whose
/// node's heartbeat is absent *now*: a node that came back meanwhile keeps them.
const REMOVE_DEAD: &str = r"
for i = 2, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[1] .. ':node:' .. ARGV[i + 1]) == 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0";

/// Live members of `room`: entries of dead nodes are left out and removed.
pub(super) async fn members(
    connection: &mut MultiplexedConnection,
    keys: &Keys,
    room: &str,
) -> redis::RedisResult<Vec<ConnectionId>> {
    let room_key = keys.room_key(room);
    let entries: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&room_key)
        .query_async(connection)
        .await?;
    let mut nodes: Vec<&String> = entries.values().collect();
    nodes.sort();
    nodes.dedup();
    let alive: HashSet<&String> = if nodes.is_empty() {
        HashSet::new()
    } else {
        let node_keys: Vec<String> = nodes.iter().map(|n| keys.node_key(n)).collect();
        let beats: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&node_keys)
            .query_async(connection)
            .await?;
        nodes
            .into_iter()
            .zip(beats)
            .filter_map(|(node, beat)| beat.map(|_| node))
            .collect()
    };
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for (id, node) in &entries {
        match id.parse::<ConnectionId>() {
            Ok(parsed) if alive.contains(node) => live.push(parsed),
            _ => dead.extend([id.as_str(), node.as_str()]),
        }
    }
    if !dead.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("EVAL")
            .arg(REMOVE_DEAD)
            .arg(1)
            .arg(&room_key)
            .arg(&keys.prefix)
            .arg(&dead)
            .query_async(connection)
            .await;
    }
    live.sort();
    Ok(live)
}
