//! Cluster-wide room membership, read from Redis.

use std::collections::HashMap;

use super::link::Conn;
use super::names::Keys;
use crate::{ConnectionId, Key};

/// Removes the entries (ARGV pairs: connection id, the value read) that still hold the
/// value read: one written since (its node came back, with a new incarnation) stays.
/// One key only, so that it runs on a Redis Cluster too.
const REMOVE_DEAD: &str = r"
for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0";

/// A member's entry in its room's hash: `NODE.INCARNATION`, then `:KEY` if it has a
/// user key (node ids are hex and incarnations have no `:`, so a key may hold anything).
pub(super) struct Entry<'a> {
    pub(super) node: &'a str,
    pub(super) incarnation: &'a str,
    pub(super) key: Option<&'a str>,
}

impl<'a> Entry<'a> {
    pub(super) fn parse(value: &'a str) -> Entry<'a> {
        let (head, key) = match value.split_once(':') {
            Some((head, key)) => (head, Some(key)),
            None => (value, None),
        };
        let (node, incarnation) = head.split_once('.').unwrap_or((head, ""));
        Entry {
            node,
            incarnation,
            key,
        }
    }
}

/// Live members of `room` and their user keys: a member is live while its node's
/// heartbeat holds the incarnation it was written under. Dead entries are left out and
/// removed.
pub(super) async fn members(
    conn: &mut Conn,
    keys: &Keys,
    room: &str,
) -> redis::RedisResult<Vec<(ConnectionId, Option<Key>)>> {
    let room_key = keys.room_key(room);
    let entries: HashMap<String, String> = conn.query(redis::cmd("HGETALL").arg(&room_key)).await?;
    let mut nodes: Vec<&str> = entries.values().map(|v| Entry::parse(v).node).collect();
    nodes.sort_unstable();
    nodes.dedup();
    // One GET per node (their keys are in different slots of a cluster).
    let mut beats: HashMap<&str, Option<String>> = HashMap::new();
    for node in nodes {
        let beat: Option<String> = conn
            .query(redis::cmd("GET").arg(keys.node_key(node)))
            .await?;
        beats.insert(node, beat);
    }
    let mut live = Vec::new();
    let mut dead = Vec::new();
    for (id, value) in &entries {
        let entry = Entry::parse(value);
        let alive = beats
            .get(entry.node)
            .is_some_and(|beat| beat.as_deref() == Some(entry.incarnation));
        match id.parse::<ConnectionId>() {
            Ok(parsed) if alive => live.push((parsed, entry.key.map(Key::from))),
            _ => dead.extend([id.as_str(), value.as_str()]),
        }
    }
    if !dead.is_empty() {
        let _: redis::RedisResult<i64> = conn
            .query(
                redis::cmd("EVAL")
                    .arg(REMOVE_DEAD)
                    .arg(1)
                    .arg(&room_key)
                    .arg(&dead),
            )
            .await;
    }
    live.sort_by_key(|(id, _)| *id);
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::Entry;

    #[test]
    fn entries_read_back_with_any_key() {
        let entry = Entry::parse("00000000000000ab.5eed-3:ada:phone");
        assert_eq!(entry.node, "00000000000000ab");
        assert_eq!(entry.incarnation, "5eed-3");
        assert_eq!(entry.key, Some("ada:phone"));
        let entry = Entry::parse("00000000000000ab.5eed-1");
        assert_eq!(
            (entry.node, entry.incarnation, entry.key),
            ("00000000000000ab", "5eed-1", None)
        );
    }
}
