//! The WebSocket handle end to end: over real TCP with tokio-tungstenite as the client,
//! and the same behaviours through the in-process TestClient.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use wsframe::testing::TestClient;
use wsframe::{
    Accept, App, CloseCode, Disconnect, Error, Route, RouteLimits, State, TypedWebSocket, WebSocket,
};
use wsframe_tests::*;

/// Where handlers report what they observed, for the test to assert on.
type Reports = mpsc::UnboundedSender<String>;

async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Point {
    x: i32,
    y: i32,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Command {
    Add { a: i64, b: i64 },
}

#[derive(Serialize)]
struct Sum {
    sum: i64,
}

async fn json(mut ws: WebSocket) -> wsframe::Result<()> {
    let mut p: Point = ws.receive_json().await?;
    p.x += 1;
    ws.send_json(&p).await
}

async fn typed(mut ws: TypedWebSocket<Command, Sum>) -> wsframe::Result<()> {
    loop {
        match ws.receive().await {
            Ok(Command::Add { a, b }) => ws.send(&Sum { sum: a + b }).await?,
            Err(Error::InvalidMessage(_)) => {
                ws.close(CloseCode::UNSUPPORTED_DATA, "bad command").await?
            }
            Err(e) => return Err(e),
        }
    }
}

/// Lets `?` end the handler on a message it cannot read: the client's fault, not ours.
async fn typed_strict(mut ws: TypedWebSocket<Command, Sum>) -> wsframe::Result<()> {
    loop {
        let Command::Add { a, b } = ws.receive().await?;
        ws.send(&Sum { sum: a + b }).await?;
    }
}

/// `receive_text()?` on a binary message: also the client's fault.
async fn text_or_bust(mut ws: WebSocket) -> wsframe::Result<()> {
    loop {
        let text = ws.receive_text().await?;
        ws.send_text(text).await?;
    }
}

async fn report_disconnect(
    mut ws: WebSocket,
    State(reports): State<Reports>,
) -> wsframe::Result<()> {
    loop {
        match ws.receive_text().await {
            Ok(_) => continue,
            Err(Error::Disconnected(Disconnect { code, reason })) => {
                let _ = reports.send(format!("{:?} {reason}", code.map(|c| c.0)));
                return Ok(());
            }
            Err(other) => {
                let _ = reports.send(format!("error: {other}"));
                return Ok(());
            }
        }
    }
}

async fn text_only(mut ws: WebSocket) -> wsframe::Result<()> {
    loop {
        match ws.receive_text().await {
            Ok(text) => ws.send_text(text).await?,
            Err(e @ Error::UnexpectedMessage { .. }) => ws.send_text(e.to_string()).await?,
            Err(e) => return Err(e),
        }
    }
}

/// Only sends, never receives: pings and the peer's close must still be handled.
async fn only_sends(ws: WebSocket, State(reports): State<Reports>) -> wsframe::Result<()> {
    for n in 0.. {
        if let Err(e) = ws.send_text(format!("tick {n}")).await {
            let _ = reports.send(match e.disconnect() {
                Some(d) => format!("{:?} {}", d.code.map(|c| c.0), d.reason),
                None => format!("error: {e}"),
            });
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Echo through the Stream/Sink halves, plus a clone of the sender in another task.
async fn halves(ws: WebSocket) -> wsframe::Result<()> {
    let (sender, receiver) = ws.split();
    let greeter = sender.clone();
    tokio::spawn(async move { greeter.send_text("from another task").await })
        .await
        .map_err(Error::custom)??;
    receiver.take(3).map(Ok).forward(sender).await
}

async fn explicit_protocol(mut ws: WebSocket) -> wsframe::Result<()> {
    let wanted = if ws.offered_protocols().iter().any(|p| p == "special") {
        "special"
    } else {
        "missing"
    };
    if ws
        .accept_with(Accept::new().protocol(wanted).header("x-server", "wsframe"))
        .await
        .is_err()
    {
        ws.accept().await?;
    }
    let protocol = ws.protocol().unwrap_or("none").to_string();
    ws.send_text(protocol).await
}

/// Sends 2,000 messages of 1 KiB as fast as it can: far more than the queue and the
/// socket buffers hold, so its sends must wait for the client.
async fn flood(ws: WebSocket) -> wsframe::Result<()> {
    for i in 0..2000 {
        ws.send_text(format!("{i:04} {}", "x".repeat(1019))).await?;
    }
    ws.close(CloseCode::NORMAL, "all sent").await
}

fn app(reports: Reports) -> App {
    App::new()
        .state(reports)
        .websocket("/flood", flood)
        .websocket("/echo", echo)
        .websocket("/json", json)
        .websocket("/typed", typed)
        .websocket("/typed-strict", typed_strict)
        .websocket("/text-or-bust", text_or_bust)
        .websocket("/disconnect", report_disconnect)
        .websocket("/text-only", text_only)
        .websocket("/only-sends", only_sends)
        .websocket("/halves", halves)
        .route(Route::websocket("/chat", echo).protocols(["chat.v2", "chat.v1"]))
        .route(Route::websocket("/explicit", explicit_protocol).protocols(["chat.v1"]))
        .route(
            Route::websocket("/idle", echo).limits(
                RouteLimits::new()
                    .ping_interval(Duration::from_millis(100))
                    .idle_timeout(Duration::from_millis(400)),
            ),
        )
}

fn reports() -> (Reports, mpsc::UnboundedReceiver<String>) {
    mpsc::unbounded_channel()
}

#[tokio::test]
async fn echoes_text_and_binary_over_tcp() {
    let (tx, _rx) = reports();
    let server = TestServer::start(app(tx)).await;
    let mut ws = connect(server.addr, "/echo").await;
    for message in [
        WsMessage::text("hello"),
        WsMessage::text(""),
        WsMessage::binary(vec![0u8, 1, 2, 255]),
        WsMessage::text("é".repeat(40_000)),
    ] {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(within(ws.next()).await.unwrap().unwrap(), message);
    }
    let m = server.metrics();
    assert_eq!(
        (m.connections_open, m.messages_in, m.messages_out),
        (1, 4, 4)
    );
}

#[tokio::test]
async fn json_and_typed_messages() {
    let (tx, _rx) = reports();
    let server = TestServer::start(app(tx.clone())).await;
    let mut ws = connect(server.addr, "/json").await;
    ws.send(WsMessage::text(r#"{"x":1,"y":2}"#)).await.unwrap();
    let reply = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(
        serde_json::from_str::<Point>(reply.to_text().unwrap()).unwrap(),
        Point { x: 2, y: 2 }
    );

    let client = TestClient::new(app(tx)).unwrap();
    let mut ws = client.connect("/typed").await.unwrap();
    ws.send_text(r#"{"op":"add","a":2,"b":40}"#).await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), r#"{"sum":42}"#);
    ws.send_text("not json").await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (Some(CloseCode::UNSUPPORTED_DATA), "bad command")
    );
}

#[tokio::test]
async fn a_clients_bad_json_closes_with_1007_and_the_serde_error() {
    let (tx, _rx) = reports();
    let server = TestServer::start(app(tx.clone())).await;
    let mut ws = connect(server.addr, "/typed-strict").await;
    ws.send(WsMessage::text(r#"{"op":"add","a":2,"b":40}"#))
        .await
        .unwrap();
    let reply = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(reply.to_text().unwrap(), r#"{"sum":42}"#);
    let bad = r#"{"op":"add","a":2}"#;
    ws.send(WsMessage::text(bad)).await.unwrap();
    let (_, close) = read_until_close(&mut ws).await;
    let serde_error = serde_json::from_str::<Command>(bad)
        .err()
        .unwrap()
        .to_string();
    assert_eq!(close, Some((1007, serde_error)));
    assert_eq!(server.metrics().handler_panics, 0);

    // Through the TestClient, and for a message of the wrong kind: 1003.
    let client = TestClient::new(app(tx)).unwrap();
    let mut ws = client.connect("/text-or-bust").await.unwrap();
    ws.send_bytes(vec![1u8, 2]).await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (
            Some(CloseCode::UNSUPPORTED_DATA),
            "expected a text message, received a binary message"
        )
    );
}

#[tokio::test]
async fn disconnect_carries_the_peers_code_and_reason() {
    let (tx, mut rx) = reports();
    let server = TestServer::start(app(tx.clone())).await;
    let mut ws = connect(server.addr, "/disconnect").await;
    ws.close(Some(CloseFrame {
        code: 4001.into(),
        reason: "bye now".into(),
    }))
    .await
    .unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "Some(4001) bye now");
    // The server echoes the close and closes TCP; the client sees a clean end.
    let (_, _) = read_until_close(&mut ws).await;

    let client = TestClient::new(app(tx)).unwrap();
    let mut ws = client.connect("/disconnect").await.unwrap();
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "Some(1000) done");
}

#[tokio::test]
async fn a_vanished_client_is_a_disconnect_without_code() {
    let (tx, mut rx) = reports();
    let server = TestServer::start(app(tx)).await;
    let ws = connect(server.addr, "/disconnect").await;
    drop(ws);
    assert_eq!(within(rx.recv()).await.unwrap(), "None connection lost");
    wait_until("the connection is released", || {
        server.metrics().connections_open == 0
    })
    .await;
}

#[tokio::test]
async fn receive_text_on_binary_is_a_clear_error() {
    let (tx, _rx) = reports();
    let client = TestClient::new(app(tx)).unwrap();
    let mut ws = client.connect("/text-only").await.unwrap();
    ws.send_bytes(vec![1u8, 2, 3]).await.unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        "expected a text message, received a binary message"
    );
    ws.send_text("still open").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "still open");
}

#[tokio::test]
async fn pings_are_answered_and_close_noticed_while_the_handler_only_sends() {
    let (tx, mut rx) = reports();
    let server = TestServer::start(app(tx)).await;
    let mut ws = connect(server.addr, "/only-sends").await;
    ws.send(WsMessage::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match within(ws.next()).await.unwrap().unwrap() {
            WsMessage::Pong(payload) => break payload,
            WsMessage::Text(t) => assert!(t.starts_with("tick ")),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"are you there");
    ws.close(Some(CloseFrame {
        code: 4002.into(),
        reason: "stop".into(),
    }))
    .await
    .unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), "Some(4002) stop");
}

#[tokio::test]
async fn split_halves_are_stream_and_sink_and_the_sender_clones_into_tasks() {
    let (tx, _rx) = reports();
    let client = TestClient::new(app(tx)).unwrap();
    let mut ws = client.connect("/halves").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "from another task");
    for text in ["a", "b", "c"] {
        ws.send_text(text).await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), text);
    }
    assert_eq!(
        ws.receive_close().await.unwrap().code,
        Some(CloseCode::NORMAL)
    );
}

#[tokio::test]
async fn subprotocol_negotiation() {
    let (tx, _rx) = reports();
    let server = TestServer::start(app(tx.clone())).await;
    // The first protocol the client offers that the route supports.
    let offer = "Sec-WebSocket-Protocol: chat.v1, chat.v2\r\n";
    let r = raw_request(server.addr, &upgrade_request("/chat", offer, &[])).await;
    assert_eq!(
        (r.status, r.header("sec-websocket-protocol")),
        (101, Some("chat.v1"))
    );
    // No match: none selected.
    let r = raw_request(
        server.addr,
        &upgrade_request("/chat", "Sec-WebSocket-Protocol: mqtt\r\n", &[]),
    )
    .await;
    assert_eq!((r.status, r.header("sec-websocket-protocol")), (101, None));

    let client = TestClient::new(app(tx)).unwrap();
    let ws = client
        .connect("/chat")
        .protocols(["chat.v2", "chat.v1"])
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v2"));
    // The handler names an offered protocol explicitly, with an extra header.
    let mut ws = client
        .connect("/explicit")
        .protocols(["chat.v1", "special"])
        .await
        .unwrap();
    assert_eq!(
        (
            ws.protocol(),
            ws.headers().get("x-server").map(|v| v.to_str().unwrap())
        ),
        (Some("special"), Some("wsframe"))
    );
    assert_eq!(ws.receive_text().await.unwrap(), "special");
    // Naming one the client did not offer is an error; the handler falls back.
    let mut ws = client
        .connect("/explicit")
        .protocols(["chat.v1"])
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("chat.v1"));
    assert_eq!(ws.receive_text().await.unwrap(), "chat.v1");
}

#[tokio::test]
async fn a_silent_peer_is_pinged_then_closed_and_a_live_one_stays() {
    let (tx, _rx) = reports();
    let server = TestServer::start(app(tx)).await;

    // A client that keeps reading answers pings (tungstenite does it) and stays open
    // well past the idle timeout.
    let mut live = connect(server.addr, "/idle").await;
    let started = tokio::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1200) {
        if let Ok(Some(Ok(WsMessage::Ping(_)))) =
            tokio::time::timeout(Duration::from_millis(50), live.next()).await
        {
            pings += 1;
        }
    }
    assert!(pings >= 2, "expected server pings, saw {pings}");
    live.send(WsMessage::text("still here")).await.unwrap();
    let reply = loop {
        match within(live.next()).await.unwrap().unwrap() {
            WsMessage::Text(t) => break t,
            _ => continue,
        }
    };
    assert_eq!(reply, "still here");

    // A raw client that never answers: ping, then close 1001 "idle timeout".
    let (mut tcp, rest) = raw_upgrade(server.addr, "/idle").await;
    assert_eq!(
        raw_read_close(&mut tcp, rest).await,
        Some((1001, "idle timeout".into()))
    );
}

#[tokio::test]
async fn handler_sends_wait_for_room_and_are_never_dropped() {
    let (tx, _rx) = reports();
    let config = wsframe::Config::default().outgoing_queue(4);
    let client = TestClient::new(app(tx).config(config)).unwrap();
    let mut ws = client.connect("/flood").await.unwrap();
    for i in 0..2000 {
        let text = ws.receive_text().await.unwrap();
        assert_eq!(
            &text[..4],
            format!("{i:04}"),
            "message {i} out of order or lost"
        );
    }
    let close = ws.receive_close().await.unwrap();
    assert_eq!(close.reason, "all sent");
}
