//! [`RedisBackplane`]: nodes joined through Redis pub/sub, presence kept in Redis.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis::aio::PubSubSink;

use futures_util::StreamExt;
use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::{Backplane, BoxFuture, Envelope, Interest, Target};
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
/// Channels numbered at most in one epoch: past this, a node starts a new epoch rather
/// than keep a counter for every room it ever published to.
const MAX_NUMBERED: usize = 65_536;
/// Channels in one SUBSCRIBE or UNSUBSCRIBE at most.
const MAX_SUBSCRIBE: usize = 1024;

/// A [`Backplane`] on Redis.
///
/// # Channels and keys (under the prefix, `wsframe` by default)
///
/// Publications ([`Envelope`]s in their wire form) go to the channel of their target,
/// and a node subscribes only to the channels that concern it:
///
/// - `{prefix}:all`: app-wide broadcasts; every node subscribes.
/// - `{prefix}:{n:NODE}`: personal messages for a connection of node `NODE`; that node
///   subscribes.
/// - `{prefix}:{r:ROOM}`: the room's broadcasts; a node subscribes while the room
///   exists on it (members, a presence listener or a policy of its own there), and
///   unsubscribes when it goes.
/// - `{prefix}:{k:KEY}`: messages to a user key (a channel per key); a node subscribes
///   while one of its connections holds the key.
///
/// A node therefore receives nothing of a room it has no member in. Subscribing takes
/// a round trip to Redis: [`Hub::synced`](crate::Hub::synced) (or
/// [`Hub::join_synced`](crate::Hub::join_synced)) waits for it. Publications are
/// numbered per (origin node, epoch, channel): a receiver counts the gaps in each
/// channel it listens to (`backplane_missed`), from its first message on the channel.
/// A node's epoch is drawn at random when it starts, so that a node restarted with the
/// same [`NodeId`] is a new numbering, neither dropped as old nor counted as a gap.
///
/// Keys:
///
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
    publications: Mutex<Numbering>,
    /// Interests and sync requests, in the order the hub made them, to the subscriber.
    listens: mpsc::UnboundedSender<Listen>,
    queued: Arc<AtomicUsize>,
    /// Membership changes and stop: never dropped.
    commands: mpsc::UnboundedSender<Command>,
    keys: Keys,
    counters: Arc<Counters>,
    /// The writer's current connection, shared with presence queries.
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    subscriber: Mutex<Option<tokio::task::AbortHandle>>,
}

/// This node's publication numbers: per channel, in an epoch.
struct Numbering {
    epoch: u64,
    last: HashMap<String, u64>,
    queue: mpsc::UnboundedSender<Command>,
}

impl Numbering {
    /// Number `envelope` for `channel`.
    fn number(&mut self, channel: &str, envelope: &mut Envelope) {
        let seq = match self.last.get_mut(channel) {
            Some(seq) => seq,
            None => {
                if self.last.len() >= MAX_NUMBERED {
                    // Receivers start afresh at a new epoch: no gap is counted.
                    self.epoch = new_epoch();
                    self.last.clear();
                }
                self.last.entry(channel.to_owned()).or_insert(0)
            }
        };
        *seq += 1;
        envelope.epoch = self.epoch;
        envelope.seq = *seq;
    }
}

/// A random epoch (never 0): `RandomState` is seeded from the OS once per thread and
/// differs at every call.
fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now);
    hasher.finish() | 1
}

/// What the subscriber task is asked, in order.
enum Listen {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every subscription asked before is confirmed by Redis.
    Synced(oneshot::Sender<()>),
}

enum Command {
    /// A publication and its channel.
    Publish(String, Envelope),
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
    fn all_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    fn node_channel(&self, node: NodeId) -> String {
        format!("{}:{{n:{node}}}", self.prefix)
    }

    fn room_channel(&self, room: &str) -> String {
        format!("{}:{{r:{room}}}", self.prefix)
    }

    fn key_channel(&self, key: &str) -> String {
        format!("{}:{{k:{key}}}", self.prefix)
    }

    /// Where a publication for `target` goes.
    fn target_channel(&self, target: &Target) -> String {
        match target {
            Target::All { .. } => self.all_channel(),
            Target::Room { name, .. } => self.room_channel(name),
            Target::Connection(id) => self.node_channel(id.node()),
            Target::Key(key) => self.key_channel(key),
        }
    }

    fn interest_channel(&self, interest: &Interest) -> String {
        match interest {
            Interest::Room(room) => self.room_channel(room),
            Interest::Key(key) => self.key_channel(key),
        }
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
        let (listens, listened) = mpsc::unbounded_channel();
        let connection = Arc::new(Mutex::new(None));
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = hub.counters();
        let started = Started {
            publications: Mutex::new(Numbering {
                epoch: new_epoch(),
                last: HashMap::new(),
                queue: publications,
            }),
            listens,
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
        let subscriber = runtime.spawn(subscriber.run(hub, listened));
        if let Some(started) = self.started.get() {
            *lock(&started.subscriber) = Some(subscriber.abort_handle());
        }
    }

    fn publish(&self, mut envelope: Envelope) {
        let Some(started) = self.started.get() else {
            return;
        };
        let channel = started.keys.target_channel(&envelope.target);
        let mut numbering = lock(&started.publications);
        numbering.number(&channel, &mut envelope);
        if started.queued.load(Ordering::Relaxed) >= MAX_QUEUED {
            Counters::inc(&started.counters.backplane_publish_failed);
            return;
        }
        started.queued.fetch_add(1, Ordering::Relaxed);
        let _ = numbering.queue.send(Command::Publish(channel, envelope));
    }

    fn interested(&self, interest: Interest) {
        if let Some(started) = self.started.get() {
            let channel = started.keys.interest_channel(&interest);
            let _ = started.listens.send(Listen::Subscribe(channel));
        }
    }

    fn uninterested(&self, interest: Interest) {
        if let Some(started) = self.started.get() {
            let channel = started.keys.interest_channel(&interest);
            let _ = started.listens.send(Listen::Unsubscribe(channel));
        }
    }

    fn synced(&self) -> BoxFuture<Result<()>> {
        let Some(started) = self.started.get() else {
            return Box::pin(async { Err(Error::custom("the Redis backplane is not started")) });
        };
        let (done, confirmed) = oneshot::channel();
        let _ = started.listens.send(Listen::Synced(done));
        Box::pin(async move {
            match timeout(COMMAND_TIMEOUT * 2, confirmed).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Error::custom("the Redis backplane stopped")),
                Err(_) => Err(Error::custom(
                    "Redis did not confirm this node's subscriptions in time",
                )),
            }
        })
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
                Command::Publish(channel, envelope) => {
                    publications += 1;
                    pipe.cmd("PUBLISH")
                        .arg(channel)
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

/// The task that receives other nodes' publications and delivers them on this node: it
/// subscribes to the channels this node is interested in, as the hub announces them,
/// and resubscribes to all of them with backoff whenever the subscription breaks or
/// stops answering.
struct Subscriber {
    client: redis::Client,
    keys: Keys,
    heartbeat: Duration,
    counters: Arc<Counters>,
}

/// The subscriber's state, kept across reconnections.
#[derive(Default)]
struct Listening {
    /// The interest channels wanted (the app-wide and node channels are always wanted).
    wanted: HashSet<String>,
    /// Per channel and origin: the epoch and the last number seen, for gap counting.
    /// A channel's entry goes when it is unsubscribed: its next first message is no gap.
    seen: HashMap<String, HashMap<NodeId, (u64, u64)>>,
    /// Sync requests waiting for a connection.
    waiting: Vec<oneshot::Sender<()>>,
}

/// Subscriptions to send, in order: a run of one kind goes as one command.
#[derive(Default)]
struct Changes {
    subscribe: bool,
    channels: Vec<String>,
}

impl Listening {
    /// Take `listen` into the state; returns the channel to (un)subscribe, if any, and
    /// whether it is a subscription.
    fn apply(&mut self, listen: Listen) -> Option<(bool, String)> {
        match listen {
            Listen::Subscribe(channel) => {
                self.wanted.insert(channel.clone());
                Some((true, channel))
            }
            Listen::Unsubscribe(channel) => {
                self.wanted.remove(&channel);
                self.seen.remove(&channel);
                Some((false, channel))
            }
            Listen::Synced(done) => {
                self.waiting.push(done);
                None
            }
        }
    }
}

/// Why a subscription loop ended.
enum Ended {
    /// The connection broke or stopped answering: reconnect.
    Broken,
    /// The app is gone.
    Stopped,
}

impl Subscriber {
    async fn run(self, hub: Hub, mut listens: mpsc::UnboundedReceiver<Listen>) {
        let base = [
            self.keys.all_channel(),
            self.keys.node_channel(self.keys.node),
        ];
        let mut state = Listening::default();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let subscribed = timeout(COMMAND_TIMEOUT, async {
                let (mut sink, messages) = self.client.get_async_pubsub().await?.split();
                let channels: Vec<&String> = base.iter().chain(&state.wanted).collect();
                for chunk in channels.chunks(MAX_SUBSCRIBE) {
                    sink.subscribe(chunk).await?;
                }
                Ok::<_, redis::RedisError>((sink, messages))
            })
            .await;
            match subscribed {
                Ok(Ok((sink, messages))) => {
                    backoff = FIRST_BACKOFF;
                    Counters::inc(&self.counters.backplane_subscriptions);
                    debug!(node = %self.keys.node, "subscribed to Redis");
                    for done in state.waiting.drain(..) {
                        let _ = done.send(());
                    }
                    match self
                        .listen(sink, messages, &hub, &mut listens, &mut state)
                        .await
                    {
                        Ended::Stopped => return,
                        Ended::Broken => {
                            warn!(node = %self.keys.node, "Redis subscription ended; resubscribing");
                        }
                    }
                }
                Ok(Err(e)) => debug!(error = %e, "Redis subscription attempt failed"),
                Err(_) => debug!("Redis subscription attempt timed out"),
            }
            // Interests keep changing meanwhile: they are all subscribed on reconnecting.
            let retry_at = Instant::now() + backoff;
            loop {
                tokio::select! {
                    listen = listens.recv() => match listen {
                        Some(listen) => {
                            state.apply(listen);
                        }
                        None => return,
                    },
                    _ = sleep_until(retry_at) => break,
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// Deliver what arrives and follow the interests, until the connection breaks.
    async fn listen(
        &self,
        mut sink: PubSubSink,
        mut messages: redis::aio::PubSubStream,
        hub: &Hub,
        listens: &mut mpsc::UnboundedReceiver<Listen>,
        state: &mut Listening,
    ) -> Ended {
        let mut ping_at = Instant::now() + self.heartbeat;
        let mut batch = Vec::new();
        loop {
            tokio::select! {
                biased;
                received = listens.recv_many(&mut batch, MAX_SUBSCRIBE) => {
                    if received == 0 {
                        return Ended::Stopped;
                    }
                    if self.follow(&mut sink, batch.drain(..), state).await.is_err() {
                        return Ended::Broken;
                    }
                }
                message = messages.next() => {
                    let Some(message) = message else { return Ended::Broken };
                    self.handle(message.get_channel_name(), message.get_payload_bytes(), hub, state);
                }
                _ = sleep_until(ping_at) => {
                    // A half-open connection never ends the stream: ask.
                    let pong = timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return Ended::Broken;
                    }
                    ping_at = Instant::now() + self.heartbeat;
                }
            }
        }
    }

    /// Subscribe and unsubscribe as asked, in order (a run of one kind in one command),
    /// answering each sync request once what came before it is confirmed. On an error
    /// the rest is taken into the state, to be applied on reconnecting.
    async fn follow(
        &self,
        sink: &mut PubSubSink,
        listens: impl Iterator<Item = Listen>,
        state: &mut Listening,
    ) -> redis::RedisResult<()> {
        let mut changes = Changes::default();
        let mut failed = None;
        for listen in listens {
            let sync = matches!(listen, Listen::Synced(_));
            let change = state.apply(listen);
            if failed.is_some() {
                continue;
            }
            let flush = sync
                || change
                    .as_ref()
                    .is_some_and(|(subscribe, _)| *subscribe != changes.subscribe);
            if flush && let Err(e) = self.send(sink, &mut changes).await {
                failed = Some(e);
                continue;
            }
            if let Some((subscribe, channel)) = change {
                changes.subscribe = subscribe;
                changes.channels.push(channel);
            }
            if sync {
                for done in state.waiting.drain(..) {
                    let _ = done.send(());
                }
            }
        }
        if failed.is_none()
            && let Err(e) = self.send(sink, &mut changes).await
        {
            failed = Some(e);
        }
        match failed {
            None => Ok(()),
            Some(e) => {
                debug!(error = %e, "Redis refused a subscription change");
                Err(e)
            }
        }
    }

    async fn send(&self, sink: &mut PubSubSink, changes: &mut Changes) -> redis::RedisResult<()> {
        if changes.channels.is_empty() {
            return Ok(());
        }
        let channels = std::mem::take(&mut changes.channels);
        let sent = if changes.subscribe {
            timeout(COMMAND_TIMEOUT, sink.subscribe(&channels)).await
        } else {
            timeout(COMMAND_TIMEOUT, sink.unsubscribe(&channels)).await
        };
        sent.unwrap_or_else(|_| Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()))
    }

    fn handle(&self, channel: &str, payload: &[u8], hub: &Hub, state: &mut Listening) {
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
        let seen = match state.seen.get_mut(channel) {
            Some(seen) => seen,
            None => {
                // A channel unsubscribed a moment ago may still deliver: not counted.
                let base = channel == self.keys.all_channel()
                    || channel == self.keys.node_channel(self.keys.node);
                if !base && !state.wanted.contains(channel) {
                    return;
                }
                state.seen.entry(channel.to_owned()).or_default()
            }
        };
        let (epoch, last) = seen.entry(envelope.origin).or_insert((envelope.epoch, 0));
        if *epoch != envelope.epoch {
            // The origin restarted (or began a new epoch): a new numbering, no gap.
            (*epoch, *last) = (envelope.epoch, 0);
        }
        if *last != 0 && envelope.seq > *last + 1 {
            Counters::add(&self.counters.backplane_missed, envelope.seq - *last - 1);
        }
        *last = (*last).max(envelope.seq);
        Counters::inc(&self.counters.backplane_received);
        hub.receive(&envelope);
    }
}
