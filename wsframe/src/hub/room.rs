//! Rooms: named groups of connections with their own broadcast, membership, presence
//! events and (optionally) slow-consumer policy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;

use super::{Hub, policy_from_u8, policy_to_u8, read, write};
use crate::socket::{ConnShared, SlowConsumer};
use crate::{ConnectionId, Message, Result};

/// A presence event: who joined or left a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Presence {
    /// `id` joined; `key` is its user key, if set.
    Joined {
        /// The connection.
        id: ConnectionId,
        /// Its user key.
        key: Option<String>,
    },
    /// `id` left (by `leave`, or because it closed, however it closed).
    Left {
        /// The connection.
        id: ConnectionId,
        /// Its user key.
        key: Option<String>,
    },
}

/// Presence events kept for a subscriber that falls behind (it then sees `Lagged`).
const PRESENCE_BUFFER: usize = 1024;

pub(crate) struct RoomInner {
    members: RwLock<HashMap<ConnectionId, Arc<ConnShared>>>,
    policy: AtomicU8,
    presence: broadcast::Sender<Presence>,
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
    fn is_unused(&self) -> bool {
        read(&self.members).is_empty()
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
            .or_insert_with(|| Arc::new(RoomInner::new()))
            .clone()
    }

    fn remove_if_unused(&self) {
        let mut rooms = write(&self.hub.inner.rooms);
        if rooms.get(&self.name).is_some_and(|room| room.is_unused()) {
            rooms.remove(&self.name);
        }
    }

    pub(crate) fn add_member(&self, conn: Arc<ConnShared>) {
        let room = self.get_or_create();
        let (id, key) = (conn.id, conn.membership.key());
        let closed = {
            let mut members = write(&room.members);
            members.insert(id, conn.clone());
            // The connection may have closed between its join and this insert; its
            // clean-up then ran without this room.
            let closed = conn.membership.is_closed();
            if closed {
                members.remove(&id);
            }
            closed
        };
        if !closed {
            let _ = room.presence.send(Presence::Joined { id, key });
        }
    }

    pub(crate) fn remove_member(&self, id: ConnectionId, key: Option<String>) {
        let Some(room) = self.existing() else { return };
        if write(&room.members).remove(&id).is_some() {
            let _ = room.presence.send(Presence::Left { id, key });
        }
        drop(room);
        self.remove_if_unused();
    }

    /// The room's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Send to every member; returns how many were reached.
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
        Ok(self.broadcast(Message::Text(serde_json::to_string(value)?.into())))
    }

    fn send_filtered(&self, message: Message, except: Option<ConnectionId>) -> usize {
        let Some(room) = self.existing() else {
            return 0;
        };
        let policy = policy_from_u8(room.policy.load(Ordering::Relaxed))
            .unwrap_or_else(|| self.hub.policy());
        let members = read(&room.members);
        members
            .iter()
            .filter(|(id, _)| Some(**id) != except)
            .filter(|(_, conn)| self.hub.deliver(conn, &message, policy))
            .count()
    }

    /// The members' connection ids.
    pub fn members(&self) -> Vec<ConnectionId> {
        self.existing()
            .map(|room| read(&room.members).keys().copied().collect())
            .unwrap_or_default()
    }

    /// How many members.
    pub fn count(&self) -> usize {
        self.existing()
            .map(|room| read(&room.members).len())
            .unwrap_or(0)
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: ConnectionId) -> bool {
        self.existing()
            .is_some_and(|room| read(&room.members).contains_key(&id))
    }

    /// Subscribe to join/leave events from now on (the room then exists until the
    /// receiver is dropped and the room is empty).
    pub fn presence(&self) -> broadcast::Receiver<Presence> {
        self.get_or_create().presence.subscribe()
    }

    /// This room's slow-consumer policy, over the hub's.
    pub fn set_policy(&self, policy: SlowConsumer) {
        self.get_or_create()
            .policy
            .store(policy_to_u8(policy), Ordering::Relaxed);
    }
}
