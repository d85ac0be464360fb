//! [`RedisBackplane`]: nodes joined through Redis pub/sub, presence kept in Redis.

mod connect;
mod link;
mod names;
mod numbering;
mod presence;
mod subscriber;
mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;
use tracing::warn;

use self::connect::LastError;
use self::link::{Conn, Servers};
use self::names::Keys;
use self::numbering::{Numbering, new_epoch};
use self::subscriber::{Listen, Subscriber};
use self::writer::{Command, Membership, Writer};
use super::{Backplane, BoxFuture, Envelope, Interest};
use crate::metrics::Counters;
use crate::{ConnectionId, Error, Hub, Key, Result};

/// Longest wait between reconnection attempts (or the heartbeat, if shorter: a node
/// is back within a heartbeat of Redis being reachable again).
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
/// same [`NodeId`](crate::NodeId) is a new numbering, neither dropped as old nor counted as a gap.
///
/// Keys:
///
/// - `{prefix}:node:{node}`: a node's heartbeat, refreshed every `heartbeat` and
///   expiring after three of them.
/// - `{prefix}:node:{node}`'s value is the node's incarnation (random per process,
///   and new at every restore of its memberships).
/// - `{prefix}:{r:ROOM}:members`: a hash of the room's members across nodes
///   (connection id → node id and incarnation, then `:` and the user key if it has one),
///   in the slot of the room's channel. A member whose node's heartbeat has expired, or
///   holds another incarnation (the node restarted with the same id), is not listed (and
///   is removed when next read), so a crashed node's members vanish from presence within
///   three heartbeats (3 s by default).
///
/// # Presence events
///
/// A node publishes its members' joins and leaves on the room's channel (after writing
/// the membership, so that a node that reads the room after hearing an event finds the
/// member). A node with presence listeners on a room reads the room's members when the
/// first listener subscribes and after every reconnection, keeps a view of who is
/// there, and checks at each heartbeat the heartbeats of the nodes its views hold
/// members of: a dead node's members leave, heard once by each listener. On
/// reconnecting, a node announces its members again (others may have heard them leave
/// when its heartbeat expired) and the leaves Redis did not hear.
///
/// # Redis Cluster
///
/// A URL that names several nodes separated by commas
/// (`redis://10.0.0.1:6379,redis://10.0.0.2:6379,...`: the seed nodes, each with the
/// same credentials), or a single node whose server reports cluster mode (asked at the
/// first connection), runs the backplane on a Redis Cluster (7.0 or later) with
/// sharded pub/sub: `SPUBLISH` and `SSUBSCRIBE`. A room's channel and its members' hash
/// share the room's hash tag (`{r:ROOM}`), so they live in one slot; rooms, keys and
/// nodes spread over the cluster's slots (nothing is tagged with the prefix alone,
/// which would make one hot slot). Publications and membership writes go in one
/// pipeline per slot, so what concerns one room stays in order; different rooms (and
/// the app-wide channel) may interleave differently on different nodes.
///
/// When a slot moves (`redis-cli --cluster reshard`), Redis drops its subscriptions
/// (`sunsubscribe`), and the node subscribes again where the slot lives now. When a
/// master dies, the node notices (it pings every master each heartbeat), makes a new
/// connection from a fresh view of the cluster, and subscribes again once the replica
/// has taken over; publications lost meanwhile are counted on both sides
/// (`backplane_publish_failed`, `backplane_missed`). A single server needs Redis 6.2 or
/// later (`SET … GET`).
///
/// # Credentials and TLS
///
/// They come from the URL:
///
/// - `redis://:PASSWORD@host:6379`: a password (`requirepass`);
/// - `redis://USER:PASSWORD@host:6379`: an ACL user. It needs the prefix's keys and
///   channels and these command categories, e.g. for the prefix `chat`:
///   `ACL SETUSER chat on >PASSWORD ~chat:* &chat:* +@pubsub +@hash +@string +@keyspace
///   +@scripting +@connection`;
/// - `rediss://…`: TLS (cargo feature `redis-tls`: rustls with the ring provider),
///   checked against the system's trust store, or against a CA of your own
///   ([`ca_certificate`](RedisBackplane::ca_certificate)). Certificates are always
///   verified: a URL with `#insecure` is refused.
///
/// Credentials never appear in errors or logs (the password shows as `***`). The
/// connection is made in the background: a wrong password, an untrusted certificate
/// or a refused command is logged as a warning once, and the errors of
/// [`Hub::synced`](crate::Hub::synced) and
/// [`Room::members_everywhere`](crate::Room::members_everywhere) say what it was.
///
/// The redis crate's features this takes: `tokio-comp` and `aio` (plain pub/sub on one
/// server, no RESP3), `cluster-async` (a cluster's sharded pub/sub is received as RESP3
/// push messages), plus `tokio-rustls-comp` with `redis-tls`.
///
/// # When Redis is unreachable
///
/// Local delivery goes on. A node reconnects with backoff (100 ms doubling to 1 s, or to the heartbeat if shorter) and
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
    /// Kept (with its password) to build the client again with a CA certificate.
    url: String,
    servers: Servers,
    last_error: LastError,
    prefix: String,
    heartbeat: Duration,
    started: OnceLock<Started>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("url", &connect::redacted(&self.url))
            .field("prefix", &self.prefix)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

struct Started {
    /// Publications are numbered as they are queued (under this lock, so that the
    /// numbers follow the queue's order): a publication dropped here shows as a gap.
    numbering: Arc<Mutex<Numbering>>,
    /// Interests and sync requests, in the order the hub made them, to the subscriber.
    listens: mpsc::UnboundedSender<Listen>,
    queued: Arc<AtomicUsize>,
    keys: Keys,
    counters: Arc<Counters>,
    /// The writer's current connection, shared with presence queries.
    connection: Arc<Mutex<Option<Conn>>>,
    subscriber: Mutex<Option<tokio::task::AbortHandle>>,
}

impl RedisBackplane {
    /// A backplane on the Redis server at `url` (e.g. `redis://127.0.0.1:6379`); an
    /// invalid URL is an error now, an unreachable server is retried once serving.
    pub fn new(url: &str) -> Result<RedisBackplane> {
        Ok(RedisBackplane {
            servers: connect::servers(url, None)?,
            url: url.to_owned(),
            last_error: LastError::default(),
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

    /// Trust `pem` (one or more CA certificates, PEM) as the only roots for this
    /// backplane's `rediss://` URL, instead of the system's trust store (feature
    /// `redis-tls`). Certificates are always verified: there is no way to turn that off.
    ///
    /// ```no_run
    /// # fn run() -> wsframe::Result<()> {
    /// use wsframe::backplane::RedisBackplane;
    ///
    /// let ca = std::fs::read("/etc/redis/ca.pem")?;
    /// let backplane = RedisBackplane::new("rediss://wsframe:secret@redis.internal:6380")?
    ///     .ca_certificate(ca)?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis-tls")]
    pub fn ca_certificate(mut self, pem: impl AsRef<[u8]>) -> Result<RedisBackplane> {
        self.servers = connect::servers(&self.url, Some(pem.as_ref()))?;
        Ok(self)
    }

    /// How often this node proves it is alive (default 1 s); a node silent for three
    /// heartbeats is dead, and its members leave presence.
    pub fn heartbeat(mut self, interval: Duration) -> RedisBackplane {
        self.heartbeat = interval.max(Duration::from_millis(50));
        self
    }
}

impl RedisBackplane {
    /// Queue a membership change with its presence event (never dropped).
    fn membership(&self, joined: bool, room: &str, id: ConnectionId, key: Option<&Key>) {
        let Some(started) = self.started.get() else {
            return;
        };
        let channel = started.keys.room_channel(room);
        let key = key.map(|key| key.to_string());
        let mut numbering = lock(&started.numbering);
        let envelope =
            numbering.presence(started.keys.node, &channel, room, joined, id, key.clone());
        let membership = Membership {
            room: room.to_owned(),
            id,
            key,
            presence: (channel, envelope),
        };
        let _ = numbering.queue.send(if joined {
            Command::Joined(membership)
        } else {
            Command::Left(membership)
        });
    }
}

impl RedisBackplane {
    /// Tell the subscriber task that this node gained (or lost) `interest`: a channel
    /// to (un)subscribe, or a room whose presence to watch.
    fn follow(&self, interest: Interest, gained: bool) {
        let Some(started) = self.started.get() else {
            return;
        };
        let listen = match (interest, gained) {
            (Interest::Presence(room), true) => Listen::Watch(room),
            (Interest::Presence(room), false) => Listen::Unwatch(room),
            (interest, true) => Listen::Subscribe(started.keys.interest_channel(&interest)),
            (interest, false) => Listen::Unsubscribe(started.keys.interest_channel(&interest)),
        };
        let _ = started.listens.send(listen);
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
        // One queue for publications, memberships and stop, so that they reach Redis in
        // the order they were numbered in.
        let (commands, received) = mpsc::unbounded_channel();
        let (listens, listened) = mpsc::unbounded_channel();
        let connection = Arc::new(Mutex::new(None));
        let queued = Arc::new(AtomicUsize::new(0));
        let counters = hub.counters();
        let numbering = Arc::new(Mutex::new(Numbering {
            epoch: new_epoch(),
            last: HashMap::new(),
            queue: commands,
        }));
        let started = Started {
            numbering: numbering.clone(),
            listens,
            queued: queued.clone(),
            keys: keys.clone(),
            counters: counters.clone(),
            connection: connection.clone(),
            subscriber: Mutex::new(None),
        };
        if self.started.set(started).is_err() {
            return;
        }
        let writer = Writer {
            last_error: self.last_error.clone(),
            servers: self.servers.clone(),
            keys: keys.clone(),
            heartbeat: self.heartbeat,
            connection,
            counters: counters.clone(),
            queued,
            numbering,
            hub: hub.clone(),
            rooms: HashMap::new(),
            ended: HashMap::new(),
            process: Writer::new_process(),
            restores: 0,
        };
        runtime.spawn(writer.run(received));
        let subscriber = Subscriber {
            last_error: self.last_error.clone(),
            servers: self.servers.clone(),
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
        let mut numbering = lock(&started.numbering);
        numbering.number(&channel, &mut envelope);
        if started.queued.load(Ordering::Relaxed) >= MAX_QUEUED {
            Counters::inc(&started.counters.backplane_publish_failed);
            return;
        }
        started.queued.fetch_add(1, Ordering::Relaxed);
        let _ = numbering.queue.send(Command::Publish(channel, envelope));
    }

    fn interested(&self, interest: Interest) {
        self.follow(interest, true);
    }

    fn uninterested(&self, interest: Interest) {
        self.follow(interest, false);
    }

    fn synced(&self) -> BoxFuture<Result<()>> {
        let Some(started) = self.started.get() else {
            return Box::pin(async { Err(Error::custom("the Redis backplane is not started")) });
        };
        let (done, confirmed) = oneshot::channel();
        let _ = started.listens.send(Listen::Synced(done));
        let last_error = self.last_error.clone();
        Box::pin(async move {
            match timeout(COMMAND_TIMEOUT * 2, confirmed).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Error::custom("the Redis backplane stopped")),
                Err(_) => {
                    Err(last_error.error("Redis did not confirm this node's subscriptions in time"))
                }
            }
        })
    }

    fn joined(&self, room: &str, id: ConnectionId, key: Option<&Key>) {
        self.membership(true, room, id, key);
    }

    fn left(&self, room: &str, id: ConnectionId, key: Option<&Key>) {
        self.membership(false, room, id, key);
    }

    fn members(&self, room: &str) -> BoxFuture<Result<Vec<ConnectionId>>> {
        let Some(started) = self.started.get() else {
            return Box::pin(async { Err(Error::custom("the Redis backplane is not started")) });
        };
        let connection = lock(&started.connection).clone();
        let keys = started.keys.clone();
        let room = room.to_string();
        let last_error = self.last_error.clone();
        Box::pin(async move {
            let Some(mut connection) = connection else {
                return Err(last_error.error("Redis is unreachable: presence is unknown"));
            };
            let members = timeout(
                COMMAND_TIMEOUT,
                presence::members(&mut connection, &keys, &room),
            )
            .await
            .map_err(|_| Error::custom("Redis did not answer in time"))?
            .map_err(|e| Error::custom(format!("Redis: {e}")))?;
            Ok(members.into_iter().map(|(id, _)| id).collect())
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
        let _ = lock(&started.numbering).queue.send(Command::Stop(done));
        Box::pin(async move {
            let _ = timeout(COMMAND_TIMEOUT, left).await;
        })
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
