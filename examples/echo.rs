//! Echo server: `/ws` echoes text and binary messages unchanged with the default limits
//! (1 MiB messages); `/ws/large` does the same with a 64 MiB message and 16 MiB frame
//! limit (Autobahn's section 9 sends messages of up to 16 MiB). `/health` answers `ok`.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::prelude::*;

async fn echo_messages(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

#[websocket("/ws")]
async fn echo(ws: WebSocket) -> wsframe::Result<()> {
    echo_messages(ws).await
}

#[websocket("/ws/large", max_message_size = 64 << 20, max_frame_size = 16 << 20)]
async fn echo_large(ws: WebSocket) -> wsframe::Result<()> {
    echo_messages(ws).await
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("WSFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    app().serve(addr).await
}

/// The echo app (tests include this file and serve the same app).
pub fn app() -> App {
    App::new()
        .routes(routes![echo, echo_large])
        .get("/health", |_req| async { "ok" })
}
