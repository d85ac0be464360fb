//! [`RedisBackplane`]: nodes joined through Redis pub/sub, presence kept in Redis.
//!
//! # Channels and keys (under the prefix, `wsframe` by default)
//!
//! - `{prefix}:messages`: every publication, an [`Envelope`] in its wire form. Every
//!   node subscribes and delivers what concerns its own connections.
//! - `{prefix}:node:{node}`: a node's heartbeat, refreshed every `heartbeat` and
//!   expiring after three of them.
//! - `{prefix}:room:{room}`: a hash of the room's members across nodes (connection id →
//!   node id). Members whose node's heartbeat has expired are not listed (and are
//!   removed when next read), so a crashed node's members vanish from presence within
//!   three heartbeats (3 s by default).
//!
//! # When Redis is unreachable
//!
//! Local delivery goes on. A node reconnects with backoff (100 ms doubling to 1 s) and
//! subscribes again; on reconnecting it writes its heartbeat and all its room
//! memberships back (Redis may have restarted empty). Messages published while the
//! node cannot reach Redis are not queued: they are dropped and counted
//! (`backplane_publish_failed`), and receivers count the publications they missed from
//! the gaps in each origin's numbering (`backplane_missed`). Redis pub/sub keeps
//! nothing for a subscriber that is away, so a node also misses what others publish
//! while it is disconnected (counted the same way once it hears from them again).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::{Backplane, BoxFuture, Envelope};
use crate::metrics::Counters;
use crate::{ConnectionId, Error, Hub, NodeId, Result};

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Limit on one connection attempt or command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Publications sent to Redis in one pipeline at most.
const MAX_PIPELINE: usize = 512;

/// A [`Backplane`] on Redis (see the [module docs](self) for what it stores and how it
/// behaves when Redis goes away).
///
/// ```no_run
/// # async fn run() -> wsframe::Result<()> {
/// use std::time::Duration;
/// use wsframe::backplane::RedisBackplane;
///
/// let backplane = RedisBackplane::new("redis://127.0.0.1:6379")?
///     .prefix("chat") // several apps can share one Redis
///     .heartbeat(Duration::from_millis(500));
/// wsframe::App::new().backplane(backplane).serve("127.0.0.1:8080").await
/// # }
/// ```
pub struct RedisBackplane {
    client: redis::Client,
    prefix: String,
    heartbeat: Duration,
    started: OnceLock<Started>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("prefix", &self.prefix)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

struct Started {
    commands: mpsc::UnboundedSender<Command>,
    keys: Keys,
    /// The writer's current connection, shared with presence queries.
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    subscriber: Mutex<Option<tokio::task::AbortHandle>>,
}

enum Command {
    Publish(Envelope),
    Joined(String, ConnectionId),
    Left(String, ConnectionId),
    Stop,
}

#[derive(Clone)]
struct Keys {
    prefix: String,
    node: NodeId,
}

impl Keys {
    fn channel(&self) -> String {
        format!("{}:messages", self.prefix)
    }

    fn node_key(&self, node: NodeId) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    fn room_key(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }
}

impl RedisBackplane {
    /// A backplane on the Redis server at `url` (e.g. `redis://127.0.0.1:6379`); an
    /// invalid URL is an error now, an unreachable server is retried once serving.
    pub fn new(url: &str) -> Result<RedisBackplane> {
        let client = redis::Client::open(url)
            .map_err(|e| Error::custom(format!("invalid Redis URL `{url}`: {e}")))?;
        Ok(RedisBackplane {
            client,
            prefix: "wsframe".into(),
            heartbeat: Duration::from_secs(1),
            started: OnceLock::new(),
        })
    }

    /// The prefix of every channel and key (default `wsframe`), so that several apps
    /// can share one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> RedisBackplane {
        self.prefix = prefix.into();
        self
    }

    /// How often this node proves it is alive (default 1 s); a node silent for three
    /// heartbeats is dead, and its members leave presence.
    pub fn heartbeat(mut self, interval: Duration) -> RedisBackplane {
        self.heartbeat = interval.max(Duration::from_millis(50));
        self
    }

    fn send(&self, command: Command) {
        if let Some(started) = self.started.get() {
            let _ = started.commands.send(command);
        }
    }
}

impl Backplane for RedisBackplane {
    fn start(&self, hub: Hub) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!("the Redis backplane needs a Tokio runtime to start; nodes stay apart");
            return;
        };
        let keys = Keys {
            prefix: self.prefix.clone(),
            node: hub.node(),
        };
        let (commands, receiver) = mpsc::unbounded_channel();
        let connection = Arc::new(Mutex::new(None));
        let started = Started {
            commands,
            keys: keys.clone(),
            connection: connection.clone(),
            subscriber: Mutex::new(None),
        };
        if self.started.set(started).is_err() {
            return;
        }
        let counters = hub.counters();
        let writer = Writer {
            client: self.client.clone(),
            keys: keys.clone(),
            heartbeat: self.heartbeat,
            connection,
            counters: counters.clone(),
            rooms: HashMap::new(),
            seq: 0,
        };
        runtime.spawn(writer.run(receiver));
        let subscriber = runtime.spawn(subscribe(self.client.clone(), keys, hub, counters));
        if let Some(started) = self.started.get() {
            *lock(&started.subscriber) = Some(subscriber.abort_handle());
        }
    }

    fn publish(&self, envelope: Envelope) {
        self.send(Command::Publish(envelope));
    }

    fn joined(&self, room: &str, id: ConnectionId) {
        self.send(Command::Joined(room.to_string(), id));
    }

    fn left(&self, room: &str, id: ConnectionId) {
        self.send(Command::Left(room.to_string(), id));
    }

    fn members(&self, room: &str) -> BoxFuture<Result<Vec<ConnectionId>>> {
        let Some(started) = self.started.get() else {
            return Box::pin(async { Err(Error::custom("the Redis backplane is not started")) });
        };
        let connection = lock(&started.connection).clone();
        let keys = started.keys.clone();
        let room = room.to_string();
        Box::pin(async move {
            let Some(mut connection) = connection else {
                return Err(Error::custom("Redis is unreachable: presence is unknown"));
            };
            timeout(COMMAND_TIMEOUT, members(&mut connection, &keys, &room))
                .await
                .map_err(|_| Error::custom("Redis did not answer in time"))?
                .map_err(|e| Error::custom(format!("Redis: {e}")))
        })
    }

    fn stop(&self) {
        self.send(Command::Stop);
        if let Some(started) = self.started.get()
            && let Some(subscriber) = lock(&started.subscriber).take()
        {
            subscriber.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Live members of `room`: entries of dead nodes are left out and removed.
async fn members(
    connection: &mut MultiplexedConnection,
    keys: &Keys,
    room: &str,
) -> redis::RedisResult<Vec<ConnectionId>> {
    let room_key = keys.room_key(room);
    let entries: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(&room_key)
        .query_async(connection)
        .await?;
    let mut nodes: Vec<String> = entries.values().cloned().collect();
    nodes.sort();
    nodes.dedup();
    let alive: HashSet<String> = if nodes.is_empty() {
        HashSet::new()
    } else {
        let node_keys: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}:node:{n}", keys.prefix))
            .collect();
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
    for (id, node) in entries {
        match id.parse::<ConnectionId>() {
            Ok(parsed) if alive.contains(&node) => live.push(parsed),
            _ => dead.push(id),
        }
    }
    if !dead.is_empty() {
        let _: redis::RedisResult<i64> = redis::cmd("HDEL")
            .arg(&room_key)
            .arg(&dead)
            .query_async(connection)
            .await;
    }
    live.sort();
    Ok(live)
}

/// The task that talks to Redis for this node: publications (in order), memberships
/// and the heartbeat; it reconnects with backoff and restores its state.
struct Writer {
    client: redis::Client,
    keys: Keys,
    heartbeat: Duration,
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    counters: Arc<Counters>,
    /// This node's memberships, written back after a reconnection.
    rooms: HashMap<String, HashSet<ConnectionId>>,
    seq: u64,
}

impl Writer {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut connection = None;
        let mut backoff = FIRST_BACKOFF;
        let mut retry_at = Instant::now();
        let mut beat_at = Instant::now();
        let mut batch = Vec::new();
        loop {
            let wake_at = if connection.is_some() {
                beat_at
            } else {
                retry_at
            };
            tokio::select! {
                received = commands.recv_many(&mut batch, MAX_PIPELINE) => {
                    if received == 0 {
                        break;
                    }
                    let stop = batch.iter().any(|c| matches!(c, Command::Stop));
                    let sent = self.apply(&mut connection, std::mem::take(&mut batch)).await;
                    if !sent {
                        self.disconnected(&mut connection);
                    }
                    if stop {
                        if let Some(mut conn) = connection.take() {
                            self.leave_cluster(&mut conn).await;
                        }
                        break;
                    }
                }
                _ = sleep_until(wake_at) => {
                    match connection.as_mut() {
                        Some(conn) => {
                            beat_at = Instant::now() + self.heartbeat;
                            if self.beat(conn).await.is_err() {
                                self.disconnected(&mut connection);
                                retry_at = Instant::now();
                            }
                        }
                        None => match self.connect().await {
                            Some(conn) => {
                                info!(node = %self.keys.node, "connected to Redis");
                                *lock(&self.connection) = Some(conn.clone());
                                connection = Some(conn);
                                backoff = FIRST_BACKOFF;
                                beat_at = Instant::now() + self.heartbeat;
                            }
                            None => {
                                retry_at = Instant::now() + backoff;
                                backoff = (backoff * 2).min(MAX_BACKOFF);
                            }
                        },
                    }
                }
            }
        }
    }

    fn disconnected(&self, connection: &mut Option<MultiplexedConnection>) {
        if connection.take().is_some() {
            warn!(node = %self.keys.node, "lost Redis; reconnecting");
            *lock(&self.connection) = None;
        }
    }

    /// Connect, then write back the heartbeat and every membership.
    async fn connect(&self) -> Option<MultiplexedConnection> {
        let attempt = async {
            let mut conn = self.client.get_multiplexed_async_connection().await?;
            self.beat(&mut conn).await?;
            if self.rooms.is_empty() {
                return Ok(conn);
            }
            let mut pipe = redis::pipe();
            for (room, ids) in &self.rooms {
                for id in ids {
                    pipe.cmd("HSET")
                        .arg(self.keys.room_key(room))
                        .arg(id.to_string())
                        .arg(self.keys.node.to_string())
                        .ignore();
                }
            }
            let _: () = pipe.query_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match timeout(COMMAND_TIMEOUT, attempt).await {
            Ok(Ok(conn)) => Some(conn),
            Ok(Err(e)) => {
                debug!(error = %e, "Redis connection attempt failed");
                None
            }
            Err(_) => None,
        }
    }

    async fn beat(&self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let ttl = (self.heartbeat * 3).as_millis() as u64;
        let mut set = redis::cmd("SET");
        set.arg(self.keys.node_key(self.keys.node))
            .arg(1)
            .arg("PX")
            .arg(ttl);
        match timeout(COMMAND_TIMEOUT, set.query_async::<()>(conn)).await {
            Ok(result) => result,
            Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
        }
    }

    /// Apply commands in order, as one pipeline; `false` when Redis failed.
    async fn apply(
        &mut self,
        connection: &mut Option<MultiplexedConnection>,
        batch: Vec<Command>,
    ) -> bool {
        let mut pipe = redis::pipe();
        let mut publications = 0u64;
        let mut commands = 0;
        for command in batch {
            commands += 1;
            match command {
                Command::Publish(mut envelope) => {
                    self.seq += 1;
                    envelope.seq = self.seq;
                    publications += 1;
                    pipe.cmd("PUBLISH")
                        .arg(self.keys.channel())
                        .arg(envelope.encode().as_ref())
                        .ignore();
                }
                Command::Joined(room, id) => {
                    pipe.cmd("HSET")
                        .arg(self.keys.room_key(&room))
                        .arg(id.to_string())
                        .arg(self.keys.node.to_string())
                        .ignore();
                    self.rooms.entry(room).or_default().insert(id);
                }
                Command::Left(room, id) => {
                    pipe.cmd("HDEL")
                        .arg(self.keys.room_key(&room))
                        .arg(id.to_string())
                        .ignore();
                    if let Some(ids) = self.rooms.get_mut(&room) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.rooms.remove(&room);
                        }
                    }
                }
                Command::Stop => commands -= 1,
            }
        }
        if commands == 0 {
            return true;
        }
        let Some(conn) = connection.as_mut() else {
            Counters::add(&self.counters.backplane_publish_failed, publications);
            return true;
        };
        match timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(conn)).await {
            Ok(Ok(())) => {
                Counters::add(&self.counters.backplane_published, publications);
                true
            }
            _ => {
                Counters::add(&self.counters.backplane_publish_failed, publications);
                false
            }
        }
    }

    /// A clean exit: this node's memberships and heartbeat go now, not at expiry.
    async fn leave_cluster(&self, conn: &mut MultiplexedConnection) {
        info!(node = %self.keys.node, "leaving the cluster");
        let mut pipe = redis::pipe();
        for (room, ids) in &self.rooms {
            let ids: Vec<String> = ids.iter().map(ConnectionId::to_string).collect();
            pipe.cmd("HDEL")
                .arg(self.keys.room_key(room))
                .arg(ids)
                .ignore();
        }
        pipe.cmd("DEL")
            .arg(self.keys.node_key(self.keys.node))
            .ignore();
        let _ = timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(conn)).await;
    }
}

/// The task that receives other nodes' publications and delivers them on this node;
/// it resubscribes with backoff whenever the subscription breaks.
async fn subscribe(client: redis::Client, keys: Keys, hub: Hub, counters: Arc<Counters>) {
    let channel = keys.channel();
    let mut last_seen: HashMap<NodeId, u64> = HashMap::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let subscribed = timeout(COMMAND_TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        match subscribed {
            Ok(Ok(mut pubsub)) => {
                backoff = FIRST_BACKOFF;
                Counters::inc(&counters.backplane_subscriptions);
                debug!(node = %keys.node, "subscribed to {channel}");
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    let envelope = match Envelope::decode(message.get_payload_bytes()) {
                        Ok(envelope) => envelope,
                        Err(e) => {
                            warn!(error = %e, "ignoring a malformed backplane message");
                            continue;
                        }
                    };
                    if envelope.origin == keys.node {
                        continue;
                    }
                    let last = last_seen.entry(envelope.origin).or_insert(0);
                    if *last != 0 && envelope.seq > *last + 1 {
                        Counters::add(&counters.backplane_missed, envelope.seq - *last - 1);
                    }
                    *last = (*last).max(envelope.seq);
                    Counters::inc(&counters.backplane_received);
                    hub.receive(&envelope);
                }
                warn!(node = %keys.node, "Redis subscription ended; resubscribing");
            }
            Ok(Err(e)) => debug!(error = %e, "Redis subscription attempt failed"),
            Err(_) => debug!("Redis subscription attempt timed out"),
        }
        sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
