//! The counters in Prometheus' text exposition format (version 0.0.4), for
//! [`App::metrics_route`](crate::App::metrics_route) or a route of your own.

use std::fmt::Write;

use bytes::Bytes;
use http::{HeaderValue, header};
use http_body_util::Full;

use crate::{Metrics, MetricsSnapshot, Response};

/// The content type Prometheus expects of its text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

impl MetricsSnapshot {
    /// These values in Prometheus' text format: one `wsframe_*` metric per counter, with
    /// its `# HELP` and `# TYPE` lines; `wsframe_connections_open` and
    /// `wsframe_queued_bytes` are gauges, the rest are counters (named `…_total`).
    ///
    /// ```
    /// let text = wsframe::MetricsSnapshot::default().to_prometheus();
    /// assert!(text.contains("# TYPE wsframe_connections_open gauge\nwsframe_connections_open 0\n"));
    /// assert!(text.contains("# TYPE wsframe_messages_received_total counter\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        const COUNTER: &str = "counter";
        const GAUGE: &str = "gauge";
        let metrics = [
            (
                "connections_open",
                GAUGE,
                self.connections_open,
                "WebSocket connections open now.",
            ),
            (
                "connections_total",
                COUNTER,
                self.connections_total,
                "WebSocket connections upgraded since start.",
            ),
            (
                "connections_refused_total",
                COUNTER,
                self.connections_refused,
                "TCP connections refused with 503 at max_connections.",
            ),
            (
                "accept_errors_total",
                COUNTER,
                self.accept_errors,
                "Failed accept calls (the server keeps accepting).",
            ),
            (
                "handshakes_rejected_total",
                COUNTER,
                self.handshakes_rejected,
                "Handshakes answered with an HTTP error.",
            ),
            (
                "client_connections_refused_total",
                COUNTER,
                self.client_connections_refused,
                "Handshakes refused with 503 at max_connections_per_client.",
            ),
            (
                "handshakes_throttled_total",
                COUNTER,
                self.handshakes_throttled,
                "Handshakes refused with 429 over max_handshakes_per_client.",
            ),
            (
                "handler_panics_total",
                COUNTER,
                self.handler_panics,
                "Handlers that panicked.",
            ),
            (
                "slow_consumer_drops_total",
                COUNTER,
                self.slow_consumer_drops,
                "Hub messages dropped because a recipient's queue was full.",
            ),
            (
                "slow_consumer_closes_total",
                COUNTER,
                self.slow_consumer_closes,
                "Connections closed with 1013 because their queue was full.",
            ),
            (
                "messages_received_total",
                COUNTER,
                self.messages_in,
                "Data messages received.",
            ),
            (
                "messages_sent_total",
                COUNTER,
                self.messages_out,
                "Data messages sent.",
            ),
            (
                "received_bytes_total",
                COUNTER,
                self.bytes_in,
                "Payload bytes received.",
            ),
            (
                "sent_bytes_total",
                COUNTER,
                self.bytes_out,
                "Payload bytes sent.",
            ),
            (
                "rate_limited_total",
                COUNTER,
                self.rate_limited,
                "Connections closed with 1008 for exceeding their message rate.",
            ),
            (
                "backplane_published_total",
                COUNTER,
                self.backplane_published,
                "Messages handed to other nodes through the backplane.",
            ),
            (
                "backplane_publish_failed_total",
                COUNTER,
                self.backplane_publish_failed,
                "Messages the backplane could not take (it was unreachable).",
            ),
            (
                "backplane_received_total",
                COUNTER,
                self.backplane_received,
                "Messages received from other nodes.",
            ),
            (
                "backplane_missed_total",
                COUNTER,
                self.backplane_missed,
                "Messages of other nodes this node never received.",
            ),
            (
                "backplane_subscriptions_total",
                COUNTER,
                self.backplane_subscriptions,
                "Times the backplane subscription was (re)established.",
            ),
            (
                "messages_compressed_total",
                COUNTER,
                self.messages_compressed,
                "Outgoing messages compressed (a broadcast once).",
            ),
            (
                "queued_bytes",
                GAUGE,
                self.queued_bytes,
                "Bytes in outgoing queues, not yet handed to sockets.",
            ),
        ];
        let mut text = String::with_capacity(metrics.len() * 160);
        for (name, kind, value, help) in metrics {
            // Writing to a String cannot fail.
            let _ = write!(
                text,
                "# HELP wsframe_{name} {help}\n# TYPE wsframe_{name} {kind}\nwsframe_{name} {value}\n"
            );
        }
        text
    }
}

/// The response of a metrics route: the current values, in Prometheus' text format.
pub(crate) fn response(metrics: &Metrics) -> Response {
    let mut response = Response::new(Full::new(Bytes::from(metrics.snapshot().to_prometheus())));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
