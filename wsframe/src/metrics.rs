//! Counters for connections, messages and bytes, readable as a [`MetricsSnapshot`].
//!
//! Counters are relaxed atomics: a snapshot is consistent per field, not across fields.
//! The ones every message touches are [`Striped`], so that connections counting on
//! different threads do not fight over one cache line.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

#[derive(Default, Debug)]
pub(crate) struct Counters {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) accept_errors: AtomicU64,
    pub(crate) handshakes_rejected: AtomicU64,
    pub(crate) client_connections_refused: AtomicU64,
    pub(crate) handshakes_throttled: AtomicU64,
    pub(crate) handler_panics: AtomicU64,
    pub(crate) slow_consumer_drops: AtomicU64,
    pub(crate) slow_consumer_closes: AtomicU64,
    pub(crate) messages_in: Striped,
    pub(crate) messages_out: Striped,
    pub(crate) bytes_in: Striped,
    pub(crate) bytes_out: Striped,
    pub(crate) messages_compressed: Striped,
    pub(crate) rate_limited: AtomicU64,
    pub(crate) backplane_published: AtomicU64,
    pub(crate) backplane_publish_failed: AtomicU64,
    pub(crate) backplane_received: AtomicU64,
    pub(crate) backplane_missed: AtomicU64,
    pub(crate) backplane_subscriptions: AtomicU64,
    /// A gauge: wire bytes in outgoing queues, not yet handed to sockets.
    pub(crate) queued_bytes: Striped,
}

impl Counters {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }
}

/// Threads counting into a [`Striped`] counter share this many cache lines.
const STRIPES: usize = 8;

/// A counter (or gauge) kept in several cache lines, one picked per thread: counted on
/// every message by connections on every worker thread, a single atomic would bounce
/// between their caches. Read by summing the stripes.
#[derive(Default, Debug)]
pub(crate) struct Striped([Stripe; STRIPES]);

/// One stripe, alone in its cache line (two lines on CPUs that fetch them in pairs).
#[derive(Default, Debug)]
#[repr(align(128))]
struct Stripe(AtomicU64);

impl Striped {
    /// The stripe of the calling thread.
    fn stripe(&self) -> &AtomicU64 {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static STRIPE: usize = NEXT.fetch_add(1, Relaxed) % STRIPES;
        }
        &self.0[STRIPE.with(|stripe| *stripe)].0
    }

    pub(crate) fn add(&self, n: u64) {
        self.stripe().fetch_add(n, Relaxed);
    }

    /// Lower a gauge (by no more than was added to it, perhaps on another stripe: a
    /// stripe wraps below zero, and the sum is right).
    pub(crate) fn sub(&self, n: u64) {
        self.stripe().fetch_sub(n, Relaxed);
    }

    /// The sum of the stripes. Read one after another, they may show a decrease whose
    /// increase they missed: a gauge never reads below zero.
    pub(crate) fn get(&self) -> u64 {
        let sum = self
            .0
            .iter()
            .fold(0u64, |sum, stripe| sum.wrapping_add(stripe.0.load(Relaxed)));
        if (sum as i64) < 0 { 0 } else { sum }
    }
}

/// A cheap handle to an app's counters; take a [`snapshot`](Metrics::snapshot) at any
/// time, before or while serving.
///
/// ```
/// let app = wsframe::App::new();
/// let metrics = app.metrics();
/// assert_eq!(metrics.snapshot().connections_open, 0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Metrics(pub(crate) Arc<Counters>);

impl Metrics {
    /// The counters' current values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let c = &self.0;
        MetricsSnapshot {
            connections_open: c.connections_open.load(Relaxed),
            connections_total: c.connections_total.load(Relaxed),
            connections_refused: c.connections_refused.load(Relaxed),
            accept_errors: c.accept_errors.load(Relaxed),
            handshakes_rejected: c.handshakes_rejected.load(Relaxed),
            client_connections_refused: c.client_connections_refused.load(Relaxed),
            handshakes_throttled: c.handshakes_throttled.load(Relaxed),
            handler_panics: c.handler_panics.load(Relaxed),
            slow_consumer_drops: c.slow_consumer_drops.load(Relaxed),
            slow_consumer_closes: c.slow_consumer_closes.load(Relaxed),
            messages_in: c.messages_in.get(),
            messages_out: c.messages_out.get(),
            bytes_in: c.bytes_in.get(),
            bytes_out: c.bytes_out.get(),
            messages_compressed: c.messages_compressed.get(),
            rate_limited: c.rate_limited.load(Relaxed),
            backplane_published: c.backplane_published.load(Relaxed),
            backplane_publish_failed: c.backplane_publish_failed.load(Relaxed),
            backplane_received: c.backplane_received.load(Relaxed),
            backplane_missed: c.backplane_missed.load(Relaxed),
            backplane_subscriptions: c.backplane_subscriptions.load(Relaxed),
            queued_bytes: c.queued_bytes.get(),
        }
    }
}

/// Counter values at one moment.
///
/// ```
/// use wsframe::testing::TestClient;
/// use wsframe::{App, MetricsSnapshot, WebSocket};
///
/// async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
///     while let Ok(text) = ws.receive_text().await {
///         ws.send_text(text).await?;
///     }
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().websocket("/echo", echo))?;
/// let before: MetricsSnapshot = client.metrics().snapshot();
/// assert_eq!(before, MetricsSnapshot::default());
///
/// let mut ws = client.connect("/echo").await?;
/// ws.send_text("hello").await?;
/// assert_eq!(ws.receive_text().await?, "hello");
/// assert!(client.connect("/nowhere").await.is_err());
///
/// let now = client.metrics().snapshot();
/// assert_eq!((now.connections_open, now.connections_total), (1, 1));
/// assert_eq!((now.messages_in, now.bytes_in), (1, 5));
/// assert_eq!((now.messages_out, now.bytes_out), (1, 5));
/// assert_eq!(now.handshakes_rejected, 1); // the 404
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// WebSocket connections open now.
    pub connections_open: u64,
    /// WebSocket connections upgraded since start.
    pub connections_total: u64,
    /// TCP connections refused with 503 because `max_connections` was reached.
    pub connections_refused: u64,
    /// Failed `accept` calls (e.g. out of file descriptors); the server keeps accepting.
    pub accept_errors: u64,
    /// Handshakes answered with an HTTP error (guards, bad requests, refused origins,
    /// undecided in time, refused during shutdown, per-client limits).
    pub handshakes_rejected: u64,
    /// Handshakes answered 503 because their client address had
    /// [`Config::max_connections_per_client`](crate::Config::max_connections_per_client)
    /// connections open.
    pub client_connections_refused: u64,
    /// Handshakes answered 429 because their client address was over
    /// [`Config::max_handshakes_per_client`](crate::Config::max_handshakes_per_client).
    pub handshakes_throttled: u64,
    /// Handlers that panicked.
    pub handler_panics: u64,
    /// Hub messages dropped because a recipient's queue was full.
    pub slow_consumer_drops: u64,
    /// Connections closed with 1013 because their queue was full.
    pub slow_consumer_closes: u64,
    /// Data messages received.
    pub messages_in: u64,
    /// Data messages sent.
    pub messages_out: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Payload bytes sent (as sent: compressed, for a compressed message).
    pub bytes_out: u64,
    /// Outgoing messages compressed (permessage-deflate; a message that would not
    /// shrink is sent as it is and not counted). A broadcast counts once, not once per
    /// recipient, except for connections in the dedicated mode, which compress it each
    /// in its own context.
    pub messages_compressed: u64,
    /// Connections closed with 1008 for sending over their message rate
    /// ([`Limits::max_message_rate`](crate::Limits::max_message_rate)).
    pub rate_limited: u64,
    /// Messages handed to other nodes through the backplane.
    pub backplane_published: u64,
    /// Messages that could not be handed to the backplane (it was unreachable); they
    /// reached this node's recipients only.
    pub backplane_publish_failed: u64,
    /// Messages received from other nodes.
    pub backplane_received: u64,
    /// Messages of other nodes this node never received (gaps in their numbering).
    pub backplane_missed: u64,
    /// Times the backplane subscription was (re)established.
    pub backplane_subscriptions: u64,
    /// Bytes waiting in outgoing queues now, summed over connections: frames as they go
    /// on the wire, from their admission until the socket took them (a gauge; each
    /// connection holds at most [`Config::outgoing_queue_bytes`](crate::Config::outgoing_queue_bytes),
    /// or one larger message). A broadcast frame is held once in memory, shared by
    /// refcount, but counted once per recipient: 1 MiB queued for 100 clients shows
    /// 100 MiB. Sends still waiting for room are not counted until they enter a queue.
    pub queued_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_striped_counter_sums_what_every_thread_counted() {
        let counter = Arc::new(Striped::default());
        let threads: Vec<_> = (0..STRIPES + 3)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| counter.add(3)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(counter.get(), 3 * 1000 * (STRIPES as u64 + 3));
    }

    #[test]
    fn a_gauge_raised_on_one_thread_and_lowered_on_another_reads_right() {
        let gauge = Arc::new(Striped::default());
        gauge.add(100);
        let lowered = gauge.clone();
        std::thread::spawn(move || lowered.sub(60)).join().unwrap();
        assert_eq!(gauge.get(), 40);
        let lowered = gauge.clone();
        std::thread::spawn(move || lowered.sub(40)).join().unwrap();
        assert_eq!(gauge.get(), 0);
        // A read that sees a decrease before its increase shows zero, not 2^64 - n.
        let early = Striped::default();
        early.sub(5);
        assert_eq!(early.get(), 0);
    }
}
