//! The outgoing queue's byte bound, end to end: a client that stops reading costs the
//! server at most the bound (measured on a server run as a child process), the
//! `queued_bytes` gauge shows what waits, and the `Sender`'s `Sink` honours the bound
//! and flushes to the socket, waiting sends keep their order, the default policy never
//! closes a client for its own handler's sends, and a failed upgrade gives its queue back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use futures_util::{FutureExt, SinkExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpSocket;
use tokio::process::Command;
use tokio::sync::mpsc;
use wsframe::testing::TestClient;
use wsframe::{App, Config, Message, Metrics, State, WebSocket};
use wsframe_tests::*;

/// The default byte bound of a connection's outgoing queue.
const BOUND: u64 = 4 << 20;
/// What the child may hold beyond the bound: the message being built and encoded, and
/// the allocator's slack.
const MARGIN: u64 = 16 << 20;

/// A `/proc/<pid>/status` field, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .expect("a number of kB");
    kib << 10
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let response = raw_request(addr, request.as_bytes()).await;
    assert_eq!(response.status, 200, "{path}: {}", response.status_line);
    response.body_text()
}

/// One value of the Prometheus text.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in the metrics"))
        .parse()
        .expect("a number")
}

#[tokio::test]
async fn a_client_that_stops_reading_holds_at_most_the_byte_bound_in_the_server() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_queue_server"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let pid = child.id().expect("a running child");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within(stdout.next_line())
        .await
        .unwrap()
        .expect("a first line");
    let addr: SocketAddr = line
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));

    // A client that never reads, with a small receive buffer so that the kernel holds
    // little of what the server sends.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 << 10).unwrap();
    let tcp = socket.connect(addr).await.expect("connect");
    let (client, _) = within(tokio_tungstenite::client_async(
        format!("ws://{addr}/feed"),
        tcp,
    ))
    .await
    .expect("upgrade");
    let deadline = tokio::time::Instant::now() + WAIT;
    while get(addr, "/members").await != "1" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client never joined"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let before = status_bytes(pid, "VmRSS:");
    // The peak RSS since start, so nothing between two readings escapes.
    let check = |published: u64, metrics: &str| {
        let grown = status_bytes(pid, "VmHWM:").saturating_sub(before);
        assert!(
            grown <= BOUND + MARGIN,
            "after {published} MiB broadcast to a client that reads nothing the server grew by \
             {} MiB (bound {} MiB + margin {} MiB)",
            grown >> 20,
            BOUND >> 20,
            MARGIN >> 20
        );
        let queued = metric(metrics, "wsframe_queued_bytes");
        assert!(queued <= BOUND, "{queued} bytes queued, over the bound");
        queued
    };
    // Publish 8 MiB at a time until the first hub message is dropped: the queue is
    // full (the server's send buffer is small, so the kernel takes little of it).
    let mut published = 0u64;
    loop {
        get(addr, "/publish").await;
        published += 8;
        let metrics = get(addr, "/metrics").await;
        check(published, &metrics);
        if metric(&metrics, "wsframe_slow_consumer_drops_total") > 0 {
            break;
        }
        assert!(published < 1024, "no message dropped after {published} MiB");
    }
    // Then keep the queue full through 64 MiB more: the server holds no more.
    let mut held = 0;
    for _ in 0..8 {
        get(addr, "/publish").await;
        published += 8;
        held = check(published, &get(addr, "/metrics").await);
    }
    // A 1 MiB message was refused, so more than 3 MiB were waiting; nothing left since.
    assert!(
        held >= 1 << 20,
        "a full queue holds at least one message: {held}"
    );

    // The client goes away: its queue leaves the gauge.
    drop(client);
    let deadline = tokio::time::Instant::now() + WAIT;
    while metric(&get(addr, "/metrics").await, "wsframe_queued_bytes") != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the gauge kept a closed queue"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    child.kill().await.expect("stop the server");
}

/// What the Sink handlers observed.
#[derive(Clone)]
struct Observed {
    metrics: Metrics,
    max_queued: Arc<AtomicU64>,
    reports: mpsc::UnboundedSender<String>,
}

/// Feeds 32 messages of 64 KiB through the Sink, noting the gauge after each.
async fn feeds(ws: WebSocket, State(seen): State<Observed>) -> wsframe::Result<()> {
    let (mut sender, _receiver) = ws.split();
    for i in 0..32u8 {
        sender.feed(Message::binary(vec![i; 64 << 10])).await?;
        let queued = seen.metrics.snapshot().queued_bytes;
        seen.max_queued.fetch_max(queued, Relaxed);
    }
    sender.flush().await?;
    let _ = seen.reports.send("done".into());
    std::future::pending::<()>().await;
    Ok(())
}

/// Sends 32 messages of 64 KiB with `send_bytes().await`, noting the gauge after each.
async fn sends(ws: WebSocket, State(seen): State<Observed>) -> wsframe::Result<()> {
    for i in 0..32u8 {
        ws.send_bytes(vec![i; 64 << 10]).await?;
        let queued = seen.metrics.snapshot().queued_bytes;
        seen.max_queued.fetch_max(queued, Relaxed);
    }
    let _ = seen.reports.send("done".into());
    std::future::pending::<()>().await;
    Ok(())
}

/// Feeds 3 messages of 64 KiB (within the bound), then flushes: reports whether the
/// flush was complete at once (before the client read anything), then its outcome and
/// how many messages had been written when it completed.
async fn flushes(ws: WebSocket, State(seen): State<Observed>) -> wsframe::Result<()> {
    let (mut sender, _receiver) = ws.split();
    for i in 0..3u8 {
        sender.feed(Message::binary(vec![i; 64 << 10])).await?;
    }
    let mut flush = sender.flush();
    let at_once = (&mut flush).now_or_never().is_some();
    let _ = seen.reports.send(format!("complete at once: {at_once}"));
    let outcome = flush.await;
    let written = seen.metrics.snapshot().messages_out;
    let _ = seen.reports.send(format!(
        "{:?}, {written} written",
        outcome.map_err(|e| e.is_disconnect())
    ));
    std::future::pending::<()>().await;
    Ok(())
}

fn observed() -> (App, Observed, mpsc::UnboundedReceiver<String>) {
    let app = App::new().config(Config::default().outgoing_queue_bytes(256 << 10));
    let (reports, rx) = mpsc::unbounded_channel();
    let seen = Observed {
        metrics: app.metrics(),
        max_queued: Arc::default(),
        reports,
    };
    let app = app
        .state(seen.clone())
        .websocket("/sends", sends)
        .websocket("/feeds", feeds)
        .websocket("/flushes", flushes);
    (app, seen, rx)
}

/// Connect to `path`, read its 32 messages of 64 KiB in order, and check that the
/// handler never saw more than the 256 KiB bound queued.
async fn bounded_delivery(path: &str) {
    let (app, seen, mut reports) = observed();
    let client = TestClient::new(app).unwrap();
    let mut ws = client.connect(path).await.unwrap();
    for i in 0..32u8 {
        let bytes = ws.receive_bytes().await.unwrap();
        assert_eq!(
            (bytes.len(), bytes[0]),
            (64 << 10, i),
            "{path}: message {i}"
        );
    }
    assert_eq!(within(reports.recv()).await.unwrap(), "done");
    let max = seen.max_queued.load(Relaxed);
    assert!(
        max <= 256 << 10,
        "{path} queued {max} bytes, over the 256 KiB bound"
    );
}

#[tokio::test]
async fn handler_sends_wait_at_the_byte_bound_and_are_never_dropped() {
    bounded_delivery("/sends").await;
}

#[tokio::test]
async fn the_sink_waits_at_the_byte_bound_and_delivers_everything() {
    bounded_delivery("/feeds").await;
}

#[tokio::test]
async fn sink_flush_completes_once_its_messages_reached_the_socket() {
    let (app, _seen, mut reports) = observed();
    let client = TestClient::new(app).unwrap();
    let mut ws = client.connect("/flushes").await.unwrap();
    // 192 KiB cannot pass the 64 KiB in-memory connection before the client reads.
    assert_eq!(
        within(reports.recv()).await.unwrap(),
        "complete at once: false"
    );
    for i in 0..3u8 {
        assert_eq!(ws.receive_bytes().await.unwrap()[0], i);
    }
    assert_eq!(within(reports.recv()).await.unwrap(), "Ok(()), 3 written");
}

#[tokio::test]
async fn sink_flush_fails_when_the_connection_ends_before_its_messages_are_written() {
    let (app, _seen, mut reports) = observed();
    let client = TestClient::new(app).unwrap();
    let ws = client.connect("/flushes").await.unwrap();
    assert_eq!(
        within(reports.recv()).await.unwrap(),
        "complete at once: false"
    );
    drop(ws);
    let report = within(reports.recv()).await.unwrap();
    assert!(report.starts_with("Err(true)"), "{report}");
}

/// What the `/welcome` handler waits for and reports to.
#[derive(Clone)]
struct Welcome {
    go: Arc<tokio::sync::Notify>,
    reports: mpsc::UnboundedSender<String>,
}

/// Waits for the test's go, then queues from another task (through a clone) until a
/// send fails, and sends a welcome, which accepts implicitly.
async fn welcomes(ws: WebSocket, State(welcome): State<Welcome>) -> wsframe::Result<()> {
    welcome.go.notified().await;
    let sender = ws.sender();
    let reports = welcome.reports.clone();
    tokio::spawn(async move {
        while sender.send_bytes(vec![1u8; 64 << 10]).await.is_ok() {}
        let _ = reports.send("the clone's send failed".into());
    });
    ws.send_text("welcome").await?;
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test]
async fn a_failed_upgrade_after_the_101_gives_back_its_queue() {
    let (reports, mut reported) = mpsc::unbounded_channel();
    let welcome = Welcome {
        go: Arc::default(),
        reports,
    };
    let app = App::new()
        .state(welcome.clone())
        .websocket("/welcome", welcomes);
    let server = TestServer::start(app).await;
    // The client asks for the upgrade and resets the connection before the handler
    // decides: the 101 cannot be written, so hyper's upgrade fails after the decision.
    let tcp = TcpSocket::new_v4()
        .unwrap()
        .connect(server.addr)
        .await
        .unwrap();
    let mut tcp = tcp;
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &upgrade_request("/welcome", "", &[]))
        .await
        .unwrap();
    tcp.set_zero_linger().unwrap();
    drop(tcp);
    welcome.go.notify_one();
    // Senders in other tasks learn that the connection is gone instead of waiting
    // forever, and what was queued leaves the gauge.
    assert_eq!(
        within(reported.recv()).await.unwrap(),
        "the clone's send failed"
    );
    wait_until("the gauge forgets the queue", || {
        server.metrics().queued_bytes == 0
    })
    .await;
}

/// Queues one 200 KiB message of its own, broadcasts 100 KiB to its room, then says
/// "done".
async fn streams(mut ws: WebSocket, hub: wsframe::Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("stream", &ws);
    ws.send_bytes(vec![1u8; 200 << 10]).await?;
    // 200 + 100 KiB pass the 256 KiB bound, but the room is the handler's own message:
    // the client is not behind on hub messages.
    hub.room("stream")
        .broadcast(Message::binary(vec![2u8; 100 << 10]));
    ws.send_text("done").await?;
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test]
async fn the_default_policy_never_closes_a_client_for_its_own_handlers_sends() {
    let app = App::new()
        .config(Config::default().outgoing_queue_bytes(256 << 10))
        .websocket("/stream", streams);
    let client = TestClient::new(app).unwrap();
    let mut ws = client.connect("/stream").await.unwrap();
    let bytes = ws
        .receive_bytes()
        .await
        .expect("the handler's message, not a 1013");
    assert_eq!((bytes.len(), bytes[0]), (200 << 10, 1));
    assert_eq!(ws.receive_text().await.unwrap(), "done");
    let metrics = client.metrics().snapshot();
    assert_eq!(
        (metrics.slow_consumer_closes, metrics.slow_consumer_drops),
        (0, 1),
        "the hub message was dropped, the client kept"
    );
}

/// Queues 80 KiB, feeds 150 KiB through the Sink (it must wait for an empty queue),
/// then sends a small text on the same Sender.
async fn in_line(ws: WebSocket) -> wsframe::Result<()> {
    let (mut sender, _receiver) = ws.split();
    sender.send_bytes(vec![1u8; 80 << 10]).await?;
    sender.feed(Message::binary(vec![2u8; 150 << 10])).await?;
    sender.send_text("small").await?;
    sender.flush().await?;
    std::future::pending::<()>().await;
    Ok(())
}

#[tokio::test]
async fn a_message_the_sink_holds_is_not_overtaken_by_later_sends() {
    let app = App::new()
        .config(Config::default().outgoing_queue_bytes(100 << 10))
        .websocket("/line", in_line);
    let client = TestClient::new(app).unwrap();
    let mut ws = client.connect("/line").await.unwrap();
    let first = ws.receive().await.unwrap();
    let second = ws.receive().await.unwrap();
    let third = ws.receive().await.unwrap();
    let shape = |m: &Message| match m {
        Message::Binary(b) => format!("{} KiB", b.len() >> 10),
        Message::Text(t) => t.to_string(),
    };
    assert_eq!(
        [shape(&first), shape(&second), shape(&third)],
        ["80 KiB", "150 KiB", "small"]
    );
}

/// Relays every text it receives to the room it is in, itself included (a chat room).
async fn relays(mut ws: WebSocket, hub: wsframe::Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("burst", &ws);
    while let Ok(text) = ws.receive_text().await {
        hub.room("burst").broadcast_text(text);
    }
    Ok(())
}

/// A burst of small messages, each relayed back through the hub: the server writes
/// what they cause as it reads them, so the sender's own queue (256 messages, default
/// policy: close) never fills and nothing is lost.
#[tokio::test]
async fn a_burst_relayed_back_through_the_hub_is_written_as_it_is_read() {
    const BURST: usize = 2_000;
    let server = TestServer::start(App::new().websocket("/relay", relays)).await;
    let (mut tcp, rest) = raw_upgrade(server.addr, "/relay").await;
    // Each frame is about 10 bytes: one read of the server takes hundreds of them.
    let burst: Vec<u8> = (0..BURST)
        .flat_map(|i| client_frame(0x1, format!("m{i}").as_bytes()))
        .collect();
    tokio::io::AsyncWriteExt::write_all(&mut tcp, &burst)
        .await
        .unwrap();
    let role = tokio_tungstenite::tungstenite::protocol::Role::Client;
    let mut ws =
        tokio_tungstenite::WebSocketStream::from_partially_read(tcp, rest, role, None).await;
    for i in 0..BURST {
        match within(futures_util::StreamExt::next(&mut ws)).await {
            Some(Ok(message)) if message.is_text() => {
                assert_eq!(message.into_text().unwrap().as_str(), format!("m{i}"))
            }
            other => panic!("message {i}: {other:?}"),
        }
    }
    let metrics = server.metrics();
    assert_eq!(
        (metrics.slow_consumer_closes, metrics.slow_consumer_drops),
        (0, 0)
    );
}
