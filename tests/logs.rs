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

/// Ends with `?` on the client's bad JSON: the client's fault, a debug line at most.
async fn reads_a_number(mut ws: wsframe::TypedWebSocket<u32, u32>) -> wsframe::Result<()> {
    let n = ws.receive().await?;
    ws.send(&n).await
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

    // A client's bad JSON closes with 1007 and is no error of the server's.
    let typed_client = TestClient::new(App::new().websocket("/number", reads_a_number)).unwrap();
    let mut ws = typed_client.connect("/number").await.unwrap();
    ws.send_text("\"not a number\"").await.unwrap();
    assert_eq!(
        ws.receive_close().await.unwrap().code.map(|c| c.0),
        Some(1007)
    );

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
    let bad_json: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("invalid JSON message"))
        .collect();
    assert!(
        bad_json.len() == 1
            && bad_json[0].contains(" DEBUG ")
            && bad_json[0].contains("a message the client got wrong"),
        "the client's bad JSON is logged once, at debug level:\n{logs}"
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
