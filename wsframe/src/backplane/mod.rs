//! Scale-out: the hubs of several server nodes joined by a backplane.
//!
//! A hub always delivers to its own node's connections directly. With a backplane it
//! also publishes what may concern other nodes: room and app-wide broadcasts, messages
//! to a user key, and personal messages for a connection of another node (a
//! [`ConnectionId`] names its node). Each node delivers what it receives to its own
//! connections, encoding each message once for all of them, and skips its own
//! publications (they were delivered locally already).
//!
//! Without a backplane (the default) the hub is in-process and nothing leaves the node.
//! `RedisBackplane` (cargo feature `redis`) joins nodes through Redis pub/sub, and
//! keeps cluster-wide room presence in Redis ([`Room::members_everywhere`]).
//!
//! What a hub method returns counts this node's recipients only: the other nodes
//! deliver asynchronously.
//!
//! # Interest
//!
//! A hub tells its backplane what this node listens for beyond its own connections and
//! app-wide broadcasts ([`Interest`]): a room while it exists on this node (it has
//! members here, or a presence listener, or a policy of its own), a user key while a
//! connection of this node holds it. A backplane with a channel per room and per key
//! (as `RedisBackplane` has) subscribes only to those, so that a node receives nothing
//! of a room it has no member in. Subscribing takes a round trip:
//! [`Hub::synced`](crate::Hub::synced) waits for it.
//!
//! ```no_run
//! # #[cfg(feature = "redis")]
//! # async fn run() -> wsframe::Result<()> {
//! use wsframe::backplane::RedisBackplane;
//! use wsframe::App;
//!
//! let backplane = RedisBackplane::new("redis://127.0.0.1:6379")?.prefix("chat");
//! App::new().backplane(backplane).serve("127.0.0.1:8080").await
//! # }
//! ```
//!
//! [`Room::members_everywhere`]: crate::Room::members_everywhere

mod envelope;
#[cfg(feature = "redis")]
mod redis;

use std::future::Future;
use std::pin::Pin;

#[cfg(feature = "redis")]
pub use self::redis::RedisBackplane;
pub use envelope::{DecodeError, Envelope, Target};

/// What a node listens for beyond its own connections and app-wide broadcasts (see the
/// [module docs](self#interest)).
///
/// ```
/// use wsframe::backplane::Interest;
///
/// fn channel(prefix: &str, interest: &Interest) -> String {
///     match interest {
///         Interest::Room(room) => format!("{prefix}:room:{room}"),
///         Interest::Key(key) => format!("{prefix}:key:{key}"),
///         // Presence travels on the room's channel.
///         Interest::Presence(room) => format!("{prefix}:room:{room}"),
///     }
/// }
/// assert_eq!(channel("chat", &Interest::Room("lobby".into())), "chat:room:lobby");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// A room that exists on this node.
    Room(String),
    /// A user key held by a connection of this node.
    Key(String),
    /// A room that has presence listeners on this node (its `Room` interest came
    /// first): a backplane with cluster-wide presence loads the room's members on every
    /// node, so that the listeners' view of who is there is complete.
    Presence(String),
}

use crate::{ConnectionId, Hub, Key, Result};

/// A boxed future, as [`Backplane::members`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a hub reaches the hubs of other nodes (see the [module docs](self)).
///
/// Every method but [`members`](Backplane::members) is called from synchronous hub
/// code and must not wait: queue the work for a task of the backplane's own.
///
/// # Example: nodes in one process
///
/// A tokio broadcast channel stands for the network: each node's task hands what the
/// others publish to its hub. Presence stays per node here (`members` lists nobody
/// else), so [`Room::members_everywhere`] is this node's members.
///
/// ```
/// use tokio::sync::broadcast;
/// use wsframe::backplane::{Backplane, BoxFuture, Envelope};
/// use wsframe::{ConnectionId, Hub, Key};
///
/// #[derive(Clone)]
/// struct InMemory(broadcast::Sender<Envelope>);
///
/// impl Backplane for InMemory {
///     fn start(&self, hub: Hub) {
///         let mut bus = self.0.subscribe();
///         tokio::spawn(async move {
///             while let Ok(envelope) = bus.recv().await {
///                 hub.receive(&envelope); // skips this node's own publications
///             }
///         });
///     }
///     fn publish(&self, envelope: Envelope) {
///         let _ = self.0.send(envelope); // never waits
///     }
///     fn joined(&self, _room: &str, _id: ConnectionId, _key: Option<&Key>) {}
///     fn left(&self, _room: &str, _id: ConnectionId, _key: Option<&Key>) {}
///     fn members(&self, _room: &str) -> BoxFuture<wsframe::Result<Vec<ConnectionId>>> {
///         Box::pin(async { Ok(Vec::new()) })
///     }
/// }
/// # use wsframe::{App, Config, NodeId, WebSocket};
/// # use wsframe::testing::TestClient;
/// # async fn lobby(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
/// #     ws.accept().await?;
/// #     hub.join("lobby", &ws);
/// #     while ws.receive().await.is_ok() {}
/// #     Ok(())
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
///
/// // Two nodes (one App each) on the same bus.
/// let bus = InMemory(broadcast::channel(64).0);
/// let node = |id| {
///     let config = Config::default().node_id(NodeId(id));
///     App::new().config(config).backplane(bus.clone()).websocket("/ws", lobby)
/// };
/// let (one, two) = (node(1), node(2));
/// let (hub_one, hub_two) = (one.hub(), two.hub());
/// let (client_one, client_two) = (TestClient::new(one)?, TestClient::new(two)?);
/// let mut ada = client_one.connect("/ws").await?;
/// let mut bob = client_two.connect("/ws").await?;
/// # while hub_one.room("lobby").count() + hub_two.room("lobby").count() < 2 {
/// #     tokio::task::yield_now().await;
/// # }
///
/// // Counts node 1's recipients only; node 2 delivers to bob on its own.
/// assert_eq!(hub_one.room("lobby").broadcast_text("hello, cluster"), 1);
/// assert_eq!(ada.receive_text().await?, "hello, cluster");
/// assert_eq!(bob.receive_text().await?, "hello, cluster");
/// # Ok(()) }
/// ```
///
/// [`Room::members_everywhere`]: crate::Room::members_everywhere
pub trait Backplane: Send + Sync + 'static {
    /// Called once when the app is built (`bind`, `TestClient::new`, `into_service`;
    /// inside the runtime), with this node's
    /// hub: deliver what other nodes publish with [`Hub::receive`].
    fn start(&self, hub: Hub);

    /// Hand `envelope` to the other nodes (it was delivered on this node already).
    /// `envelope.seq` is 0: the backplane numbers its publications.
    fn publish(&self, envelope: Envelope);

    /// A connection of this node (with its user key, if any) joined `room`. A
    /// backplane with cluster-wide presence records it, and hands the other nodes a
    /// [`Target::Presence`] envelope for the room's presence listeners. Called again for
    /// a member whose key was set after it joined (the same id, its new key).
    fn joined(&self, room: &str, id: ConnectionId, key: Option<&Key>);

    /// A connection of this node left `room`, or closed.
    fn left(&self, room: &str, id: ConnectionId, key: Option<&Key>);

    /// The members of `room` on every live node.
    fn members(&self, room: &str) -> BoxFuture<Result<Vec<ConnectionId>>>;

    /// This node gained `interest` (a hub calls it once per interest until
    /// [`uninterested`](Backplane::uninterested), in order, without waiting; a room or
    /// key made while the app is being built may be announced twice). A
    /// backplane that sends every node everything ignores it (the default).
    fn interested(&self, interest: Interest) {
        let _ = interest;
    }

    /// This node lost `interest`: its last member left, its last listener went.
    fn uninterested(&self, interest: Interest) {
        let _ = interest;
    }

    /// Resolves once every interest announced before the call is in effect: what
    /// another node publishes from then on reaches this node. Ready at once by default.
    fn synced(&self) -> BoxFuture<Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// The app is shutting down: leave the cluster cleanly (best effort; the server
    /// waits for the returned future, which should not take more than a few seconds).
    fn stop(&self) -> BoxFuture<()> {
        Box::pin(async {})
    }
}
