//! The broadcast hub: a registry of live connections, personal messages, rooms and
//! presence.
//!
//! # When a client cannot keep up
//!
//! Fan-out never waits for a client. Every connection has one outgoing queue, bounded in
//! messages ([`Config::outgoing_queue`](crate::Config::outgoing_queue), 256 by default)
//! and in bytes ([`Config::outgoing_queue_bytes`](crate::Config::outgoing_queue_bytes),
//! 4 MiB by default; a larger message enters only an empty queue), so a client that
//! stops reading holds at most the larger of the bound and one message. A hub message that finds a recipient's queue full (or that would
//! pass the byte bound) meets the slow-consumer policy ([`SlowConsumer`]), set for the
//! app with [`Hub::set_policy`] and per room with [`Room::set_policy`]:
//!
//! - [`SlowConsumer::Close`] (the default): the connection is closed with 1013 (try
//!   again later). The close frame goes out ahead of everything still queued, and the
//!   client can reconnect and resynchronise instead of silently missing messages. Only
//!   a client behind on hub messages is closed: when the room is held by its handler's
//!   own sends, the hub message is dropped (and counted) instead.
//! - [`SlowConsumer::DropNewest`]: the message that does not fit is dropped.
//! - [`SlowConsumer::DropOldest`]: the oldest hub messages in the queue are dropped, as
//!   few as make room.
//!
//! Drops and slow-consumer closes are counted in the app's
//! [`MetricsSnapshot`](crate::MetricsSnapshot). A handler's own `send_*().await` is
//! never subject to the policy: it waits for room. Each recipient receives messages in
//! the order they were queued for it.
//!
//! # Sharing
//!
//! A broadcast is encoded once (JSON is serialized once) and every recipient's queue
//! holds the same reference-counted payload up to the socket write. Every target has a
//! typed send that serializes a serde value once: [`Hub::broadcast_json`],
//! [`Hub::broadcast_json_except`], [`Hub::send_json`], [`Hub::send_json_to_key`],
//! [`Room::broadcast_json`] and [`Room::broadcast_json_except`].
//!
//! # Before accept
//!
//! [`Hub::join`] and [`Hub::set_key`] may be called before the handshake is accepted:
//! the membership is kept with the connection and takes effect at accept (presence
//! subscribers see `Joined` then). Until then no broadcast reaches the connection, and
//! a refused handshake leaves nothing behind.
//!
//! # Example
//!
//! ```
//! use wsframe::prelude::*;
//! use wsframe::Hub;
//!
//! #[websocket("/ws/<client_id>")]
//! async fn chat(mut ws: WebSocket, client_id: u64, hub: Hub) -> wsframe::Result<()> {
//!     ws.accept().await?;
//!     hub.join("lobby", &ws);
//!     while let Ok(text) = ws.receive_text().await {
//!         hub.room("lobby").broadcast_text(format!("Client #{client_id}: {text}"));
//!     }
//!     hub.room("lobby").broadcast_text(format!("Client #{client_id} left"));
//!     Ok(())
//! }
//! ```

mod key;
mod room;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde::Serialize;

pub use key::Key;
pub use room::{Presence, PresenceEvents, Room, UserPresence, UserPresenceEvents};

use crate::backplane::{Backplane, Envelope, Interest, Target};
use crate::connection::frame::Prepared;
use crate::metrics::Counters;
use crate::socket::{Admission, ConnShared, Member, SlowConsumer};
use crate::{ConnectionId, FromHandshake, HandshakeRequest, Message, NodeId, Rejection, Result};

/// Registry shards: connections are spread over these so that registering and
/// broadcasting from many tasks do not meet on one lock.
const SHARDS: usize = 16;

/// The broadcast manager; cheap to clone. Take it as a handler argument (`hub: Hub`) or
/// from [`App::hub`](crate::App::hub).
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::testing::TestClient;
///
/// #[websocket("/chat")]
/// async fn chat(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
///     hub.join("lobby", &ws); // before accept: in effect from the accept on
///     ws.accept().await?;
///     while let Ok(text) = ws.receive_text().await {
///         hub.room("lobby").broadcast_except(&ws, text); // to the others
///     }
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new().route(chat);
/// let hub = app.hub();
/// let client = TestClient::new(app)?;
/// // Both joined before accepting: in the lobby as soon as they are connected.
/// let (mut ada, mut bob) = (client.connect("/chat").await?, client.connect("/chat").await?);
/// assert_eq!(hub.room("lobby").count(), 2);
/// ada.send_text("hi bob").await?;
/// assert_eq!(bob.receive_text().await?, "hi bob");
///
/// // From outside a handler: every connection of the app.
/// assert_eq!(hub.broadcast_json(&serde_json::json!({ "news": "hub" }))?, 2);
/// assert_eq!(ada.receive_text().await?, r#"{"news":"hub"}"#);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.connection_count())
            .finish_non_exhaustive()
    }
}

struct HubInner {
    /// This node (connection ids name it); set when the app is built.
    node: AtomicU64,
    /// Other nodes, when the app has a backplane.
    backplane: OnceLock<Arc<dyn Backplane>>,
    shards: Vec<RwLock<HashMap<ConnectionId, Arc<ConnShared>>>>,
    keys: RwLock<HashMap<Key, Vec<ConnectionId>>>,
    rooms: RwLock<HashMap<Arc<str>, Arc<room::RoomInner>>>,
    policy: AtomicU8,
    counters: Arc<Counters>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn policy_to_u8(policy: SlowConsumer) -> u8 {
    match policy {
        SlowConsumer::Close => 1,
        SlowConsumer::DropNewest => 2,
        SlowConsumer::DropOldest => 3,
    }
}

pub(crate) fn policy_from_u8(value: u8) -> Option<SlowConsumer> {
    match value {
        1 => Some(SlowConsumer::Close),
        2 => Some(SlowConsumer::DropNewest),
        3 => Some(SlowConsumer::DropOldest),
        _ => None,
    }
}

impl Hub {
    pub(crate) fn new(counters: Arc<Counters>) -> Hub {
        Hub {
            inner: Arc::new(HubInner {
                node: AtomicU64::new(0),
                backplane: OnceLock::new(),
                shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
                keys: RwLock::default(),
                rooms: RwLock::default(),
                policy: AtomicU8::new(policy_to_u8(SlowConsumer::default())),
                counters,
            }),
        }
    }

    /// Join this hub to its node and (if any) to the other nodes.
    pub(crate) fn attach(&self, node: NodeId, backplane: Option<Arc<dyn Backplane>>) {
        self.inner.node.store(node.0, Ordering::Relaxed);
        if let Some(backplane) = backplane
            && self.inner.backplane.set(backplane.clone()).is_ok()
        {
            backplane.start(self.clone());
            // Rooms and keys made before the app was built (a presence listener, say).
            for room in read(&self.inner.rooms).keys() {
                backplane.interested(Interest::Room(room.to_string()));
            }
            for key in read(&self.inner.keys).keys() {
                backplane.interested(Interest::Key(key.to_string()));
            }
            for room in self.rooms() {
                if self.room(&room).is_listened() {
                    backplane.interested(Interest::Presence(room));
                }
            }
        }
    }

    /// Tell the backplane (if any) that this node gained or lost an interest; called
    /// under the lock of the map that decided it, so that the calls keep its order.
    pub(crate) fn interest(&self, interest: Interest, gained: bool) {
        if let Some(backplane) = self.backplane() {
            if gained {
                backplane.interested(interest);
            } else {
                backplane.uninterested(interest);
            }
        }
    }

    /// Resolves once the rooms and keys of this node's connections, as they stand now,
    /// are subscribed on the backplane: a publication that another node starts after
    /// this returned reaches them. Ready at once without a backplane, or with one that
    /// sends every node everything. An error when the backplane cannot confirm (Redis
    /// unreachable); delivery on this node goes on regardless.
    ///
    /// [`Hub::join_synced`] joins and waits in one call.
    ///
    /// ```
    /// use wsframe::prelude::*;
    ///
    /// #[websocket("/ws")]
    /// async fn member(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    ///     ws.accept().await?;
    ///     hub.set_key(&ws, "ada");
    ///     hub.join("lobby", &ws);
    ///     hub.synced().await?; // from now on, what any node sends them arrives
    ///     ws.send_text("ready").await?;
    ///     while ws.receive().await.is_ok() {}
    ///     Ok(())
    /// }
    /// ```
    pub async fn synced(&self) -> Result<()> {
        match self.backplane() {
            Some(backplane) => backplane.synced().await,
            None => Ok(()),
        }
    }

    /// This node's id.
    pub fn node(&self) -> NodeId {
        NodeId(self.inner.node.load(Ordering::Relaxed))
    }

    #[cfg(feature = "redis")]
    pub(crate) fn counters(&self) -> Arc<Counters> {
        self.inner.counters.clone()
    }

    pub(crate) fn backplane(&self) -> Option<&Arc<dyn Backplane>> {
        self.inner.backplane.get()
    }

    /// Leave the cluster (the app is shutting down).
    pub(crate) async fn stop_backplane(&self) {
        if let Some(backplane) = self.backplane() {
            backplane.stop().await;
        }
    }

    /// Hand a message to the other nodes, if there is a backplane.
    pub(crate) fn publish(&self, target: Target, message: &Message) {
        if let Some(backplane) = self.backplane() {
            backplane.publish(Envelope {
                origin: self.node(),
                epoch: 0,
                seq: 0,
                target,
                message: message.clone(),
            });
        }
    }

    /// Deliver what another node published to this node's connections (for
    /// [`Backplane`] implementations); returns how many were reached. A node's own
    /// publications are skipped: they were delivered when published.
    pub fn receive(&self, envelope: &Envelope) -> usize {
        if envelope.origin == self.node() {
            return 0;
        }
        let frame = Prepared::new(&envelope.message);
        match &envelope.target {
            Target::All { except } => self.broadcast_local(&frame, *except),
            Target::Room { name, except } => self.room(name).deliver_local(&frame, *except),
            Target::Connection(id) => self
                .connection(*id)
                .is_some_and(|conn| self.deliver(&conn, &frame, self.policy()))
                as usize,
            Target::Key(key) => self.key_local(key, &frame),
            Target::Presence {
                room,
                joined,
                id,
                key,
            } => {
                let key = key.as_deref().map(Key::from);
                self.room(room).remote_presence(*joined, *id, key);
                0
            }
        }
    }

    #[cfg(feature = "redis")]
    /// The members of `room` on every node, as the backplane read them (for rooms with
    /// presence listeners: see [`Interest::Presence`]).
    pub(crate) fn load_presence(&self, room: &str, everyone: &[(ConnectionId, Option<Key>)]) {
        self.room(room).load_presence(everyone);
    }

    #[cfg(feature = "redis")]
    /// The other nodes that have members in this node's presence views (their liveness
    /// decides when those members leave).
    pub(crate) fn presence_nodes(&self) -> std::collections::HashSet<NodeId> {
        let mut nodes = std::collections::HashSet::new();
        for room in self.rooms() {
            self.room(&room).presence_nodes(&mut nodes);
        }
        nodes
    }

    #[cfg(feature = "redis")]
    /// `node` is dead: its members leave every presence view here, each heard once.
    pub(crate) fn node_gone(&self, node: NodeId) {
        for room in self.rooms() {
            self.room(&room).node_gone(node);
        }
    }

    fn shard(&self, id: ConnectionId) -> &RwLock<HashMap<ConnectionId, Arc<ConnShared>>> {
        &self.inner.shards[(id.seq() as usize) % SHARDS]
    }

    /// Add an accepted connection, with the key and rooms its handler asked for before
    /// accepting: they take effect now (announced to presence subscribers now), so that a
    /// connection that may still be refused is never reached by a broadcast.
    pub(crate) fn register(&self, conn: Arc<ConnShared>) {
        let mut membership = conn.membership.lock();
        if membership.closed {
            // Closed before registering: inserting now would leak the entry.
            return;
        }
        write(self.shard(conn.id)).insert(conn.id, conn.clone());
        membership.registered = true;
        if let Some(key) = &membership.key {
            self.add_key(&mut write(&self.inner.keys), key.clone(), conn.id);
        }
        for room in &membership.rooms {
            self.room(room)
                .add_member(conn.clone(), membership.key.clone());
        }
    }

    /// Remove a connection from the registry, its key and every room it joined.
    pub(crate) fn deregister(&self, conn: &ConnShared) {
        write(self.shard(conn.id)).remove(&conn.id);
        let (key, rooms) = conn.membership.take();
        if let Some(key) = &key {
            self.remove_key(&mut write(&self.inner.keys), key, conn.id);
        }
        for room in rooms {
            self.room(&room).remove_member(conn.id, key.clone());
        }
    }

    pub(crate) fn connection(&self, id: ConnectionId) -> Option<Arc<ConnShared>> {
        read(self.shard(id)).get(&id).cloned()
    }

    /// The app-wide slow-consumer policy (see the module docs).
    pub fn policy(&self) -> SlowConsumer {
        policy_from_u8(self.inner.policy.load(Ordering::Relaxed)).unwrap_or_default()
    }

    /// Set the app-wide slow-consumer policy; rooms may override it.
    pub fn set_policy(&self, policy: SlowConsumer) {
        self.inner
            .policy
            .store(policy_to_u8(policy), Ordering::Relaxed);
    }

    /// Offer `message` to one connection under `policy`, counting drops.
    pub(crate) fn deliver(
        &self,
        conn: &ConnShared,
        frame: &Prepared,
        policy: SlowConsumer,
    ) -> bool {
        match conn.outbox.offer(
            frame.for_peer(conn.deflate.as_ref(), &self.inner.counters),
            policy,
        ) {
            Admission::Queued => true,
            Admission::DisplacedOldest(dropped) => {
                Counters::add(&self.inner.counters.slow_consumer_drops, dropped as u64);
                true
            }
            Admission::Dropped => {
                Counters::inc(&self.inner.counters.slow_consumer_drops);
                false
            }
            Admission::Closing => {
                Counters::inc(&self.inner.counters.slow_consumer_closes);
                false
            }
            Admission::Gone => false,
        }
    }

    /// Send to one connection. Returns whether it was queued, or, for a connection of
    /// another node, handed to the backplane.
    pub fn send(&self, to: ConnectionId, message: impl Into<Message>) -> bool {
        let message = message.into();
        if to.node() != self.node() {
            self.publish(Target::Connection(to), &message);
            return self.backplane().is_some();
        }
        match self.connection(to) {
            Some(conn) => self.deliver(&conn, &Prepared::new(&message), self.policy()),
            None => false,
        }
    }

    /// Serialize `value` once and send it to one connection as JSON text (see
    /// [`Hub::send`]).
    pub fn send_json<T: Serialize + ?Sized>(&self, to: ConnectionId, value: &T) -> Result<bool> {
        Ok(self.send(to, Message::json(value)?))
    }

    /// Serialize `value` once and send it as JSON text to every connection registered
    /// under `key` (see [`Hub::send_to_key`]).
    pub fn send_json_to_key<T: Serialize + ?Sized>(
        &self,
        key: impl Into<Key>,
        value: &T,
    ) -> Result<usize> {
        Ok(self.send_to_key(key, Message::json(value)?))
    }

    /// Send to every connection registered under `key` (see [`Hub::set_key`]; the key
    /// is given the same way, e.g. `hub.send_to_key(user_id, msg)` for a `u64`); returns
    /// how many were reached on this node.
    pub fn send_to_key(&self, key: impl Into<Key>, message: impl Into<Message>) -> usize {
        let (key, message) = (key.into(), message.into());
        self.publish(Target::Key(key.to_string()), &message);
        self.key_local(&key, &Prepared::new(&message))
    }

    /// File `id` under `key`; a key new to this node is an interest.
    fn add_key(&self, keys: &mut HashMap<Key, Vec<ConnectionId>>, key: Key, id: ConnectionId) {
        let ids = keys.entry(key.clone()).or_default();
        if ids.is_empty() {
            self.interest(Interest::Key(key.to_string()), true);
        }
        ids.push(id);
    }

    /// Take `id` out of `key`; a key no connection of this node holds any more is no
    /// longer an interest.
    fn remove_key(&self, keys: &mut HashMap<Key, Vec<ConnectionId>>, key: &str, id: ConnectionId) {
        if let Some(ids) = keys.get_mut(key) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                keys.remove(key);
                self.interest(Interest::Key(key.to_string()), false);
            }
        }
    }

    fn key_local(&self, key: &str, frame: &Prepared) -> usize {
        let ids = read(&self.inner.keys).get(key).cloned().unwrap_or_default();
        let policy = self.policy();
        ids.into_iter()
            .filter_map(|id| self.connection(id))
            .filter(|conn| self.deliver(conn, frame, policy))
            .count()
    }

    /// Send to every connection; returns how many were reached.
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        self.broadcast_filtered(message.into(), None)
    }

    /// Send to every connection but `except` (typically the sender).
    pub fn broadcast_except(
        &self,
        except: impl Into<ConnectionId>,
        message: impl Into<Message>,
    ) -> usize {
        self.broadcast_filtered(message.into(), Some(except.into()))
    }

    /// Send a text message to every connection.
    pub fn broadcast_text(&self, text: impl Into<crate::Utf8Bytes>) -> usize {
        self.broadcast(Message::Text(text.into()))
    }

    /// Serialize `value` once and send it to every connection as JSON text.
    pub fn broadcast_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<usize> {
        Ok(self.broadcast(Message::json(value)?))
    }

    /// Serialize `value` once and send it as JSON text to every connection but `except`.
    pub fn broadcast_json_except<T: Serialize + ?Sized>(
        &self,
        except: impl Into<ConnectionId>,
        value: &T,
    ) -> Result<usize> {
        Ok(self.broadcast_except(except, Message::json(value)?))
    }

    fn broadcast_filtered(&self, message: Message, except: Option<ConnectionId>) -> usize {
        self.publish(Target::All { except }, &message);
        // Encoded once: every recipient's queue shares these bytes.
        self.broadcast_local(&Prepared::new(&message), except)
    }

    fn broadcast_local(&self, frame: &Prepared, except: Option<ConnectionId>) -> usize {
        let policy = self.policy();
        let mut reached = 0;
        for shard in &self.inner.shards {
            for (id, conn) in read(shard).iter() {
                if Some(*id) != except && self.deliver(conn, frame, policy) {
                    reached += 1;
                }
            }
        }
        reached
    }

    /// File a connection under a user key (a user id: a string, an integer, see
    /// [`Key`]), so that [`send_to_key`](Hub::send_to_key) with the same key reaches all
    /// of that user's connections; a second call replaces the key. Returns `false` when
    /// the connection has closed.
    ///
    /// Before the connection is accepted, the key is kept and takes effect at accept; a
    /// refused handshake leaves nothing behind.
    ///
    /// ```
    /// use wsframe::prelude::*;
    /// use wsframe::testing::TestClient;
    ///
    /// #[websocket("/u/<user_id>")]
    /// async fn user(mut ws: WebSocket, user_id: u64, hub: Hub) -> wsframe::Result<()> {
    ///     hub.set_key(&ws, user_id); // before accept: applied when accepted
    ///     ws.accept().await?;
    ///     while ws.receive().await.is_ok() {}
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let app = App::new().route(user);
    /// let hub = app.hub();
    /// let client = TestClient::new(app)?;
    /// let mut ws = client.connect("/u/7").await?;
    /// assert_eq!(hub.send_to_key(7u64, "for user 7"), 1); // the same key type
    /// assert_eq!(ws.receive_text().await?, "for user 7");
    /// # Ok(()) }
    /// ```
    pub fn set_key(&self, member: impl Into<Member>, key: impl Into<Key>) -> bool {
        let Member(conn) = member.into();
        let key = key.into();
        let mut membership = conn.membership.lock();
        if membership.closed {
            return false;
        }
        if membership.key.as_ref() == Some(&key) {
            return true;
        }
        let old = membership.key.replace(key.clone());
        if membership.registered {
            let mut keys = write(&self.inner.keys);
            if let Some(old) = old {
                self.remove_key(&mut keys, &old, conn.id);
            }
            self.add_key(&mut keys, key.clone(), conn.id);
            drop(keys);
            // Presence (here and on other nodes) knows the member by its new key.
            for room in &membership.rooms {
                self.room(room).rekey(conn.id, Some(key.clone()));
            }
        }
        true
    }

    /// Add a connection to `room` (creating the room). Returns `false` when the
    /// connection has closed or is already a member.
    ///
    /// Before the connection is accepted, the membership is kept and takes effect at
    /// accept (the room's presence subscribers see `Joined` then); until then the
    /// connection is not among the room's members and no broadcast reaches it. A
    /// refused handshake leaves nothing behind.
    pub fn join(&self, room: &str, member: impl Into<Member>) -> bool {
        let Member(conn) = member.into();
        let mut membership = conn.membership.lock();
        if membership.closed || membership.rooms.iter().any(|r| r == room) {
            return false;
        }
        membership.rooms.push(room.to_string());
        if membership.registered {
            let key = membership.key.clone();
            self.room(room).add_member(conn.clone(), key);
        }
        true
    }

    /// [`join`](Hub::join), then wait until the room is subscribed on the backplane
    /// ([`synced`](Hub::synced)): a publication that another node starts after this
    /// returned reaches the new member. Returns whether it joined (`false`: closed, or a
    /// member already; it waits all the same). Call it after `accept`: before, a
    /// membership waits for the accept, and so does its subscription.
    ///
    /// ```
    /// use wsframe::prelude::*;
    ///
    /// #[websocket("/ws")]
    /// async fn member(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    ///     ws.accept().await?;
    ///     hub.join_synced("lobby", &ws).await?;
    ///     while ws.receive().await.is_ok() {}
    ///     Ok(())
    /// }
    /// ```
    pub async fn join_synced(&self, room: &str, member: impl Into<Member>) -> Result<bool> {
        let joined = self.join(room, member);
        self.synced().await?;
        Ok(joined)
    }

    /// Remove a connection from `room` (also a membership made before accept); returns
    /// whether it was a member.
    pub fn leave(&self, room: &str, member: impl Into<Member>) -> bool {
        let Member(conn) = member.into();
        let mut membership = conn.membership.lock();
        let before = membership.rooms.len();
        membership.rooms.retain(|r| r != room);
        if membership.rooms.len() == before {
            return false;
        }
        if membership.registered {
            let key = membership.key.clone();
            self.room(room).remove_member(conn.id, key);
        }
        true
    }

    /// A handle to a room (rooms exist while they have members, presence subscribers or
    /// a policy of their own).
    pub fn room(&self, name: &str) -> Room {
        Room::new(self.clone(), name)
    }

    /// Names of the rooms that exist now.
    pub fn rooms(&self) -> Vec<String> {
        read(&self.inner.rooms)
            .keys()
            .map(|k| k.to_string())
            .collect()
    }

    /// Open connections registered with the hub.
    pub fn connection_count(&self) -> usize {
        self.inner.shards.iter().map(|s| read(s).len()).sum()
    }

    /// User keys registered now.
    pub fn key_count(&self) -> usize {
        read(&self.inner.keys).len()
    }
}

#[diagnostic::do_not_recommend]
impl FromHandshake for Hub {
    type Rejection = Rejection;

    async fn from_handshake(req: &HandshakeRequest) -> std::result::Result<Self, Rejection> {
        req.state::<Hub>()
            .ok_or_else(|| Rejection::internal("the app has no hub"))
    }
}

#[cfg(test)]
mod tests {
    //! Races between joins, leaves, key changes and clean-up, on real threads.

    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    use http::HeaderMap;
    use tokio::sync::oneshot;

    use super::*;
    use crate::socket::Decision;

    /// An accepted connection as the hub sees it (its decision channel kept open).
    fn accepted(hub: &Hub) -> (Arc<ConnShared>, oneshot::Receiver<Decision>) {
        let (conn, keep) = accepting();
        hub.register(conn.clone());
        (conn, keep)
    }

    /// A connection whose handler accepted, before the hub registered it.
    fn accepting() -> (Arc<ConnShared>, oneshot::Receiver<Decision>) {
        let (conn, decision_rx) = ConnShared::for_test(Arc::new(Counters::default()));
        let conn = Arc::new(conn);
        conn.decide_accept(None, HeaderMap::new()).unwrap();
        (conn, decision_rx)
    }

    fn hub() -> Hub {
        Hub::new(Arc::new(Counters::default()))
    }

    #[test]
    fn a_successful_join_is_always_in_the_room() {
        let hub = hub();
        let lost = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                let (hub, lost) = (hub.clone(), lost.clone());
                scope.spawn(move || {
                    for _ in 0..20_000 {
                        let (conn, _keep) = accepted(&hub);
                        assert!(hub.join("r", Member(conn.clone())));
                        if !hub.room("r").contains(conn.id) {
                            lost.fetch_add(1, Relaxed);
                        }
                        hub.leave("r", Member(conn.clone()));
                        hub.deregister(&conn);
                    }
                });
            }
        });
        assert_eq!(
            lost.load(Relaxed),
            0,
            "joined members missing from their room"
        );
        assert!(hub.rooms().is_empty());
    }

    #[test]
    fn joins_leaves_and_keys_racing_clean_up_leave_nothing_behind() {
        let hub = hub();
        for round in 0..5_000 {
            let (conn, _keep) = accepted(&hub);
            std::thread::scope(|scope| {
                let (a, b) = (conn.clone(), conn.clone());
                let (h1, h2) = (hub.clone(), hub.clone());
                scope.spawn(move || {
                    h1.join("x", Member(a.clone()));
                    h1.set_key(Member(a.clone()), format!("k{}", round % 3));
                    h1.leave("x", Member(a.clone()));
                    h1.join("y", Member(a));
                });
                scope.spawn(move || {
                    h2.set_key(Member(b.clone()), "other");
                    h2.join("x", Member(b.clone()));
                    if round % 2 == 0 {
                        h2.deregister(&b);
                    }
                });
            });
            hub.deregister(&conn);
        }
        assert_eq!(hub.connection_count(), 0);
        assert!(hub.rooms().is_empty(), "rooms left: {:?}", hub.rooms());
        assert_eq!(hub.key_count(), 0);
    }

    /// The bytes of the frame queued for `conn` (the one message it was sent).
    fn queued_bytes_of(conn: &ConnShared) -> bytes::Bytes {
        let mut batch = std::collections::VecDeque::new();
        conn.outbox.drain(&mut batch, usize::MAX);
        assert_eq!(batch.len(), 1);
        match batch.pop_front().map(|queued| queued.item) {
            Some(crate::socket::Outgoing::Frame { frame, .. }) => frame.shared_bytes(),
            _ => panic!("expected a data frame"),
        }
    }

    #[test]
    fn a_broadcast_queues_one_shared_copy_of_its_frame_for_every_recipient() {
        let hub = hub();
        let (a, _keep_a) = accepted(&hub);
        let (b, _keep_b) = accepted(&hub);
        let payload = "x".repeat(64 << 10);
        hub.join("r", Member(a.clone()));
        hub.join("r", Member(b.clone()));
        let broadcasts: [(&str, &dyn Fn() -> usize); 2] = [
            ("Hub::broadcast", &|| hub.broadcast_text(payload.clone())),
            ("Room::broadcast", &|| {
                hub.room("r").broadcast_text(payload.clone())
            }),
        ];
        for (name, broadcast) in broadcasts {
            assert_eq!(broadcast(), 2, "{name}");
            let (to_a, to_b) = (queued_bytes_of(&a), queued_bytes_of(&b));
            assert_eq!(to_a, to_b);
            // The same allocation, by refcount: not two copies of equal bytes.
            assert_eq!(
                to_a.as_ptr(),
                to_b.as_ptr(),
                "{name} copied the frame per recipient"
            );
        }
    }

    #[test]
    fn a_broadcast_is_compressed_once_for_all_its_deflate_recipients() {
        let counters = Arc::new(Counters::default());
        let hub = Hub::new(counters.clone());
        let offers = crate::deflate::offer::parse([&b"permessage-deflate"[..]]);
        let (deflate, _) =
            crate::deflate::offer::negotiate(&offers, &crate::Compression::default()).unwrap();
        let recipients: Vec<_> = (0..4)
            .map(|_| {
                let (conn, keep) = ConnShared::for_test_with(counters.clone(), Some(deflate));
                let conn = Arc::new(conn);
                conn.decide_accept(None, HeaderMap::new()).unwrap();
                hub.register(conn.clone());
                hub.join("r", Member(conn.clone()));
                (conn, keep)
            })
            .collect();
        let (plain, _keep) = accepted(&hub);
        hub.join("r", Member(plain.clone()));
        let json = r#"{"type":"tick","symbol":"ACME","price":101.25,"volume":1200}"#.repeat(16);
        for n in 1..=3 {
            assert_eq!(hub.room("r").broadcast_text(json.clone()), 5);
            let frames: Vec<_> = recipients.iter().map(|(c, _)| queued_bytes_of(c)).collect();
            assert!(frames[0].len() < json.len() / 4, "compressed");
            for frame in &frames[1..] {
                assert_eq!(frame.as_ptr(), frames[0].as_ptr(), "one compressed copy");
            }
            assert_eq!(
                queued_bytes_of(&plain),
                json.as_bytes(),
                "the plain one as is"
            );
            assert_eq!(
                counters.messages_compressed.get(),
                n,
                "{n} broadcasts, {n} compressions"
            );
        }
    }

    #[test]
    fn a_join_and_a_key_racing_the_registration_take_effect_exactly_once() {
        let hub = hub();
        for round in 0..5_000 {
            let (conn, _keep) = accepting();
            std::thread::scope(|scope| {
                let (a, h1) = (conn.clone(), hub.clone());
                let (b, h2) = (conn.clone(), hub.clone());
                scope.spawn(move || {
                    assert!(h1.set_key(Member(a.clone()), round));
                    assert!(h1.join("r", Member(a)));
                });
                scope.spawn(move || h2.register(b));
            });
            assert_eq!(hub.room("r").members(), [conn.id]);
            assert_eq!(
                read(&hub.inner.keys).get(&*round.to_string()),
                Some(&vec![conn.id])
            );
            hub.deregister(&conn);
        }
        assert!(hub.rooms().is_empty(), "rooms left: {:?}", hub.rooms());
        assert_eq!(hub.key_count(), 0);
    }

    #[tokio::test]
    async fn a_dropped_presence_subscriber_lets_its_room_go() {
        let hub = hub();
        let events = hub.room("watched").presence();
        assert_eq!(hub.rooms(), ["watched"]);
        drop(events);
        assert!(hub.rooms().is_empty());
        // A room with a policy of its own stays.
        hub.room("kept").set_policy(SlowConsumer::DropNewest);
        assert_eq!(hub.rooms(), ["kept"]);
    }
}
