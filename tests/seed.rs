//! The seed's four snippets (FastAPI's WebSockets page) as wsframe examples, checked
//! with the seed's exact texts — through the TestClient and over real TCP.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::testing::TestClient;
use wsframe::{CloseCode, dependency};
use wsframe_tests::*;

#[path = "../examples/auth.rs"]
mod auth;
#[path = "../examples/basic.rs"]
mod basic;
#[path = "../examples/methods.rs"]
mod methods;
#[path = "../examples/parameters.rs"]
mod parameters;

#[tokio::test]
async fn basic_answers_message_received() {
    let client = TestClient::new(basic::app()).unwrap();
    let mut ws = client.connect("/ws").await.unwrap();
    for text in ["hello", "second"] {
        ws.send_text(text).await.unwrap();
        assert_eq!(
            ws.receive_text().await.unwrap(),
            format!("Message received: {text}")
        );
    }

    let server = TestServer::start(basic::app()).await;
    let mut ws = connect(server.addr, "/ws").await;
    ws.send(WsMessage::text("over tcp")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("Message received: over tcp")
    );
}

#[tokio::test]
async fn methods_receive_three_kinds_send_three_kinds_then_close_1000() {
    let client = TestClient::new(methods::app()).unwrap();
    let mut ws = client.connect("/ws").await.unwrap();
    ws.send_text("some text").await.unwrap();
    ws.send_bytes(vec![1u8, 2, 3]).await.unwrap();
    ws.send_json(&serde_json::json!({"n": 1})).await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Hello");
    assert_eq!(&ws.receive_bytes().await.unwrap()[..], b"bytes");
    assert_eq!(
        ws.receive_json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message": "hello"})
    );
    assert_eq!(
        ws.receive_close().await.unwrap().code,
        Some(CloseCode::NORMAL)
    );
}

#[tokio::test]
async fn parameters_client_connected_and_bad_input_rejected() {
    let client = TestClient::new(parameters::app()).unwrap();
    let mut ws = client.connect("/ws/42?q=x&token=t").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Client 42 connected");

    let err = client.connect("/ws/forty-two?token=t").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 400);
    assert!(err.to_string().contains("client_id"), "{err}");
    let err = client.connect("/ws/42").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
}

/// The test double for the seed's `get_cookie_or_token`.
#[dependency]
async fn fake_cookie_or_token() -> String {
    "fake-session".to_owned()
}

#[tokio::test]
async fn auth_a_test_double_replaces_get_cookie_or_token_for_its_client_only() {
    let client = TestClient::new(auth::app())
        .unwrap()
        .override_dependency(auth::get_cookie_or_token, fake_cookie_or_token);
    // Neither cookie nor token, which the real dependency refuses with 403.
    let mut ws = client.connect("/ws").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Session: fake-session");
    let mut ws = client.connect("/ws?token=t0k").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Session: fake-session");

    // Another client of the same app has no double.
    let other = TestClient::new(auth::app()).unwrap();
    let err = other.connect("/ws").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 403);
}

#[tokio::test]
async fn auth_session_cookie_or_token_else_rejected() {
    let client = TestClient::new(auth::app()).unwrap();
    let mut ws = client
        .connect("/ws")
        .cookie("session", "abc")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Session: abc");
    let mut ws = client.connect("/ws?token=t0k").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Session: t0k");

    let err = client.connect("/ws").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 403);

    let server = TestServer::start(auth::app()).await;
    let r = raw_request(server.addr, &upgrade_request("/ws", "", &[])).await;
    assert_eq!(r.status, 403);
    let r = raw_request(
        server.addr,
        &upgrade_request("/ws", "Cookie: session=abc\r\n", &[]),
    )
    .await;
    assert_eq!(r.status, 101);
}
