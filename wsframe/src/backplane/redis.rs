//! [`RedisBackplane`]: nodes joined through Redis pub/sub, presence kept in Redis.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};
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
/// Commands sent to Redis in one pipeline at most.
const MAX_PIPELINE: usize = 512;
/// Publications waiting for Redis at most; beyond, they are dropped and counted.
const MAX_QUEUED: usize = 65_536;

/// A [`Backplane`] on Redis.
///
/// # Channels and keys (under the prefix, `wsframe` by default)
///
/// - `{prefix}:messages`: every publication, an [`Envelope`] in its wire form. Every
///   node subscribes and delivers what concerns its own connections.
/// - `{prefix}:node:{node}`: a node's heartbeat, refreshed every `heartbeat` and
///   expiring after three of them.
/// - `{prefix}:room:{room}`: a hash of the room's members across nodes (connection id →
///   node id). Members whose node's heartbeat has expired are not listed (and are
///   removed when next read), so a crashed node's members vanish from presence within
///   three heartbeats (3 s by default).
///
/// # When Redis is unreachable
///
/// Local delivery goes on. A node reconnects with backoff (100 ms doubling to 1 s) and
/// subscribes again; on reconnecting, and whenever it finds its heartbeat had expired,
/// it writes its heartbeat and all its room memberships back (Redis may have restarted
/// empty) and removes the memberships that ended meanwhile. Messages published while
/// the node cannot reach Redis are not queued: they are dropped and counted
/// (`backplane_publish_failed`, also when more than 65,536 wait for Redis), and
/// receivers count the publications they missed from the gaps in each origin's
/// numbering (`backplane_missed`). Redis pub/sub keeps nothing for a subscriber that is
/// away, so a node also misses what others publish while it is disconnected (counted
/// the same way once it hears from them again). A subscription that stops answering
/// its pings (a half-open connection) is dropped and made again.
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
    /// Publications are numbered as they are queued (under this lock, so that the
    /// numbers follow the queue's order): a publication dropped here shows as a gap.
    publications: Mutex<(u64, mpsc::UnboundedSender<Command>)>,
    queued: Arc<AtomicUsize>,
    /// Membership changes and stop: never dropped.
    commands: mpsc::UnboundedSender<Command>,
    keys: Keys,
    counters: Arc<Counters>,
    /// The writer's current connection, shared with presence queries.
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    subscriber: Mutex<Option<tokio::task::AbortHandle>>,
}

enum Command {
    Publish(Envelope),
    Joined(String, ConnectionId),
    Left(String, ConnectionId),
    Stop(oneshot::Sender<()>),
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

    fn node_key(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    fn room_key(&self, room: &str) -> String {
        format!("{}:room:{room}", self.prefix)
    }
}

fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
}

/// Whether `e` means the connection is unusable (else it is one command's error).
fn connection_lost(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
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
        let (publications, published) = mpsc::unbounded_channel();
        let (commands, received) = mpsc::unbounded_channel();
        let connection = Arc::new(Mutex::new(None));
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = hub.counters();
        let started = Started {
            publications: Mutex::new((0, publications)),
            queued: queued.clone(),
            commands,
            keys: keys.clone(),
            counters: counters.clone(),
            connection: connection.clone(),
            subscriber: Mutex::new(None),
        };
        if self.started.set(started).is_err() {
            return;
        }
        let writer = Writer {
            client: self.client.clone(),
            keys: keys.clone(),
            heartbeat: self.heartbeat,
            connection,
            counters: counters.clone(),
            queued,
            rooms: HashMap::new(),
            ended: HashMap::new(),
        };
        runtime.spawn(writer.run(published, received));
        let subscriber = Subscriber {
            client: self.client.clone(),
            keys,
            heartbeat: self.heartbeat,
            counters,
        };
        let subscriber = runtime.spawn(subscriber.run(hub));
        if let Some(started) = self.started.get() {
            *lock(&started.subscriber) = Some(subscriber.abort_handle());
        }
    }

    fn publish(&self, mut envelope: Envelope) {
        let Some(started) = self.started.get() else {
            return;
        };
        let mut queue = lock(&started.publications);
        queue.0 += 1;
        envelope.seq = queue.0;
        if started.queued.load(Ordering::Relaxed) >= MAX_QUEUED {
            Counters::inc(&started.counters.backplane_publish_failed);
            return;
        }
        started.queued.fetch_add(1, Ordering::Relaxed);
        let _ = queue.1.send(Command::Publish(envelope));
    }

    fn joined(&self, room: &str, id: ConnectionId) {
        if let Some(started) = self.started.get() {
            let _ = started.commands.send(Command::Joined(room.to_string(), id));
        }
    }

    fn left(&self, room: &str, id: ConnectionId) {
        if let Some(started) = self.started.get() {
            let _ = started.commands.send(Command::Left(room.to_string(), id));
        }
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

    fn stop(&self) -> BoxFuture<()> {
        let Some(started) = self.started.get() else {
            return Box::pin(async {});
        };
        if let Some(subscriber) = lock(&started.subscriber).take() {
            subscriber.abort();
        }
        let (done, left) = oneshot::channel();
        let _ = started.commands.send(Command::Stop(done));
        Box::pin(async move {
            let _ = timeout(COMMAND_TIMEOUT, left).await;
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

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

/// The task that talks to Redis for this node: publications (in order), memberships
/// and the heartbeat; it reconnects with backoff and restores its state.
struct Writer {
    client: redis::Client,
    keys: Keys,
    heartbeat: Duration,
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    counters: Arc<Counters>,
    queued: Arc<AtomicUsize>,
    /// This node's memberships, written back after a reconnection.
    rooms: HashMap<String, HashSet<ConnectionId>>,
    /// Memberships that ended while Redis did not hear of it: removed on reconnection.
    ended: HashMap<String, HashSet<ConnectionId>>,
}

impl Writer {
    async fn run(
        mut self,
        mut publications: mpsc::UnboundedReceiver<Command>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut connection = None;
        let mut backoff = FIRST_BACKOFF;
        let mut retry_at = Instant::now();
        let mut beat_at = Instant::now();
        let (mut batch, mut published) = (Vec::new(), Vec::new());
        loop {
            let wake_at = if connection.is_some() {
                beat_at
            } else {
                retry_at
            };
            let mut stop = None;
            tokio::select! {
                biased;
                received = commands.recv_many(&mut batch, MAX_PIPELINE) => {
                    if received == 0 {
                        break;
                    }
                    if let Some(at) = batch.iter().position(|c| matches!(c, Command::Stop(_)))
                        && let Command::Stop(done) = batch.remove(at)
                    {
                        stop = Some(done);
                    }
                    // What the node published before stopping goes first.
                    if stop.is_some() {
                        let mut queued = Vec::new();
                        while let Ok(publication) = publications.try_recv() {
                            queued.push(publication);
                        }
                        batch.splice(0..0, queued);
                    }
                }
                received = publications.recv_many(&mut published, MAX_PIPELINE) => {
                    if received == 0 {
                        break;
                    }
                    batch.append(&mut published);
                }
                _ = sleep_until(wake_at) => {}
            }
            if !batch.is_empty() {
                self.apply(&mut connection, std::mem::take(&mut batch))
                    .await;
            }
            if let Some(done) = stop {
                if let Some(mut conn) = connection.take() {
                    self.leave_cluster(&mut conn).await;
                }
                let _ = done.send(());
                break;
            }
            let now = Instant::now();
            match connection.as_mut() {
                Some(conn) if now >= beat_at => {
                    beat_at = now + self.heartbeat;
                    if let Err(e) = self.beat(conn).await {
                        debug!(error = %e, "heartbeat failed");
                        self.disconnected(&mut connection);
                        retry_at = now;
                    }
                }
                None if now >= retry_at => match self.connect().await {
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
                _ => {}
            }
        }
    }

    fn disconnected(&self, connection: &mut Option<MultiplexedConnection>) {
        if connection.take().is_some() {
            warn!(node = %self.keys.node, "lost Redis; reconnecting");
            *lock(&self.connection) = None;
        }
    }

    /// Connect, then write back the heartbeat and the memberships.
    async fn connect(&mut self) -> Option<MultiplexedConnection> {
        let attempt = async {
            let mut conn = self
                .client
                .get_multiplexed_async_connection_with_config(&connection_config())
                .await?;
            self.restore(&mut conn).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match timeout(COMMAND_TIMEOUT * 2, attempt).await {
            Ok(Ok(conn)) => Some(conn),
            Ok(Err(e)) => {
                debug!(error = %e, "Redis connection attempt failed");
                None
            }
            Err(_) => None,
        }
    }

    /// The heartbeat; when it had expired (Redis restarted, or this node was slow),
    /// other nodes may have removed this node's memberships: they are written back.
    async fn beat(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let ttl = (self.heartbeat * 3).as_millis() as u64;
        let previous: Option<String> = redis::cmd("SET")
            .arg(self.keys.node_key(&self.keys.node.to_string()))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .arg("GET")
            .query_async(conn)
            .await?;
        if previous.is_none() {
            self.restore(conn).await?;
        }
        Ok(())
    }

    /// Write this node's memberships back and remove those that ended unheard, in
    /// pipelines of bounded size; the heartbeat goes first.
    async fn restore(&mut self, conn: &mut MultiplexedConnection) -> redis::RedisResult<()> {
        let ttl = (self.heartbeat * 3).as_millis() as u64;
        let _: () = redis::cmd("SET")
            .arg(self.keys.node_key(&self.keys.node.to_string()))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .query_async(conn)
            .await?;
        let node = self.keys.node.to_string();
        let mut pipe = redis::pipe();
        let mut pending = 0;
        for (room, ids) in &self.ended {
            for chunk in ids.iter().collect::<Vec<_>>().chunks(1000) {
                let ids: Vec<String> = chunk.iter().map(|id| id.to_string()).collect();
                pipe.cmd("HDEL")
                    .arg(self.keys.room_key(room))
                    .arg(ids)
                    .ignore();
                pending += 1;
            }
        }
        for (room, ids) in &self.rooms {
            for chunk in ids.iter().collect::<Vec<_>>().chunks(1000) {
                let cmd = pipe.cmd("HSET").arg(self.keys.room_key(room));
                for id in chunk {
                    cmd.arg(id.to_string()).arg(&node);
                }
                cmd.ignore();
                pending += 1;
                if pending >= 64 {
                    let _: () = pipe.query_async(conn).await?;
                    pipe = redis::pipe();
                    pending = 0;
                }
            }
        }
        if pending > 0 {
            let _: () = pipe.query_async(conn).await?;
        }
        self.ended.clear();
        Ok(())
    }

    /// Apply commands in order, as one pipeline.
    async fn apply(&mut self, connection: &mut Option<MultiplexedConnection>, batch: Vec<Command>) {
        let mut pipe = redis::pipe();
        let mut publications = 0u64;
        let mut lefts = Vec::new();
        for command in batch {
            match command {
                Command::Publish(envelope) => {
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
                    if let Some(ended) = self.ended.get_mut(&room) {
                        ended.remove(&id);
                    }
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
                    lefts.push((room, id));
                }
                Command::Stop(_) => {}
            }
        }
        self.queued
            .fetch_sub(publications as usize, Ordering::Relaxed);
        let result = match connection.as_mut() {
            Some(conn) => Some(pipe.query_async::<()>(conn).await),
            None => None,
        };
        match result {
            Some(Ok(())) => {
                Counters::add(&self.counters.backplane_published, publications);
            }
            failed => {
                // Not heard by Redis (or not for sure): publications are lost, counted;
                // the ended memberships are removed when Redis is back.
                Counters::add(&self.counters.backplane_publish_failed, publications);
                for (room, id) in lefts {
                    self.ended.entry(room).or_default().insert(id);
                }
                if let Some(Err(e)) = failed {
                    if connection_lost(&e) {
                        self.disconnected(connection);
                    } else {
                        warn!(error = %e, "Redis refused a backplane command");
                    }
                }
            }
        }
    }

    /// A clean exit: this node's memberships and heartbeat go now, not at expiry.
    async fn leave_cluster(&self, conn: &mut MultiplexedConnection) {
        info!(node = %self.keys.node, "leaving the cluster");
        let mut pipe = redis::pipe();
        for (room, ids) in self.rooms.iter().chain(&self.ended) {
            let ids: Vec<String> = ids.iter().map(ConnectionId::to_string).collect();
            pipe.cmd("HDEL")
                .arg(self.keys.room_key(room))
                .arg(ids)
                .ignore();
        }
        pipe.cmd("DEL")
            .arg(self.keys.node_key(&self.keys.node.to_string()))
            .ignore();
        let _ = timeout(COMMAND_TIMEOUT, pipe.query_async::<()>(conn)).await;
    }
}

/// The task that receives other nodes' publications and delivers them on this node;
/// it resubscribes with backoff whenever the subscription breaks or stops answering.
struct Subscriber {
    client: redis::Client,
    keys: Keys,
    heartbeat: Duration,
    counters: Arc<Counters>,
}

impl Subscriber {
    async fn run(self, hub: Hub) {
        let channel = self.keys.channel();
        let mut last_seen: HashMap<NodeId, u64> = HashMap::new();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let subscribed = timeout(COMMAND_TIMEOUT, async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                Ok::<_, redis::RedisError>(pubsub)
            })
            .await;
            match subscribed {
                Ok(Ok(pubsub)) => {
                    backoff = FIRST_BACKOFF;
                    Counters::inc(&self.counters.backplane_subscriptions);
                    debug!(node = %self.keys.node, "subscribed to {channel}");
                    let (mut sink, mut messages) = pubsub.split();
                    let mut ping_at = Instant::now() + self.heartbeat;
                    loop {
                        tokio::select! {
                            message = messages.next() => {
                                let Some(message) = message else { break };
                                self.handle(message.get_payload_bytes(), &hub, &mut last_seen);
                            }
                            _ = sleep_until(ping_at) => {
                                // A half-open connection never ends the stream: ask.
                                let pong = timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await;
                                if !matches!(pong, Ok(Ok(_))) {
                                    break;
                                }
                                ping_at = Instant::now() + self.heartbeat;
                            }
                        }
                    }
                    warn!(node = %self.keys.node, "Redis subscription ended; resubscribing");
                }
                Ok(Err(e)) => debug!(error = %e, "Redis subscription attempt failed"),
                Err(_) => debug!("Redis subscription attempt timed out"),
            }
            sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn handle(&self, payload: &[u8], hub: &Hub, last_seen: &mut HashMap<NodeId, u64>) {
        let envelope = match Envelope::decode(payload) {
            Ok(envelope) => envelope,
            Err(e) => {
                warn!(error = %e, "ignoring a malformed backplane message");
                return;
            }
        };
        if envelope.origin == self.keys.node {
            return;
        }
        let last = last_seen.entry(envelope.origin).or_insert(0);
        if *last != 0 && envelope.seq > *last + 1 {
            Counters::add(&self.counters.backplane_missed, envelope.seq - *last - 1);
        }
        *last = (*last).max(envelope.seq);
        Counters::inc(&self.counters.backplane_received);
        hub.receive(&envelope);
    }
}
