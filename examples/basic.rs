//! The seed's "Basic WebSocket": every text comes back as `Message received: {data}`.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::prelude::*;

#[websocket("/ws")]
async fn websocket_endpoint(mut ws: WebSocket) -> wsframe::Result<()> {
    ws.accept().await?;
    loop {
        match ws.receive_text().await {
            Ok(data) => ws.send_text(format!("Message received: {data}")).await?,
            Err(Error::Disconnected(_)) => {
                println!("Client disconnected");
                return Ok(());
            }
            Err(other) => return Err(other),
        }
    }
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
