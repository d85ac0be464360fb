//! The task that writes to Redis: publications, memberships, the heartbeat.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::AsyncConnectionConfig;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, info, warn};

use super::connect::LastError;
use super::names::Keys;
use super::{COMMAND_TIMEOUT, FIRST_BACKOFF, MAX_BACKOFF, MAX_PIPELINE, lock};
use crate::ConnectionId;
use crate::backplane::Envelope;
use crate::metrics::Counters;

pub(super) enum Command {
    /// A publication and its channel.
    Publish(String, Envelope),
    Joined(String, ConnectionId),
    Left(String, ConnectionId),
    Stop(oneshot::Sender<()>),
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

/// The task that talks to Redis for this node: publications (in order), memberships
/// and the heartbeat; it reconnects with backoff and restores its state.
pub(super) struct Writer {
    pub(super) last_error: LastError,
    pub(super) client: redis::Client,
    pub(super) keys: Keys,
    pub(super) heartbeat: Duration,
    pub(super) connection: Arc<Mutex<Option<MultiplexedConnection>>>,
    pub(super) counters: Arc<Counters>,
    pub(super) queued: Arc<AtomicUsize>,
    /// This node's memberships, written back after a reconnection.
    pub(super) rooms: HashMap<String, HashSet<ConnectionId>>,
    /// Memberships that ended while Redis did not hear of it: removed on reconnection.
    pub(super) ended: HashMap<String, HashSet<ConnectionId>>,
}

impl Writer {
    pub(super) async fn run(
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
