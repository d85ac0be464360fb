//! The seed's "WebSocket Methods": receive a text, bytes and JSON, then send
//! `Hello`, `b"bytes"` and `{"message": "hello"}`, then close with 1000.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::prelude::*;

#[websocket("/ws")]
async fn websocket_endpoint(mut ws: WebSocket) -> wsframe::Result<()> {
    ws.accept().await?;

    // Receive data
    let text = ws.receive_text().await?;
    let data = ws.receive_bytes().await?;
    let json_data: serde_json::Value = ws.receive_json().await?;
    println!("received {text:?}, {} bytes, {json_data}", data.len());

    // Send data
    ws.send_text("Hello").await?;
    ws.send_bytes(&b"bytes"[..]).await?;
    ws.send_json(&serde_json::json!({"message": "hello"}))
        .await?;

    // Close connection
    ws.close(CloseCode::NORMAL, "").await
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::var("WSFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    app().serve(addr).await
}

/// The example's app (tests include this file and serve the same app).
pub fn app() -> App {
    App::new().route(websocket_endpoint)
}
