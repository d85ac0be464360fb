//! Peers that stop reading, handlers that lag or never decide, and shutdown around
//! them: nothing may pin a connection, its slot, or the server's shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::{
    App, CloseCode, Config, FromHandshake, HandshakeRequest, Limits, Rejection, WebSocket,
};
use wsframe_tests::*;

async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

/// Queues 32 MiB, then returns.
async fn dump(ws: WebSocket) -> wsframe::Result<()> {
    for _ in 0..32 {
        ws.send_bytes(vec![0u8; 1 << 20]).await?;
    }
    Ok(())
}

/// Sends forever, never receives.
async fn ticker(ws: WebSocket) -> wsframe::Result<()> {
    for n in 0.. {
        ws.send_text(format!("tick {n}")).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn close_then_panic(mut ws: WebSocket) -> wsframe::Result<()> {
    ws.accept().await?;
    ws.close(CloseCode::NORMAL, "bye").await?;
    // Panic only once the close is under way.
    while !ws.is_closed() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("bug in clean-up code");
}

/// Ignores every error and never returns.
async fn stubborn(ws: WebSocket) {
    let _ = ws.send_text("hi").await;
    std::future::pending::<()>().await;
}

struct Refuse;

impl FromHandshake for Refuse {
    type Rejection = Rejection;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
        Err(Rejection::unauthorized("no"))
    }
}

struct Hang;

impl FromHandshake for Hang {
    type Rejection = Rejection;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
        std::future::pending().await
    }
}

fn config() -> Config {
    Config::default()
        .limits(
            Limits::default()
                .idle_timeout(Duration::from_millis(500))
                .ping_interval(Duration::from_millis(100)),
        )
        .close_timeout(Duration::from_millis(300))
        .shutdown_grace(Duration::from_millis(300))
        .handshake_timeout(Duration::from_millis(300))
}

fn app() -> App {
    App::new()
        .config(config())
        .websocket("/echo", echo)
        .websocket("/dump", dump)
        .websocket("/ticker", ticker)
        .websocket("/close-then-panic", close_then_panic)
        .websocket("/stubborn", stubborn)
        .websocket("/refuse", |ws: WebSocket, _: Refuse| echo(ws))
        .websocket("/hang", |ws: WebSocket, _: Hang| echo(ws))
}

#[tokio::test]
async fn a_ping_flood_from_a_client_that_never_reads_is_cut_off() {
    let server = TestServer::start(app()).await;
    let (mut tcp, _) = raw_upgrade(server.addr, "/echo").await;
    let ping = client_frame(0x9, &[b'p'; 125]);
    let mut written = 0usize;
    // Write until the server stops taking bytes (it is blocked answering) or drops us.
    while written < 64 << 20 {
        match tokio::time::timeout(Duration::from_millis(300), tcp.write_all(&ping)).await {
            Ok(Ok(())) => written += ping.len(),
            _ => break,
        }
    }
    wait_until("the flooding connection is released", || {
        server.metrics().connections_open == 0
    })
    .await;
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_handler_that_returns_with_a_backlog_for_a_non_reader_does_not_pin_it() {
    let server = TestServer::start(app()).await;
    let (_tcp, _) = raw_upgrade(server.addr, "/dump").await;
    wait_until("the connection opened", || {
        server.metrics().connections_total == 1
    })
    .await;
    wait_until("the stalled connection is released", || {
        server.metrics().connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn shutdown_completes_despite_stalled_clients_and_stubborn_handlers() {
    let server = TestServer::start(app()).await;
    let (_stalled, _) = raw_upgrade(server.addr, "/ticker").await;
    let mut stubborn = connect(server.addr, "/stubborn").await;
    assert_eq!(
        within(stubborn.next()).await.unwrap().unwrap(),
        WsMessage::text("hi")
    );
    wait_until("both are open", || server.metrics().connections_open == 2).await;
    let started = Instant::now();
    server.handle.shutdown();
    let (_, close) = read_until_close(&mut stubborn).await;
    assert_eq!(close.map(|c| c.0), Some(1001));
    within(server.task).await.unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_live_client_of_a_lagging_handler_is_not_closed_as_idle() {
    let server = TestServer::start(app()).await;
    let mut ws = connect(server.addr, "/ticker").await;
    // The handler never receives: its queue fills and the server stops reading.
    for i in 0..40 {
        ws.send(WsMessage::text(format!("unread {i}")))
            .await
            .unwrap();
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        match within(ws.next()).await {
            Some(Ok(WsMessage::Text(t))) => assert!(t.starts_with("tick ")),
            Some(Ok(WsMessage::Close(frame))) => panic!("closed while alive: {frame:?}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_panic_after_close_is_logged_and_counted() {
    let server = TestServer::start(app()).await;
    // A client that reads the close frame but never answers it: the handler panics
    // while the server is still waiting for the reply.
    let (mut tcp, rest) = raw_upgrade(server.addr, "/close-then-panic").await;
    assert_eq!(
        raw_read_close(&mut tcp, rest).await,
        Some((1000, "bye".into()))
    );
    wait_until("the panic is counted", || {
        server.metrics().handler_panics == 1
    })
    .await;
}

#[tokio::test]
async fn a_guard_that_never_decides_gets_503_even_after_a_refusal_on_the_same_connection() {
    let server = TestServer::start(app()).await;
    // Fresh connection.
    let r = raw_request(server.addr, &upgrade_request("/hang", "", &[])).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (503, "the handshake was not decided in time")
    );
    // Keep-alive: a refusal first, then a guard that hangs.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&upgrade_request("/refuse", "", &[]))
        .await
        .unwrap();
    assert_eq!(read_response(&mut tcp).await.status, 401);
    tcp.write_all(&upgrade_request("/hang", "", &[]))
        .await
        .unwrap();
    assert_eq!(read_response(&mut tcp).await.status, 503);
    // Through the TestClient: the same answer.
    let client = wsframe::testing::TestClient::new(app()).unwrap();
    let err = client.connect("/hang").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 503);
}

/// The handler runs inline, in its connection's task: while that task waits for a
/// socket that cannot take more (a client that does not read), the handler must run on.
#[tokio::test]
async fn a_handler_runs_on_while_its_socket_is_blocked() {
    let (go, done) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (go_in, done_in) = (go.clone(), done.clone());
    let app = App::new()
        .config(Config::default().limits(Limits::default().idle_timeout(Duration::from_secs(120))))
        .websocket("/blocked", move |ws: WebSocket| {
            let (go, done) = (go_in.clone(), done_in.clone());
            async move {
                // More than loopback's socket buffers hold: the write blocks.
                ws.send_bytes(vec![0u8; 32 << 20]).await?;
                go.notified().await;
                done.notify_one();
                std::future::pending::<wsframe::Result<()>>().await
            }
        });
    let server = TestServer::start(app).await;
    let (tcp, _) = raw_upgrade(server.addr, "/blocked").await;
    within(tcp.readable()).await.unwrap();
    wait_until("the write is under way", || {
        server.metrics().queued_bytes > 0
    })
    .await;
    go.notify_one();
    // Without the handler being polled during the blocked write, it would wait for the
    // write to give up (the idle timeout, 120 s).
    tokio::time::timeout(Duration::from_secs(30), done.notified())
        .await
        .expect("the handler ran while its socket was blocked");
    assert!(
        server.metrics().queued_bytes > 0,
        "the client read nothing: the write is still blocked"
    );
    drop(tcp);
}

async fn assert_still_serving(server: &TestServer) {
    let mut ws = connect(server.addr, "/echo").await;
    ws.send(WsMessage::text("still serving?")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("still serving?")
    );
}
