//! Cluster-wide room membership, read from Redis.

use std::collections::{HashMap, HashSet};

use redis::aio::MultiplexedConnection;

use super::names::Keys;
use crate::{ConnectionId, Key};

/// Removes the entries (ARGV pairs after the prefix: connection id, node id) whose
/// node's heartbeat is absent *now*: a node that came back meanwhile keeps them.
const REMOVE_DEAD: &str = r"
for i = 2, #ARGV, 2 do
  if redis.call('EXISTS', ARGV[1] .. ':node:' .. ARGV[i + 1]) == 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0";

/// Live members of `room` and their user keys: entries of dead nodes are left out
/// and removed. An entry's value is its node, then `:` and its key if it has one.
pub(super) async fn members(
    connection: &mut MultiplexedConnection,
    keys: &Keys,
    room: &str,
) -> redis::RedisResult<Vec<(ConnectionId, Option<Key>)>> {
    let room_key = keys.room_key(room);
    let entries: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&room_key)
        .query_async(connection)
        .await?;
    let node_of = |value: &'_ str| -> (String, Option<Key>) {
        match value.split_once(':') {
            Some((node, key)) => (node.to_owned(), Some(Key::from(key))),
            None => (value.to_owned(), None),
        }
    };
    let mut nodes: Vec<String> = entries.values().map(|value| node_of(value).0).collect();
    nodes.sort();
    nodes.dedup();
    let alive: HashSet<String> = if nodes.is_empty() {
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
    for (id, value) in &entries {
        let (node, key) = node_of(value);
        match id.parse::<ConnectionId>() {
            Ok(parsed) if alive.contains(&node) => live.push((parsed, key)),
            _ => dead.extend([id.clone(), node]),
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
    live.sort_by_key(|(id, _)| *id);
    Ok(live)
}
