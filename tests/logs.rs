//! Query strings (which often carry tokens) never reach the logs, while the
//! connection's span (id, route, peer) does.

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

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
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
