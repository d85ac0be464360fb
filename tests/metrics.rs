//! The counters over HTTP in Prometheus' text format (`App::metrics_route`), read over a
//! real TCP connection while WebSocket traffic flows.

use std::collections::BTreeMap;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::{App, WebSocket};
use wsframe_tests::*;

async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

/// Parse the exposition text, checking its grammar: every sample is preceded by its
/// `# HELP` and `# TYPE` lines, names are valid, values are integers.
fn parse(text: &str) -> BTreeMap<String, (String, u64)> {
    let mut samples = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(help) = lines.next() {
        let name = help
            .strip_prefix("# HELP ")
            .and_then(|rest| rest.split_once(' '))
            .map(|(name, _)| name)
            .unwrap_or_else(|| panic!("expected # HELP, got {help:?}"));
        assert!(
            name.starts_with("wsframe_")
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{name}"
        );
        let kind = lines
            .next()
            .and_then(|l| l.strip_prefix(&format!("# TYPE {name} ")))
            .unwrap_or_else(|| panic!("# TYPE of {name}"))
            .to_string();
        assert!(kind == "counter" || kind == "gauge", "{kind}");
        if kind == "counter" {
            assert!(
                name.ends_with("_total"),
                "a counter's name ends in _total: {name}"
            );
        }
        let sample = lines.next().unwrap_or_else(|| panic!("sample of {name}"));
        let value = sample
            .strip_prefix(&format!("{name} "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("bad sample line {sample:?}"));
        assert!(
            samples.insert(name.to_string(), (kind, value)).is_none(),
            "{name} twice"
        );
    }
    samples
}

#[tokio::test]
async fn metrics_route_serves_the_counters_in_prometheus_text_format() {
    let app = App::new().websocket("/ws", echo).metrics_route("/metrics");
    let server = TestServer::start(app).await;
    let mut ws = connect(server.addr, "/ws").await;
    for text in ["one", "two"] {
        ws.send(WsMessage::text(text)).await.unwrap();
        assert_eq!(
            within(ws.next()).await.unwrap().unwrap(),
            WsMessage::text(text)
        );
    }
    let refused = raw_request(server.addr, &upgrade_request("/nowhere", "", &[])).await;
    assert_eq!(refused.status, 404);

    let response = raw_request(
        server.addr,
        b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse(&response.body_text());
    assert_eq!(samples.len(), 22, "one metric per counter");
    let value = |name: &str| samples[name].1;
    assert_eq!(samples["wsframe_connections_open"].0, "gauge");
    assert_eq!(samples["wsframe_queued_bytes"].0, "gauge");
    // Both echoes were written: nothing waits in the queue.
    assert_eq!(value("wsframe_queued_bytes"), 0);
    assert_eq!(value("wsframe_connections_open"), 1);
    assert_eq!(value("wsframe_connections_total"), 1);
    assert_eq!(value("wsframe_messages_received_total"), 2);
    assert_eq!(value("wsframe_messages_sent_total"), 2);
    assert_eq!(value("wsframe_received_bytes_total"), 6);
    assert_eq!(value("wsframe_handshakes_rejected_total"), 1);
    // Every snapshot field is exported with the same value.
    let snapshot = server.metrics();
    assert_eq!(value("wsframe_sent_bytes_total"), snapshot.bytes_out);
    assert_eq!(
        value("wsframe_handler_panics_total"),
        snapshot.handler_panics
    );
    // The test's client does not offer permessage-deflate: nothing was compressed.
    assert_eq!(value("wsframe_messages_compressed_total"), 0);
    assert_eq!(snapshot.messages_compressed, 0);
    drop(ws);
}
