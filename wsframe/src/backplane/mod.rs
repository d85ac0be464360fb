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

use crate::{ConnectionId, Hub, Result};

/// A boxed future, as [`Backplane::members`] returns.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a hub reaches the hubs of other nodes (see the [module docs](self)).
///
/// Every method but [`members`](Backplane::members) is called from synchronous hub
/// code and must not wait: queue the work for a task of the backplane's own.
pub trait Backplane: Send + Sync + 'static {
    /// Called once when the app starts serving (inside the runtime), with this node's
    /// hub: deliver what other nodes publish with [`Hub::receive`].
    fn start(&self, hub: Hub);

    /// Hand `envelope` to the other nodes (it was delivered on this node already).
    /// `envelope.seq` is 0: the backplane numbers its publications.
    fn publish(&self, envelope: Envelope);

    /// A connection of this node joined `room`.
    fn joined(&self, room: &str, id: ConnectionId);

    /// A connection of this node left `room`, or closed.
    fn left(&self, room: &str, id: ConnectionId);

    /// The members of `room` on every live node.
    fn members(&self, room: &str) -> BoxFuture<Result<Vec<ConnectionId>>>;

    /// The app is shutting down: leave the cluster cleanly (best effort; the server
    /// waits for the returned future, which should not take more than a few seconds).
    fn stop(&self) -> BoxFuture<()> {
        Box::pin(async {})
    }
}
