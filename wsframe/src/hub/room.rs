//! Rooms: named groups of connections with their own broadcast, membership, presence
//! events and (optionally) slow-consumer policy.

use std::collections::HashMap;
#[cfg(feature = "redis")]
use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use tokio::sync::broadcast;

use super::{Hub, Key, policy_from_u8, policy_to_u8, read, write};
#[cfg(feature = "redis")]
use crate::NodeId;
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

/// A user's presence in a room: a user key (see [`Hub::set_key`](crate::Hub::set_key))
/// is in the room while at least one of its connections is, on any node. A user with a
/// phone and a laptop joins when the first of them joins and leaves when the last of
/// them leaves.
///
/// ```
/// use wsframe::UserPresence;
///
/// fn describe(event: &UserPresence) -> String {
///     match event {
///         UserPresence::Joined { key } => format!("{key} is online"),
///         UserPresence::Left { key } => format!("{key} went offline"),
///     }
/// }
/// assert_eq!(describe(&UserPresence::Left { key: "ada".into() }), "ada went offline");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserPresence {
    /// The first connection of `key` joined.
    Joined {
        /// The user.
        key: Key,
    },
    /// The last connection of `key` left.
    Left {
        /// The user.
        key: Key,
    },
}

/// Presence events kept for a subscriber that falls behind (it then sees `Lagged`).
const PRESENCE_BUFFER: usize = 1024;

/// What presence listeners hear: both kinds travel on one channel.
#[derive(Clone, Debug)]
enum Event {
    Connection(Presence),
    User(UserPresence),
}

pub(crate) struct RoomInner {
    members: RwLock<Members>,
    policy: AtomicU8,
    /// Presence listeners and who they know to be here; none while nobody listens (a
    /// room then costs no event buffer).
    listeners: Mutex<Option<Listeners>>,
}

#[derive(Default)]
struct Members {
    by_id: HashMap<ConnectionId, (Arc<ConnShared>, Option<Key>)>,
    /// Taken out of the hub's map: whoever still holds it must look the room up again.
    removed: bool,
}

/// A room's presence listeners and their view of the room.
struct Listeners {
    events: broadcast::Sender<Event>,
    view: View,
    /// Whether the other nodes' members were loaded since the first listener came: until
    /// then, members found there are not news.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    loaded: bool,
}

/// Who is in a room on every node, as this node knows it: its own members, and the
/// other nodes' from their presence events and from loads. Every event listeners hear
/// changes it, and a change that changes nothing (a join heard twice) is not heard.
#[derive(Default)]
struct View {
    members: HashMap<ConnectionId, Option<Key>>,
    /// Connections per user key.
    keys: HashMap<Key, usize>,
}

impl View {
    /// `id` is here, with `key`; the events that makes: none if it was known, only a
    /// user's if it was known with another key (its key was set after it joined).
    fn join(&mut self, id: ConnectionId, key: Option<Key>, events: &mut Vec<Event>) {
        match self.members.insert(id, key.clone()) {
            None => events.push(Event::Connection(Presence::Joined {
                id,
                key: key.clone(),
            })),
            Some(old) if old == key => return,
            Some(old) => self.user_left(old, events),
        }
        if let Some(key) = key {
            let count = self.keys.entry(key.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                events.push(Event::User(UserPresence::Joined { key }));
            }
        }
    }

    /// One connection of `key` (if any) went.
    fn user_left(&mut self, key: Option<Key>, events: &mut Vec<Event>) {
        if let Some(key) = key
            && let Some(count) = self.keys.get_mut(&key)
        {
            *count -= 1;
            if *count == 0 {
                self.keys.remove(&key);
                events.push(Event::User(UserPresence::Left { key }));
            }
        }
    }

    /// `id` is gone; the events that makes (none if it was not known).
    fn leave(&mut self, id: ConnectionId, events: &mut Vec<Event>) {
        let Some(key) = self.members.remove(&id) else {
            return;
        };
        events.push(Event::Connection(Presence::Left {
            id,
            key: key.clone(),
        }));
        self.user_left(key, events);
    }
}

impl Listeners {
    /// Apply `change` to the view and tell the listeners what it changed.
    fn change(&mut self, change: impl FnOnce(&mut View, &mut Vec<Event>)) {
        let mut events = Vec::new();
        change(&mut self.view, &mut events);
        for event in events {
            let _ = self.events.send(event);
        }
    }
}

impl RoomInner {
    fn new() -> RoomInner {
        RoomInner {
            members: RwLock::default(),
            policy: AtomicU8::new(0),
            listeners: Mutex::new(None),
        }
    }

    fn listeners(&self) -> std::sync::MutexGuard<'_, Option<Listeners>> {
        self.listeners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Nothing keeps this room: no members, no presence subscribers, default policy.
    fn is_unused(&self, members: &Members) -> bool {
        members.by_id.is_empty()
            && self.listeners().is_none()
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
            members.by_id.insert(id, (conn.clone(), key.clone()));
            if let Some(listeners) = room.listeners().as_mut() {
                listeners.change(|view, events| view.join(id, key.clone(), events));
            }
        });
        if let Some(backplane) = self.hub.backplane() {
            backplane.joined(&self.name, id, key.as_ref());
        }
    }

    /// Remove a member (the caller holds, or has taken, the connection's membership).
    pub(crate) fn remove_member(&self, id: ConnectionId, key: Option<Key>) {
        let Some(room) = self.existing() else { return };
        let mut members = write(&room.members);
        if members.by_id.remove(&id).is_some() {
            if let Some(listeners) = room.listeners().as_mut() {
                listeners.change(|view, events| view.leave(id, events));
            }
            drop(members);
            if let Some(backplane) = self.hub.backplane() {
                backplane.left(&self.name, id, key.as_ref());
            }
        } else {
            drop(members);
        }
        self.remove_if_unused();
    }

    /// A member's key changed (set after it joined): its presence and the backplane's
    /// record follow.
    pub(crate) fn rekey(&self, id: ConnectionId, key: Option<Key>) {
        let Some(room) = self.existing() else { return };
        let mut members = write(&room.members);
        let Some(entry) = members.by_id.get_mut(&id) else {
            return;
        };
        if entry.1 == key {
            return;
        }
        entry.1 = key.clone();
        if let Some(listeners) = room.listeners().as_mut() {
            listeners.change(|view, events| view.join(id, key.clone(), events));
        }
        drop(members);
        if let Some(backplane) = self.hub.backplane() {
            backplane.joined(&self.name, id, key.as_ref());
        }
    }

    /// Another node's member joined or left (its presence event).
    pub(crate) fn remote_presence(&self, joined: bool, id: ConnectionId, key: Option<Key>) {
        let Some(room) = self.existing() else { return };
        if let Some(listeners) = room.listeners().as_mut() {
            listeners.change(|view, events| {
                if joined {
                    view.join(id, key, events);
                } else {
                    view.leave(id, events);
                }
            });
        }
    }

    #[cfg(feature = "redis")]
    /// The room's members on every node, as the backplane read them: the other nodes'
    /// in the view are replaced by these (a first load after a listener came adds them
    /// quietly; a later one, after the backplane was away, tells what changed).
    pub(crate) fn load_presence(&self, everyone: &[(ConnectionId, Option<Key>)]) {
        let Some(room) = self.existing() else { return };
        let node = self.hub.node();
        let mut guard = room.listeners();
        let Some(listeners) = guard.as_mut() else {
            return;
        };
        let quiet = !listeners.loaded;
        listeners.loaded = true;
        let present: HashSet<ConnectionId> = everyone.iter().map(|(id, _)| *id).collect();
        listeners.change(|view, events| {
            let gone: Vec<ConnectionId> = view
                .members
                .keys()
                .filter(|id| id.node() != node && !present.contains(id))
                .copied()
                .collect();
            for id in gone {
                view.leave(id, events);
            }
            let before = events.len();
            for (id, key) in everyone.iter().filter(|(id, _)| id.node() != node) {
                view.join(*id, key.clone(), events);
            }
            if quiet {
                events.truncate(before);
            }
        });
    }

    #[cfg(feature = "redis")]
    /// The nodes other than this one that have members in the view.
    pub(crate) fn presence_nodes(&self, nodes: &mut HashSet<NodeId>) {
        let Some(room) = self.existing() else { return };
        if let Some(listeners) = room.listeners().as_ref() {
            let node = self.hub.node();
            nodes.extend(
                listeners
                    .view
                    .members
                    .keys()
                    .map(|id| id.node())
                    .filter(|other| *other != node),
            );
        }
    }

    #[cfg(feature = "redis")]
    /// `node` is dead (its heartbeat expired): its members leave the view, each heard
    /// once.
    pub(crate) fn node_gone(&self, node: NodeId) {
        let Some(room) = self.existing() else { return };
        if let Some(listeners) = room.listeners().as_mut() {
            listeners.change(|view, events| {
                let gone: Vec<ConnectionId> = view
                    .members
                    .keys()
                    .filter(|id| id.node() == node)
                    .copied()
                    .collect();
                for id in gone {
                    view.leave(id, events);
                }
            });
        }
    }

    /// Whether the room has presence listeners here.
    pub(crate) fn is_listened(&self) -> bool {
        self.existing()
            .is_some_and(|room| room.listeners().is_some())
    }

    /// A receiver of the room's presence events; the first listener makes the view
    /// (this node's members) and has the backplane load the other nodes'.
    fn listen(&self) -> broadcast::Receiver<Event> {
        self.with_live_room(|room, members| {
            let mut guard = room.listeners();
            if let Some(listeners) = guard.as_ref() {
                return listeners.events.subscribe();
            }
            let mut view = View::default();
            for (id, (_, key)) in &members.by_id {
                view.join(*id, key.clone(), &mut Vec::new());
            }
            let (events, receiver) = broadcast::channel(PRESENCE_BUFFER);
            *guard = Some(Listeners {
                events,
                view,
                loaded: false,
            });
            // Under the lock: a last listener going meanwhile is announced in order.
            self.hub
                .interest(Interest::Presence(self.name.to_string()), true);
            receiver
        })
    }

    /// A listener went: the last one takes the view with it.
    fn unlisten(&self) {
        let Some(room) = self.existing() else { return };
        let mut guard = room.listeners();
        if guard
            .as_ref()
            .is_some_and(|listeners| listeners.events.receiver_count() == 0)
        {
            *guard = None;
            self.hub
                .interest(Interest::Presence(self.name.to_string()), false);
        }
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
            .filter(|(_, (conn, _))| self.hub.deliver(conn, frame, policy))
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

    /// How many members on every node: [`members_everywhere`](Room::members_everywhere)
    /// counted (without a backplane, this node's).
    ///
    /// ```
    /// # async fn run(hub: wsframe::Hub) -> wsframe::Result<()> {
    /// println!("{} in the lobby", hub.room("lobby").count_everywhere().await?);
    /// # Ok(()) }
    /// ```
    pub async fn count_everywhere(&self) -> Result<usize> {
        Ok(self.members_everywhere().await?.len())
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

    /// Subscribe to join/leave events from now on, from every node (with a backplane):
    /// each join and leave is heard once. The room exists at least as long as the
    /// returned [`PresenceEvents`].
    pub fn presence(&self) -> PresenceEvents {
        PresenceEvents {
            room: self.clone(),
            receiver: Some(self.listen()),
        }
    }

    /// Subscribe to users joining and leaving from now on ([`UserPresence`]): a user key
    /// joins with its first connection in the room, on any node, and leaves with its
    /// last. Connections without a key are not users.
    ///
    /// With a backplane, this node learns who else is in the room when its first
    /// listener subscribes (a round trip to Redis): a user that was in the room on
    /// another node before then and joins here meanwhile may be heard joining.
    ///
    /// ```
    /// use wsframe::prelude::*;
    /// use wsframe::UserPresence;
    /// use wsframe::testing::TestClient;
    ///
    /// #[websocket("/u/<user>")]
    /// async fn device(mut ws: WebSocket, user: String, hub: Hub) -> wsframe::Result<()> {
    ///     hub.set_key(&ws, user);
    ///     hub.join("lobby", &ws);
    ///     ws.accept().await?;
    ///     while ws.receive().await.is_ok() {}
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let app = App::new().route(device);
    /// let mut users = app.hub().room("lobby").user_presence();
    /// let client = TestClient::new(app)?;
    /// let mut phone = client.connect("/u/ada").await?;
    /// let mut laptop = client.connect("/u/ada").await?; // ada is already here
    /// assert_eq!(users.recv().await.unwrap(), UserPresence::Joined { key: "ada".into() });
    /// phone.close(CloseCode::NORMAL, "").await?;
    /// laptop.close(CloseCode::NORMAL, "").await?; // her last connection
    /// assert_eq!(users.recv().await.unwrap(), UserPresence::Left { key: "ada".into() });
    /// # Ok(()) }
    /// ```
    pub fn user_presence(&self) -> UserPresenceEvents {
        UserPresenceEvents {
            room: self.clone(),
            receiver: Some(self.listen()),
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
    receiver: Option<broadcast::Receiver<Event>>,
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
        loop {
            match next(&mut self.receiver).await? {
                Event::Connection(event) => return Ok(event),
                Event::User(_) => {}
            }
        }
    }
}

impl Drop for PresenceEvents {
    fn drop(&mut self) {
        let _ = self.receiver.take();
        self.room.unlisten();
        self.room.remove_if_unused();
    }
}

/// Users joining and leaving a room (see [`Room::user_presence`]). A subscriber that
/// falls more than 1,024 events behind skips the oldest and is told how many it missed
/// (counting the connections' events too).
pub struct UserPresenceEvents {
    room: Room,
    receiver: Option<broadcast::Receiver<Event>>,
}

impl std::fmt::Debug for UserPresenceEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserPresenceEvents")
            .field("room", &self.room.name)
            .finish()
    }
}

impl UserPresenceEvents {
    /// The next event; `Err(Lagged(n))` after missing `n` events.
    pub async fn recv(&mut self) -> std::result::Result<UserPresence, broadcast::error::RecvError> {
        loop {
            match next(&mut self.receiver).await? {
                Event::User(event) => return Ok(event),
                Event::Connection(_) => {}
            }
        }
    }
}

impl Drop for UserPresenceEvents {
    fn drop(&mut self) {
        let _ = self.receiver.take();
        self.room.unlisten();
        self.room.remove_if_unused();
    }
}

async fn next(
    receiver: &mut Option<broadcast::Receiver<Event>>,
) -> std::result::Result<Event, broadcast::error::RecvError> {
    match receiver.as_mut() {
        Some(receiver) => receiver.recv().await,
        None => Err(broadcast::error::RecvError::Closed),
    }
}
