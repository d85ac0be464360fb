//! Rooms: named groups of connections with their own broadcast, membership, presence
//! events and (optionally) slow-consumer policy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;

use super::{Hub, Key, policy_from_u8, policy_to_u8, read, write};
use crate::backplane::{Interest, Target};
use crate::connection::frame::Prepared;
use crate::socket::{ConnShared, SlowConsumer};
use crate::{ConnectionId, Message, Result};

/// A presence event: who joined or left a room.
///
/// ```
/// use wsframe::{ConnectionId, NodeId, Presence};
///
/// fn describe(event: &Presence) -> String {
///     match event {
///         Presence::Joined { key: Some(user), .. } => format!("{user} is here"),
///         Presence::Left { key: Some(user), .. } => format!("{user} left"),
///         Presence::Joined { key: None, .. } => "a guest is here".into(),
///         Presence::Left { key: None, .. } => "a guest left".into(),
///     }
/// }
///
/// let id = ConnectionId::next(NodeId(1));
/// let event = Presence::Joined { id, key: Some("ada".into()) };
/// assert_eq!(describe(&event), "ada is here");
/// assert_eq!(describe(&Presence::Left { id, key: None }), "a guest left");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    /// `id` joined; `key` is its user key, if set.
    Joined {
        /// The connection.
        id: ConnectionId,
        /// Its user key.
        key: Option<Key>,
    },
    /// `id` left (by `leave`, or because it closed, however it closed).
    Left {
        /// The connection.
        id: ConnectionId,
        /// Its user key.
        key: Option<Key>,
    },
}

/// Presence events kept for a subscriber that falls behind (it then sees `Lagged`).
const PRESENCE_BUFFER: usize = 1024;

pub(crate) struct RoomInner {
    members: RwLock<Members>,
    policy: AtomicU8,
    presence: broadcast::Sender<Presence>,
}

#[derive(Default)]
struct Members {
    by_id: HashMap<ConnectionId, Arc<ConnShared>>,
    /// Taken out of the hub's map: whoever still holds it must look the room up again.
    removed: bool,
}

impl RoomInner {
    fn new() -> RoomInner {
        RoomInner {
            members: RwLock::default(),
            policy: AtomicU8::new(0),
            presence: broadcast::channel(PRESENCE_BUFFER).0,
        }
    }

    /// Nothing keeps this room: no members, no presence subscribers, default policy.
    fn is_unused(&self, members: &Members) -> bool {
        members.by_id.is_empty()
            && self.presence.receiver_count() == 0
            && self.policy.load(Ordering::Relaxed) == 0
    }
}

/// A handle to a room of a [`Hub`]; cheap, and valid whether or not the room exists yet.
///
/// ```
/// # fn demo(hub: wsframe::Hub) {
/// let lobby = hub.room("lobby");
/// lobby.broadcast_text("hello, everyone");
/// println!("{} in the lobby", lobby.count());
/// # }
/// ```
#[derive(Clone)]
pub struct Room {
    hub: Hub,
    name: Arc<str>,
}

impl std::fmt::Debug for Room {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Room").field("name", &self.name).finish()
    }
}

impl Room {
    pub(crate) fn new(hub: Hub, name: &str) -> Room {
        Room {
            hub,
            name: Arc::from(name),
        }
    }

    fn existing(&self) -> Option<Arc<RoomInner>> {
        read(&self.hub.inner.rooms).get(&self.name).cloned()
    }

    fn get_or_create(&self) -> Arc<RoomInner> {
        if let Some(room) = self.existing() {
            return room;
        }
        write(&self.hub.inner.rooms)
            .entry(self.name.clone())
            .or_insert_with(|| {
                // A room new to this node: its publications concern this node now.
                self.hub
                    .interest(Interest::Room(self.name.to_string()), true);
                Arc::new(RoomInner::new())
            })
            .clone()
    }

    /// Run `f` on the live room (created if needed) while holding its members lock, so
    /// that the room cannot be removed meanwhile.
    fn with_live_room<R>(&self, f: impl Fn(&RoomInner, &mut Members) -> R) -> R {
        loop {
            let room = self.get_or_create();
            let mut members = write(&room.members);
            if !members.removed {
                return f(&room, &mut members);
            }
        }
    }

    pub(crate) fn remove_if_unused(&self) {
        let Some(room) = self.existing() else { return };
        if !room.is_unused(&read(&room.members)) {
            return; // the common case: no global write lock
        }
        let mut rooms = write(&self.hub.inner.rooms);
        if let Some(room) = rooms.get(&self.name).cloned() {
            let mut members = write(&room.members);
            if room.is_unused(&members) {
                members.removed = true;
                rooms.remove(&self.name);
                self.hub
                    .interest(Interest::Room(self.name.to_string()), false);
            }
        }
    }

    /// Add a member (the caller holds the connection's membership lock).
    pub(crate) fn add_member(&self, conn: Arc<ConnShared>, key: Option<Key>) {
        let id = conn.id;
        self.with_live_room(|room, members| {
            members.by_id.insert(id, conn.clone());
            let _ = room.presence.send(Presence::Joined {
                id,
                key: key.clone(),
            });
        });
        if let Some(backplane) = self.hub.backplane() {
            backplane.joined(&self.name, id);
        }
    }

    /// Remove a member (the caller holds, or has taken, the connection's membership).
    pub(crate) fn remove_member(&self, id: ConnectionId, key: Option<Key>) {
        let Some(room) = self.existing() else { return };
        if write(&room.members).by_id.remove(&id).is_some() {
            let _ = room.presence.send(Presence::Left { id, key });
            if let Some(backplane) = self.hub.backplane() {
                backplane.left(&self.name, id);
            }
        }
        self.remove_if_unused();
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Send to every member (on every node, with a backplane); returns how many were
    /// reached on this node.
    pub fn broadcast(&self, message: impl Into<Message>) -> usize {
        self.send_filtered(message.into(), None)
    }

    /// Send to every member but `except` (typically the sender).
    pub fn broadcast_except(
        &self,
        except: impl Into<ConnectionId>,
        message: impl Into<Message>,
    ) -> usize {
        self.send_filtered(message.into(), Some(except.into()))
    }

    /// Send a text message to every member.
    pub fn broadcast_text(&self, text: impl Into<crate::Utf8Bytes>) -> usize {
        self.broadcast(Message::Text(text.into()))
    }

    /// Serialize `value` once and send it to every member as JSON text.
    pub fn broadcast_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<usize> {
        Ok(self.broadcast(Message::json(value)?))
    }

    /// Serialize `value` once and send it as JSON text to every member but `except`.
    pub fn broadcast_json_except<T: Serialize + ?Sized>(
        &self,
        except: impl Into<ConnectionId>,
        value: &T,
    ) -> Result<usize> {
        Ok(self.broadcast_except(except, Message::json(value)?))
    }

    fn send_filtered(&self, message: Message, except: Option<ConnectionId>) -> usize {
        let target = Target::Room {
            name: self.name.to_string(),
            except,
        };
        self.hub.publish(target, &message);
        // Encoded once: every member's queue shares these bytes.
        self.deliver_local(&Prepared::new(&message), except)
    }

    /// Deliver to this node's members.
    pub(crate) fn deliver_local(&self, frame: &Prepared, except: Option<ConnectionId>) -> usize {
        let Some(room) = self.existing() else {
            return 0;
        };
        let policy = policy_from_u8(room.policy.load(Ordering::Relaxed))
            .unwrap_or_else(|| self.hub.policy());
        let members = read(&room.members);
        members
            .by_id
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .filter(|(_, conn)| self.hub.deliver(conn, frame, policy))
            .count()
    }

    /// The members on every node, from the backplane's cluster-wide presence (members
    /// of a node that stopped answering drop out within its heartbeat expiry) and this
    /// node's own (a join the backplane has not recorded yet is listed); without a
    /// backplane, this node's members.
    ///
    /// ```
    /// # async fn run(hub: wsframe::Hub) -> wsframe::Result<()> {
    /// let everyone = hub.room("lobby").members_everywhere().await?;
    /// println!("{} in the lobby across the cluster", everyone.len());
    /// # Ok(()) }
    /// ```
    pub async fn members_everywhere(&self) -> Result<Vec<ConnectionId>> {
        let mut members = match self.hub.backplane() {
            Some(backplane) => backplane.members(&self.name).await?,
            None => Vec::new(),
        };
        // This node knows its own members best (the backplane may lag a moment).
        let node = self.hub.node();
        members.retain(|id| id.node() != node);
        members.extend(self.members());
        members.sort();
        members.dedup();
        Ok(members)
    }

    /// The members' connection ids on this node only (no round trip; with a backplane,
    /// [`members_everywhere`](Room::members_everywhere) lists every node's).
    pub fn members(&self) -> Vec<ConnectionId> {
        self.existing()
            .map(|room| read(&room.members).by_id.keys().copied().collect())
            .unwrap_or_default()
    }

    /// How many members on this node only (no round trip; with a backplane, other
    /// nodes' members are not counted).
    pub fn count(&self) -> usize {
        self.existing()
            .map(|room| read(&room.members).by_id.len())
            .unwrap_or(0)
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: ConnectionId) -> bool {
        self.existing()
            .is_some_and(|room| read(&room.members).by_id.contains_key(&id))
    }

    /// Subscribe to join/leave events from now on; the room exists at least as long as
    /// the returned [`PresenceEvents`].
    pub fn presence(&self) -> PresenceEvents {
        let receiver = self.with_live_room(|room, _| room.presence.subscribe());
        PresenceEvents {
            room: self.clone(),
            receiver: Some(receiver),
        }
    }

    /// This room's slow-consumer policy, over the hub's (the room is kept while it has
    /// a policy of its own).
    pub fn set_policy(&self, policy: SlowConsumer) {
        self.with_live_room(|room, _| room.policy.store(policy_to_u8(policy), Ordering::Relaxed));
    }
}

/// Join/leave events of a room (see [`Room::presence`]). A subscriber that falls more
/// than 1,024 events behind skips the oldest and is told how many it missed.
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::Presence;
/// use wsframe::testing::TestClient;
///
/// #[websocket("/u/<user>")]
/// async fn member(mut ws: WebSocket, user: String, hub: Hub) -> wsframe::Result<()> {
///     ws.accept().await?;
///     hub.set_key(&ws, user); // before joining, to appear in `Joined`
///     hub.join("lobby", &ws);
///     while ws.receive().await.is_ok() {}
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new().route(member);
/// let mut events = app.hub().room("lobby").presence(); // from now on
/// let client = TestClient::new(app)?;
///
/// let mut ada = client.connect("/u/ada").await?;
/// let Ok(Presence::Joined { id, key }) = events.recv().await else { panic!() };
/// assert_eq!(key.as_deref(), Some("ada"));
///
/// ada.close(CloseCode::NORMAL, "bye").await?;
/// let left = events.recv().await.unwrap();
/// assert_eq!(left, Presence::Left { id, key: Some("ada".into()) });
/// # Ok(()) }
/// ```
pub struct PresenceEvents {
    room: Room,
    receiver: Option<broadcast::Receiver<Presence>>,
}

impl std::fmt::Debug for PresenceEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceEvents")
            .field("room", &self.room.name)
            .finish()
    }
}

impl PresenceEvents {
    /// The next event; `Err(Lagged(n))` after missing `n` events.
    pub async fn recv(&mut self) -> std::result::Result<Presence, broadcast::error::RecvError> {
        match self.receiver.as_mut() {
            Some(receiver) => receiver.recv().await,
            None => Err(broadcast::error::RecvError::Closed),
        }
    }
}

impl Drop for PresenceEvents {
    fn drop(&mut self) {
        // Unsubscribe first, then let the room go if nothing else keeps it.
        self.receiver.take();
        self.room.remove_if_unused();
    }
}
