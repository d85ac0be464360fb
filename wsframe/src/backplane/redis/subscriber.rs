//! The task that subscribes to this node's channels and delivers what arrives.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{debug, warn};

use super::connect::LastError;
use super::link::{Arrived, Conn, Servers, Subscription};
use super::names::Keys;
use super::presence::members;
use super::{COMMAND_TIMEOUT, FIRST_BACKOFF, MAX_BACKOFF, MAX_SUBSCRIBE};
use crate::backplane::{Envelope, Target};
use crate::metrics::Counters;
use crate::{Hub, NodeId};

/// What the subscriber task is asked, in order.
pub(super) enum Listen {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every subscription asked before is confirmed by Redis, and Redis
    /// answered on this connection.
    Synced(oneshot::Sender<()>),
    /// A room has presence listeners here (its channel was asked for before): load its
    /// members on every node now, and again after every reconnection.
    Watch(String),
    Unwatch(String),
}

/// The task that receives other nodes' publications and delivers them on this node: it
/// subscribes to the channels this node is interested in, as the hub announces them,
/// and resubscribes to all of them with backoff whenever the subscription breaks or
/// stops answering.
pub(super) struct Subscriber {
    pub(super) last_error: LastError,
    pub(super) servers: Servers,
    pub(super) keys: Keys,
    pub(super) heartbeat: Duration,
    pub(super) counters: Arc<Counters>,
}

/// Gap counting state of one channel: per origin, its epoch and the last number seen.
type Seen = HashMap<NodeId, (u64, u64)>;

/// Channels unsubscribed and remembered at most: their messages still in flight are
/// told from new ones (past this many, the oldest memory is dropped, all at once).
const MAX_RETIRED: usize = 4096;

/// The subscriber's state, kept across reconnections.
#[derive(Default)]
struct Listening {
    /// The interest channels wanted (the app-wide and node channels are always wanted).
    wanted: HashSet<String>,
    /// Per channel: gap counting since this node subscribed to it.
    seen: HashMap<String, Seen>,
    /// Channels unsubscribed, with the numbers seen until then: a message of theirs that
    /// arrives after a new subscription but was published before the old one ended is
    /// neither delivered nor taken as the new start.
    retired: HashMap<String, Seen>,
    /// Sync requests waiting for a connection.
    waiting: Vec<oneshot::Sender<()>>,
    /// Rooms with presence listeners here.
    watched: HashSet<String>,
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
                if let Some(seen) = self.seen.remove(&channel) {
                    if self.retired.len() >= MAX_RETIRED {
                        self.retired.clear();
                    }
                    self.retired.insert(channel.clone(), seen);
                }
                Some((false, channel))
            }
            Listen::Synced(done) => {
                self.waiting.push(done);
                None
            }
            Listen::Watch(room) => {
                self.watched.insert(room);
                None
            }
            Listen::Unwatch(room) => {
                self.watched.remove(&room);
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

/// A live subscription and a connection for presence reads.
struct Link {
    subscription: Subscription,
    query: Conn,
}

impl Subscriber {
    pub(super) async fn run(self, hub: Hub, mut listens: mpsc::UnboundedReceiver<Listen>) {
        let base = [
            self.keys.all_channel(),
            self.keys.node_channel(self.keys.node),
        ];
        let mut state = Listening::default();
        let mut backoff = FIRST_BACKOFF;
        loop {
            let subscribed = timeout(COMMAND_TIMEOUT * 2, async {
                let mut subscription = self.servers.subscribe().await?;
                let channels: Vec<&str> = base
                    .iter()
                    .chain(&state.wanted)
                    .map(String::as_str)
                    .collect();
                for chunk in channels.chunks(MAX_SUBSCRIBE) {
                    subscription.subscribe(chunk).await?;
                }
                // Presence is read on a connection for commands (one server: its own,
                // since a subscribed connection only takes subscriptions).
                let query = match subscription.commands() {
                    Some(query) => query,
                    None => self.servers.connect().await?,
                };
                Ok::<_, redis::RedisError>(Link {
                    subscription,
                    query,
                })
            })
            .await;
            match subscribed {
                Ok(Ok(mut link)) => {
                    backoff = FIRST_BACKOFF;
                    Counters::inc(&self.counters.backplane_subscriptions);
                    debug!(node = %self.keys.node, "subscribed to Redis");
                    for done in state.waiting.drain(..) {
                        let _ = done.send(());
                    }
                    // What the presence listeners missed while away (or never knew).
                    let rooms: Vec<String> = state.watched.iter().cloned().collect();
                    let mut loaded = Ok(());
                    for room in &rooms {
                        loaded = self.load(&mut link.query, room, &hub).await;
                        if loaded.is_err() {
                            break;
                        }
                    }
                    let ended = match loaded {
                        Ok(()) => self.listen(link, &hub, &mut listens, &mut state).await,
                        Err(_) => Ended::Broken,
                    };
                    match ended {
                        Ended::Stopped => return,
                        Ended::Broken => {
                            warn!(node = %self.keys.node, "Redis subscription ended; resubscribing");
                        }
                    }
                }
                Ok(Err(e)) => self.last_error.failed("cannot subscribe to Redis", &e),
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
            backoff = (backoff * 2).min(MAX_BACKOFF.min(self.heartbeat));
        }
    }

    /// Read the members of `room` on every node for its presence listeners here.
    async fn load(&self, query: &mut Conn, room: &str, hub: &Hub) -> redis::RedisResult<()> {
        let everyone = timeout(COMMAND_TIMEOUT, members(query, &self.keys, room))
            .await
            .unwrap_or_else(|_| Err(timed_out()))?;
        hub.load_presence(room, &everyone);
        Ok(())
    }

    /// Deliver what arrives and follow the interests, until the connection breaks.
    async fn listen(
        &self,
        mut link: Link,
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
                    if self.follow(&mut link, hub, batch.drain(..), state).await.is_err() {
                        return Ended::Broken;
                    }
                }
                arrived = link.subscription.next() => match arrived {
                    None => return Ended::Broken,
                    Some(Arrived::Message(channel, payload)) => {
                        self.handle(&channel, &payload, hub, state);
                    }
                    Some(Arrived::Dropped(channel)) => {
                        // A cluster slot moved (or a master failed over): the channel is
                        // subscribed again, where its slot now lives.
                        let base = channel == self.keys.all_channel()
                            || channel == self.keys.node_channel(self.keys.node);
                        if base || state.wanted.contains(&channel) {
                            debug!(%channel, "Redis dropped a subscription; subscribing again");
                            let again = timeout(COMMAND_TIMEOUT, link.subscription.subscribe(&[&channel])).await;
                            if !matches!(again, Ok(Ok(()))) {
                                return Ended::Broken;
                            }
                            // Presence events may have gone by meanwhile: a watched room is
                            // read again.
                            let rooms: Vec<String> = state
                                .watched
                                .iter()
                                .filter(|room| self.keys.room_channel(room) == channel)
                                .cloned()
                                .collect();
                            for room in rooms {
                                if self.load(&mut link.query, &room, hub).await.is_err() {
                                    return Ended::Broken;
                                }
                            }
                        }
                    }
                    Some(Arrived::Other) => {}
                },
                _ = sleep_until(ping_at) => {
                    // A half-open connection never ends the stream: ask.
                    let pong = timeout(COMMAND_TIMEOUT, link.subscription.ping()).await;
                    if !matches!(pong, Ok(Ok(()))) {
                        return Ended::Broken;
                    }
                    ping_at = Instant::now() + self.heartbeat;
                }
            }
        }
    }

    /// Subscribe and unsubscribe as asked, in order (a run of one kind in one command),
    /// answering each sync request once what came before it is confirmed and Redis
    /// answered a ping. On an error the rest is taken into the state, to be applied on
    /// reconnecting.
    async fn follow(
        &self,
        link: &mut Link,
        hub: &Hub,
        listens: impl Iterator<Item = Listen>,
        state: &mut Listening,
    ) -> redis::RedisResult<()> {
        let mut changes = Changes::default();
        let mut failed = None;
        for listen in listens {
            let sync = matches!(listen, Listen::Synced(_));
            // Loaded once the room's channel is subscribed: what is published after
            // the read arrives, and what came before is in it.
            let load = match &listen {
                Listen::Watch(room) => Some(room.clone()),
                _ => None,
            };
            let change = state.apply(listen);
            if failed.is_some() {
                continue;
            }
            let flush = sync
                || load.is_some()
                || change
                    .as_ref()
                    .is_some_and(|(subscribe, _)| *subscribe != changes.subscribe);
            if flush && let Err(e) = self.send(&mut link.subscription, &mut changes).await {
                failed = Some(e);
                continue;
            }
            if let Some((subscribe, channel)) = change {
                changes.subscribe = subscribe;
                changes.channels.push(channel);
            }
            if sync {
                // Nothing to confirm may be left, yet the connection must be alive.
                match timeout(COMMAND_TIMEOUT, link.subscription.ping()).await {
                    Ok(Ok(())) => {
                        for done in state.waiting.drain(..) {
                            let _ = done.send(());
                        }
                    }
                    Ok(Err(e)) => failed = Some(e),
                    Err(_) => failed = Some(timed_out()),
                }
            }
            if let Some(room) = load
                && failed.is_none()
                && let Err(e) = self.load(&mut link.query, &room, hub).await
            {
                failed = Some(e);
            }
        }
        if failed.is_none()
            && let Err(e) = self.send(&mut link.subscription, &mut changes).await
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

    async fn send(
        &self,
        subscription: &mut Subscription,
        changes: &mut Changes,
    ) -> redis::RedisResult<()> {
        if changes.channels.is_empty() {
            return Ok(());
        }
        let channels = std::mem::take(&mut changes.channels);
        let channels: Vec<&str> = channels.iter().map(String::as_str).collect();
        let sent = if changes.subscribe {
            timeout(COMMAND_TIMEOUT, subscription.subscribe(&channels)).await
        } else {
            timeout(COMMAND_TIMEOUT, subscription.unsubscribe(&channels)).await
        };
        sent.unwrap_or_else(|_| Err(timed_out()))
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
        if !seen.contains_key(&envelope.origin)
            && let Some(old) = state
                .retired
                .get(channel)
                .and_then(|r| r.get(&envelope.origin))
            && old.0 == envelope.epoch
            && envelope.seq <= old.1
        {
            // Published before this node last unsubscribed: the old subscription's.
            return;
        }
        let (epoch, last) = seen.entry(envelope.origin).or_insert((envelope.epoch, 0));
        if *epoch != envelope.epoch {
            // The origin restarted (or began a new epoch): a new numbering, no gap.
            (*epoch, *last) = (envelope.epoch, 0);
        } else if envelope.seq <= *last {
            // Heard already: a cluster client that retried a pipeline sent it twice.
            return;
        }
        if *last != 0 && envelope.seq > *last + 1 {
            Counters::add(&self.counters.backplane_missed, envelope.seq - *last - 1);
        }
        *last = (*last).max(envelope.seq);
        // Presence events are numbered with the room's messages, but are not messages.
        if !matches!(envelope.target, Target::Presence { .. }) {
            Counters::inc(&self.counters.backplane_received);
        }
        hub.receive(&envelope);
    }
}

fn timed_out() -> redis::RedisError {
    std::io::Error::from(std::io::ErrorKind::TimedOut).into()
}
