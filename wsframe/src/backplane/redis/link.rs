//! The connections to Redis, one server or a Redis Cluster alike: commands (a batch
//! goes as one pipeline per hash slot on a cluster), and subscriptions (plain pub/sub
//! on one server, sharded pub/sub on a cluster).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::Slot;
use redis::{Pipeline, PushInfo, PushKind, RedisResult, Value};
use tokio::sync::mpsc;

use super::COMMAND_TIMEOUT;
use super::connect::connection_config;

/// Where Redis is: one server, or the nodes of a cluster.
#[derive(Clone)]
pub(super) enum Servers {
    /// One URL: one server, unless the server says it runs in cluster mode (asked at
    /// the first connection, and remembered).
    One {
        client: Box<redis::Client>,
        url: String,
        ca: Option<Vec<u8>>,
        cluster: Arc<OnceLock<bool>>,
    },
    /// The cluster's seed nodes (their URLs, credentials included) and a CA, if given.
    Cluster {
        urls: Vec<String>,
        ca: Option<Vec<u8>>,
    },
}

impl Servers {
    fn cluster_client(
        urls: &[String],
        ca: Option<&[u8]>,
        pushes: Option<mpsc::UnboundedSender<PushInfo>>,
    ) -> RedisResult<redis::cluster::ClusterClient> {
        let mut builder = redis::cluster::ClusterClientBuilder::new(urls.to_vec())
            .connection_timeout(COMMAND_TIMEOUT)
            .response_timeout(COMMAND_TIMEOUT)
            // Fail fast to the caller (the tasks reconnect with backoff of their own).
            .retries(2);
        if let Some(pushes) = pushes {
            builder = builder
                .use_protocol(redis::ProtocolVersion::RESP3)
                .push_sender(pushes);
        }
        #[cfg(feature = "redis-tls")]
        if let Some(pem) = ca {
            builder = builder.certs(redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.to_vec()),
            });
        }
        #[cfg(not(feature = "redis-tls"))]
        let _ = ca;
        builder.build()
    }

    /// The servers as they are: a single URL whose server runs in cluster mode is a
    /// cluster (asked once, on a first connection).
    async fn resolved(&self) -> RedisResult<Servers> {
        let Servers::One {
            client,
            url,
            ca,
            cluster,
        } = self
        else {
            return Ok(self.clone());
        };
        let is_cluster = match cluster.get() {
            Some(known) => *known,
            None => {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&connection_config())
                    .await?;
                let info: RedisResult<String> = redis::cmd("INFO")
                    .arg("cluster")
                    .query_async(&mut conn)
                    .await;
                let is_cluster = match info {
                    Ok(info) => info.contains("cluster_enabled:1"),
                    // An ACL user may not run INFO: taken for one server, as
                    // configured, and asked again at the next connection.
                    Err(e)
                        if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoPerm) =>
                    {
                        return Ok(self.clone());
                    }
                    Err(e) => return Err(e),
                };
                *cluster.get_or_init(|| is_cluster)
            }
        };
        Ok(if is_cluster {
            Servers::Cluster {
                urls: vec![url.clone()],
                ca: ca.clone(),
            }
        } else {
            self.clone()
        })
    }

    /// A connection for commands.
    pub(super) async fn connect(&self) -> RedisResult<Conn> {
        match self.resolved().await? {
            Servers::One { client, .. } => Ok(Conn::One(
                client
                    .get_multiplexed_async_connection_with_config(&connection_config())
                    .await?,
            )),
            Servers::Cluster { urls, ca } => Ok(Conn::Cluster(
                Servers::cluster_client(&urls, ca.as_deref(), None)?
                    .get_async_connection()
                    .await?,
            )),
        }
    }

    /// A connection for subscriptions (and, on a cluster, commands too).
    pub(super) async fn subscribe(&self) -> RedisResult<Subscription> {
        match self.resolved().await? {
            Servers::One { client, .. } => {
                let (sink, messages) = client.get_async_pubsub().await?.split();
                Ok(Subscription::One { sink, messages })
            }
            Servers::Cluster { urls, ca } => {
                let (pushes, received) = mpsc::unbounded_channel();
                let conn = Servers::cluster_client(&urls, ca.as_deref(), Some(pushes))?
                    .get_async_connection()
                    .await?;
                Ok(Subscription::Cluster {
                    conn,
                    pushes: received,
                })
            }
        }
    }

    /// Whether commands go to a cluster (known once connected).
    pub(super) fn is_cluster(&self) -> bool {
        match self {
            Servers::One { cluster, .. } => cluster.get() == Some(&true),
            Servers::Cluster { .. } => true,
        }
    }
}

/// A connection for commands.
#[derive(Clone)]
pub(super) enum Conn {
    One(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Run one command.
    pub(super) async fn query<T: redis::FromRedisValue>(
        &mut self,
        cmd: &redis::Cmd,
    ) -> RedisResult<T> {
        match self {
            Conn::One(conn) => cmd.query_async(conn).await,
            Conn::Cluster(conn) => cmd.query_async(conn).await,
        }
    }

    /// Run a batch, its commands in order per hash slot (on one server, all in order).
    pub(super) async fn run(&mut self, batch: Batch) -> RedisResult<()> {
        match self.run_counted(batch).await.2 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Run a batch: the publications of the pipelines that went through, those of the
    /// ones that failed, and an error met (the last).
    pub(super) async fn run_counted(
        &mut self,
        batch: Batch,
    ) -> (u64, u64, Option<redis::RedisError>) {
        let results: Vec<(u64, RedisResult<()>)> = match self {
            Conn::One(conn) => {
                let mut results = Vec::new();
                for (pipe, publications) in batch.pipes.into_values() {
                    results.push((publications, pipe.query_async::<()>(conn).await));
                }
                results
            }
            // The slots' pipelines at once (order matters within a slot only): a batch
            // over many rooms costs one round trip, not one per room.
            Conn::Cluster(conn) => {
                let runs = batch.pipes.into_values().map(|(pipe, publications)| {
                    let mut conn = conn.clone();
                    async move { (publications, pipe.query_async::<()>(&mut conn).await) }
                });
                futures_util::future::join_all(runs).await
            }
        };
        let (mut through, mut failed, mut error) = (0, 0, None);
        for (publications, result) in results {
            match result {
                Ok(()) => through += publications,
                Err(e) => {
                    failed += publications;
                    error = Some(e);
                }
            }
        }
        (through, failed, error)
    }
}

/// Commands to run together: one pipeline on one server, one per hash slot on a
/// cluster (a cluster pipeline may not cross slots). A room's key and channel share a
/// slot (its hash tag), so what concerns one room stays in order.
pub(super) struct Batch {
    cluster: bool,
    /// Per slot (one entry on one server): the pipeline, and how many publications it
    /// carries (so that a batch half through counts each side right).
    pipes: HashMap<Option<Slot>, (Pipeline, u64)>,
    len: usize,
}

impl Batch {
    pub(super) fn new(cluster: bool) -> Batch {
        Batch {
            cluster,
            pipes: HashMap::new(),
            len: 0,
        }
    }

    /// The pipeline for commands on `key` (its first key or channel).
    pub(super) fn on(&mut self, key: &str) -> &mut Pipeline {
        let slot = self.cluster.then(|| Slot::for_key(key));
        self.len += 1;
        &mut self.pipes.entry(slot).or_default().0
    }

    /// A publication on `channel` was added (see [`Conn::run_counted`]).
    pub(super) fn count_publication(&mut self, channel: &str) {
        let slot = self.cluster.then(|| Slot::for_key(channel));
        self.pipes.entry(slot).or_default().1 += 1;
    }

    /// The command that publishes to a channel: sharded on a cluster.
    pub(super) fn publish(&self) -> &'static str {
        if self.cluster { "SPUBLISH" } else { "PUBLISH" }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }
}

/// What arrives on a subscription.
pub(super) enum Arrived {
    /// A message on a channel.
    Message(String, Vec<u8>),
    /// The server dropped a subscription (a cluster slot moved): subscribe again.
    Dropped(String),
    /// Anything else (confirmations, pongs).
    Other,
}

/// A connection that subscribes.
pub(super) enum Subscription {
    One {
        sink: PubSubSink,
        messages: PubSubStream,
    },
    Cluster {
        conn: ClusterConnection,
        pushes: mpsc::UnboundedReceiver<PushInfo>,
    },
}

impl Subscription {
    /// Subscribe to `channels`, confirmed (on a cluster, a command per hash slot).
    pub(super) async fn subscribe(&mut self, channels: &[&str]) -> RedisResult<()> {
        match self {
            Subscription::One { sink, .. } => sink.subscribe(channels).await,
            Subscription::Cluster { conn, .. } => {
                let runs = by_slot(channels).into_iter().map(|group| {
                    let mut conn = conn.clone();
                    async move { conn.ssubscribe(group).await }
                });
                futures_util::future::try_join_all(runs).await.map(drop)
            }
        }
    }

    pub(super) async fn unsubscribe(&mut self, channels: &[&str]) -> RedisResult<()> {
        match self {
            Subscription::One { sink, .. } => sink.unsubscribe(channels).await,
            Subscription::Cluster { conn, .. } => {
                for group in by_slot(channels) {
                    conn.sunsubscribe(group).await?;
                }
                Ok(())
            }
        }
    }

    /// Ask the server for an answer (a half-open connection never ends the stream).
    pub(super) async fn ping(&mut self) -> RedisResult<()> {
        match self {
            Subscription::One { sink, .. } => sink.ping::<Value>().await.map(drop),
            Subscription::Cluster { conn, .. } => redis::cmd("PING")
                .query_async::<Value>(conn)
                .await
                .map(drop),
        }
    }

    /// The next thing that arrives; `None` when the connection ended.
    pub(super) async fn next(&mut self) -> Option<Arrived> {
        use futures_util::StreamExt;
        match self {
            Subscription::One { messages, .. } => {
                let message = messages.next().await?;
                Some(Arrived::Message(
                    message.get_channel_name().to_owned(),
                    message.get_payload_bytes().to_vec(),
                ))
            }
            Subscription::Cluster { pushes, .. } => {
                let push = pushes.recv().await?;
                Some(match (push.kind, push.data.as_slice()) {
                    // A connection to one of the cluster's nodes dropped (a master died,
                    // say): its subscriptions are gone until made again where their slots
                    // live now, so the whole subscription is made again.
                    (PushKind::Disconnection, _) => return None,
                    (PushKind::SMessage | PushKind::Message, [channel, payload, ..]) => {
                        match (bytes_of(channel), bytes_of(payload)) {
                            (Some(channel), Some(payload)) => Arrived::Message(
                                String::from_utf8_lossy(&channel).into_owned(),
                                payload,
                            ),
                            _ => Arrived::Other,
                        }
                    }
                    (PushKind::SUnsubscribe, [channel, ..]) => match bytes_of(channel) {
                        Some(channel) => {
                            Arrived::Dropped(String::from_utf8_lossy(&channel).into_owned())
                        }
                        None => Arrived::Other,
                    },
                    _ => Arrived::Other,
                })
            }
        }
    }

    /// A connection for commands alongside (on a cluster, this one).
    pub(super) fn commands(&self) -> Option<Conn> {
        match self {
            Subscription::One { .. } => None,
            Subscription::Cluster { conn, .. } => Some(Conn::Cluster(conn.clone())),
        }
    }
}

fn bytes_of(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Some(bytes.clone()),
        Value::SimpleString(text) => Some(text.clone().into_bytes()),
        _ => None,
    }
}

/// `channels` grouped by hash slot, in their order.
fn by_slot<'a>(channels: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut groups: Vec<(Slot, Vec<&str>)> = Vec::new();
    for channel in channels {
        let slot = Slot::for_key(channel);
        match groups.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, group)) => group.push(channel),
            None => groups.push((slot, vec![channel])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}
