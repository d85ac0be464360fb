//! The task that writes to Redis: publications, memberships, the heartbeat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::connect::LastError;
use super::link::{Batch, Conn, Servers};
use super::names::Keys;
use super::numbering::{Numbering, new_epoch};
use super::{COMMAND_TIMEOUT, FIRST_BACKOFF, MAX_BACKOFF, MAX_PIPELINE, lock};
use crate::backplane::{Envelope, Target};
use crate::metrics::Counters;
use crate::{ConnectionId, Hub, NodeId};

/// What the writer is asked, in one queue: in the order the hub asked, and numbered
/// in that order.
pub(super) enum Command {
    /// A publication and its channel.
    Publish(String, Envelope),
    /// A connection of this node joined a room: its membership, and its presence event
    /// for the room's channel.
    Joined(Membership),
    /// A connection of this node left a room.
    Left(Membership),
    /// A presence event written again after a reconnection (other nodes may have lost
    /// this node's members meanwhile), and its channel. Whether it says joined or left
    /// is decided when it is written, from the memberships then: a leave queued before
    /// it is not undone.
    Announce(String, Envelope),
    Stop(oneshot::Sender<()>),
}

/// A membership change and its presence event.
pub(super) struct Membership {
    pub(super) room: String,
    pub(super) id: ConnectionId,
    pub(super) key: Option<String>,
    /// The event and its channel (the room's).
    pub(super) presence: (String, Envelope),
}

/// A member's entry in its room's hash: its node and the node's incarnation, then its
/// user key if it has one (see [`super::presence::Entry`]).
fn member_value(node: NodeId, incarnation: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("{node}.{incarnation}:{key}"),
        None => format!("{node}.{incarnation}"),
    }
}

/// Queue `envelope`'s publication on `channel` (sharded on a cluster).
fn publish_to(batch: &mut Batch, channel: &str, envelope: &Envelope) {
    let publish = batch.publish();
    batch
        .on(channel)
        .cmd(publish)
        .arg(channel)
        .arg(envelope.encode().as_ref())
        .ignore();
}

/// Whether `e` means the connection is unusable (else it is one command's error).
fn connection_lost(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

/// The task that talks to Redis for this node: publications (in order), memberships
/// and the heartbeat; it reconnects with backoff and restores its state.
pub(super) struct Writer {
    pub(super) last_error: LastError,
    pub(super) servers: Servers,
    pub(super) keys: Keys,
    pub(super) heartbeat: Duration,
    pub(super) connection: Arc<Mutex<Option<Conn>>>,
    pub(super) counters: Arc<Counters>,
    pub(super) queued: Arc<AtomicUsize>,
    /// Where presence events written again after a reconnection are numbered.
    pub(super) numbering: Arc<Mutex<Numbering>>,
    /// Asked which nodes its presence views hold members of, and told which are dead.
    pub(super) hub: Hub,
    /// This node's memberships (with their keys), written back after a reconnection.
    pub(super) rooms: HashMap<String, HashMap<ConnectionId, Option<String>>>,
    /// Memberships that ended while Redis did not hear of it: removed on reconnection.
    pub(super) ended: HashMap<String, HashMap<ConnectionId, Option<String>>>,
    /// This process (random) and how many times it restored its memberships: the value
    /// of its heartbeat, and part of every membership it writes. A membership whose
    /// incarnation is not its node's heartbeat now is dead (a crashed node restarted
    /// with the same id does not bring its old members back).
    pub(super) process: u64,
    pub(super) restores: u64,
}

impl Writer {
    fn incarnation(&self) -> String {
        format!("{:x}-{}", self.process, self.restores)
    }

    /// The incarnation part of a fresh writer.
    pub(super) fn new_process() -> u64 {
        new_epoch()
    }

    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
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
            let mut stop = None;
            tokio::select! {
                received = commands.recv_many(&mut batch, MAX_PIPELINE) => {
                    if received == 0 {
                        break;
                    }
                    // What the node asked before stopping is written first; nothing after.
                    if let Some(at) = batch.iter().position(|c| matches!(c, Command::Stop(_)))
                        && let Command::Stop(done) = batch.remove(at)
                    {
                        batch.truncate(at);
                        stop = Some(done);
                    }
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
                        backoff = (backoff * 2).min(MAX_BACKOFF.min(self.heartbeat));
                    }
                },
                _ => {}
            }
        }
    }

    fn disconnected(&self, connection: &mut Option<Conn>) {
        if connection.take().is_some() {
            warn!(node = %self.keys.node, "lost Redis; reconnecting");
            *lock(&self.connection) = None;
        }
    }

    /// Connect, then write back the heartbeat and the memberships.
    async fn connect(&mut self) -> Option<Conn> {
        let attempt = async {
            let mut conn = self.servers.connect().await?;
            self.restore(&mut conn, false).await?;
            Ok::<_, redis::RedisError>(conn)
        };
        match timeout(COMMAND_TIMEOUT * 2, attempt).await {
            Ok(Ok(conn)) => {
                self.last_error.cleared();
                Some(conn)
            }
            Ok(Err(e)) => {
                self.last_error.failed("cannot connect to Redis", &e);
                None
            }
            Err(_) => {
                debug!("Redis connection attempt timed out");
                None
            }
        }
    }

    /// The heartbeat; when it had expired (Redis restarted, or this node was slow),
    /// other nodes may have removed this node's memberships: they are written back.
    /// Then the liveness of the nodes whose members this node's presence listeners
    /// know: those whose heartbeat expired leave the views.
    async fn beat(&mut self, conn: &mut Conn) -> redis::RedisResult<()> {
        let ttl = (self.heartbeat * 3).as_millis() as u64;
        let incarnation = self.incarnation();
        let previous: Option<String> = conn
            .query(
                redis::cmd("SET")
                    .arg(self.keys.node_key(&self.keys.node.to_string()))
                    .arg(&incarnation)
                    .arg("PX")
                    .arg(ttl)
                    .arg("GET"),
            )
            .await?;
        if previous.as_deref() != Some(incarnation.as_str()) {
            self.restore(conn, true).await?;
        }
        let nodes: Vec<NodeId> = self.hub.presence_nodes().into_iter().collect();
        for node in nodes {
            let alive: bool = conn
                .query(redis::cmd("EXISTS").arg(self.keys.node_key(&node.to_string())))
                .await?;
            if !alive {
                debug!(%node, "a node's heartbeat expired: its members leave presence");
                self.hub.node_gone(node);
            }
        }
        Ok(())
    }

    /// A new incarnation: the heartbeat first, then this node's memberships written back
    /// under it and those that ended unheard removed, in batches of bounded size.
    async fn restore(&mut self, conn: &mut Conn, lost: bool) -> redis::RedisResult<()> {
        // A new incarnation if the heartbeat was lost (expired, Redis restarted): a
        // reader that found the old entries dead removes only those, never the ones
        // written now. After a short blip the entries are still this incarnation's.
        let node_key = self.keys.node_key(&self.keys.node.to_string());
        let beat: Option<String> = conn.query(redis::cmd("GET").arg(&node_key)).await?;
        if lost || beat.as_deref() != Some(self.incarnation().as_str()) {
            self.restores += 1;
        }
        let incarnation = self.incarnation();
        let ttl = (self.heartbeat * 3).as_millis() as u64;
        let _: () = conn
            .query(
                redis::cmd("SET")
                    .arg(self.keys.node_key(&self.keys.node.to_string()))
                    .arg(&incarnation)
                    .arg("PX")
                    .arg(ttl),
            )
            .await?;
        let node = self.keys.node;
        let cluster = self.servers.is_cluster();
        let mut batch = Batch::new(cluster);
        for (room, ids) in &self.ended {
            let key = self.keys.room_key(room);
            for chunk in ids.keys().collect::<Vec<_>>().chunks(1000) {
                let ids: Vec<String> = chunk.iter().map(|id| id.to_string()).collect();
                batch.on(&key).cmd("HDEL").arg(&key).arg(ids).ignore();
                if batch.len() >= 64 {
                    conn.run(std::mem::replace(&mut batch, Batch::new(cluster)))
                        .await?;
                }
            }
        }
        for (room, ids) in &self.rooms {
            let key = self.keys.room_key(room);
            for chunk in ids.iter().collect::<Vec<_>>().chunks(1000) {
                let cmd = batch.on(&key).cmd("HSET").arg(&key);
                for (id, member_key) in chunk {
                    cmd.arg(id.to_string()).arg(member_value(
                        node,
                        &incarnation,
                        member_key.as_deref(),
                    ));
                }
                cmd.ignore();
                if batch.len() >= 64 {
                    conn.run(std::mem::replace(&mut batch, Batch::new(cluster)))
                        .await?;
                }
            }
        }
        conn.run(batch).await?;
        // Other nodes may have dropped this node's members (its heartbeat expired) or
        // missed its leaves: their presence views hear it all again (a join already
        // known changes nothing there). Queued: numbered after what is queued already,
        // and said as the memberships stand when written.
        let ended = std::mem::take(&mut self.ended);
        let mut numbering = lock(&self.numbering);
        for memberships in [&self.rooms, &ended] {
            for (room, ids) in memberships {
                let channel = self.keys.room_channel(room);
                for (id, key) in ids {
                    let envelope =
                        numbering.presence(node, &channel, room, false, *id, key.clone());
                    let _ = numbering
                        .queue
                        .send(Command::Announce(channel.clone(), envelope));
                }
            }
        }
        Ok(())
    }

    /// Apply commands in order, in one batch.
    async fn apply(&mut self, connection: &mut Option<Conn>, commands: Vec<Command>) {
        let mut batch = Batch::new(self.servers.is_cluster());
        let incarnation = self.incarnation();
        let mut publications = 0u64;
        let mut lefts = Vec::new();
        for command in commands {
            match command {
                Command::Publish(channel, envelope) => {
                    publications += 1;
                    publish_to(&mut batch, &channel, &envelope);
                    batch.count_publication(&channel);
                }
                Command::Joined(Membership {
                    room,
                    id,
                    key,
                    presence: (channel, envelope),
                }) => {
                    // The membership before its event: a node that reads the room after
                    // hearing the event finds the member.
                    let room_key = self.keys.room_key(&room);
                    batch
                        .on(&room_key)
                        .cmd("HSET")
                        .arg(&room_key)
                        .arg(id.to_string())
                        .arg(member_value(self.keys.node, &incarnation, key.as_deref()))
                        .ignore();
                    publish_to(&mut batch, &channel, &envelope);
                    if let Some(ended) = self.ended.get_mut(&room) {
                        ended.remove(&id);
                    }
                    self.rooms.entry(room).or_default().insert(id, key);
                }
                Command::Left(Membership {
                    room,
                    id,
                    key,
                    presence: (channel, envelope),
                }) => {
                    let room_key = self.keys.room_key(&room);
                    batch
                        .on(&room_key)
                        .cmd("HDEL")
                        .arg(&room_key)
                        .arg(id.to_string())
                        .ignore();
                    publish_to(&mut batch, &channel, &envelope);
                    if let Some(ids) = self.rooms.get_mut(&room) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.rooms.remove(&room);
                        }
                    }
                    lefts.push((room, id, key));
                }
                Command::Announce(channel, mut envelope) => {
                    if let Target::Presence {
                        room,
                        joined,
                        id,
                        key,
                    } = &mut envelope.target
                    {
                        let now = self.rooms.get(room.as_str()).and_then(|ids| ids.get(id));
                        *joined = now.is_some();
                        if let Some(current) = now {
                            key.clone_from(current);
                        }
                    }
                    publish_to(&mut batch, &channel, &envelope);
                }
                Command::Stop(_) => {}
            }
        }
        self.queued
            .fetch_sub(publications as usize, Ordering::Relaxed);
        let (through, failed, error) = match connection.as_mut() {
            Some(conn) => conn.run_counted(batch).await,
            None => (0, publications, None),
        };
        // Not heard by Redis (or not for sure): publications are lost, counted (on a
        // cluster, those of the slots whose pipeline failed).
        Counters::add(&self.counters.backplane_published, through);
        Counters::add(&self.counters.backplane_publish_failed, failed);
        if error.is_some() || connection.is_none() {
            // The ended memberships are removed when Redis is back (again, if they
            // went through: removing twice is harmless).
            for (room, id, key) in lefts {
                self.ended.entry(room).or_default().insert(id, key);
            }
            if let Some(e) = error {
                // On a cluster any failure may be a node gone or a slot moved: a new
                // connection starts from a fresh view of the cluster.
                if connection_lost(&e) || self.servers.is_cluster() {
                    self.disconnected(connection);
                } else {
                    warn!(error = %e, "Redis refused a backplane command");
                }
            }
        }
    }

    /// A clean exit: this node's memberships and heartbeat go now, not at expiry, and
    /// presence listeners on other nodes hear its members leave.
    async fn leave_cluster(&self, conn: &mut Conn) {
        info!(node = %self.keys.node, "leaving the cluster");
        let mut batch = Batch::new(self.servers.is_cluster());
        {
            let mut numbering = lock(&self.numbering);
            for (room, ids) in self.rooms.iter().chain(&self.ended) {
                let channel = self.keys.room_channel(room);
                for (id, key) in ids {
                    let envelope =
                        numbering.presence(self.keys.node, &channel, room, false, *id, key.clone());
                    publish_to(&mut batch, &channel, &envelope);
                }
                let room_key = self.keys.room_key(room);
                let ids: Vec<String> = ids.keys().map(ConnectionId::to_string).collect();
                batch
                    .on(&room_key)
                    .cmd("HDEL")
                    .arg(&room_key)
                    .arg(ids)
                    .ignore();
            }
        }
        let node_key = self.keys.node_key(&self.keys.node.to_string());
        batch.on(&node_key).cmd("DEL").arg(&node_key).ignore();
        let _ = timeout(COMMAND_TIMEOUT, conn.run(batch)).await;
    }
}
