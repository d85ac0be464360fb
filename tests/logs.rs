//! Query strings (which often carry tokens) never reach the logs, while the
//! connection's span (id, route, peer, and the client a trusted proxy vouched for) does.

use std::io::Write;
use std::sync::{Arc, Mutex};

use wsframe::testing::TestClient;
use wsframe::{App, WebSocket};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn fails(mut ws: WebSocket) -> wsframe::Result<()> {
    ws.accept().await?;
    Err(wsframe::Error::custom("deliberate failure"))
}

async fn joins_before_accepting(mut ws: WebSocket, hub: wsframe::Hub) -> wsframe::Result<()> {
    let joined = hub.join("lobby", &ws);
    ws.accept().await?;
    ws.send_text(format!("joined: {joined}")).await
}

async fn fails_early(_ws: WebSocket) -> wsframe::Result<()> {
    Err(wsframe::Error::custom("failure before accept"))
}

#[tokio::test]
async fn tokens_in_query_strings_are_not_logged() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let client = TestClient::new(
        App::new()
            .websocket("/ws/<room>", fails)
            .websocket("/early", fails_early),
    )
    .unwrap();
    let mut ws = client
        .connect("/ws/lobby?token=SECRET-TOKEN-123")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_close().await.unwrap().code.map(|c| c.0),
        Some(1011)
    );
    let err = client
        .connect("/early?token=SECRET-TOKEN-456")
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 500);

    // Joining a room before accepting is refused, and said so in the logs.
    let hub_client =
        TestClient::new(App::new().websocket("/early-join", joins_before_accepting)).unwrap();
    let mut ws = hub_client.connect("/early-join").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "joined: false");

    // Behind a trusted proxy the span also names the client the proxy forwarded for.
    let config = wsframe::Config::default().trust_proxy(
        "127.0.0.1".parse::<wsframe::ProxyNet>().unwrap(),
        wsframe::ProxyHeader::XForwardedFor,
    );
    let proxied =
        TestClient::new(App::new().config(config).websocket("/ws/<room>", fails)).unwrap();
    let mut ws = proxied
        .connect("/ws/proxied")
        .header("x-forwarded-for", "203.0.113.9")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_close().await.unwrap().code.map(|c| c.0),
        Some(1011)
    );

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("client=203.0.113.9"), "{logs}");
    assert!(
        logs.contains(
            "hub.join() on a connection not accepted yet is ignored; call ws.accept().await first"
        ),
        "{logs}"
    );
    assert_eq!(
        logs.matches("client=").count(),
        1,
        "client= only when it differs from the peer:\n{logs}"
    );
    assert!(
        logs.contains("deliberate failure") && logs.contains("failure before accept"),
        "{logs}"
    );
    assert!(logs.contains("route=/ws/<room>"), "{logs}");
    assert!(
        !logs.contains("SECRET-TOKEN"),
        "a token reached the logs:\n{logs}"
    );
}
