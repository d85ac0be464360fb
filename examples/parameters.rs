//! The seed's "WebSocket with Parameters": a typed path parameter, an optional query
//! parameter and a dependency; sends `Client {client_id} connected`.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::prelude::*;

/// `get_token` in the seed: the token from the query, or 401.
#[dependency]
async fn get_token(#[query] token: Option<String>) -> Result<String, Rejection> {
    token.ok_or_else(|| Rejection::unauthorized("missing query parameter `token`"))
}

#[websocket("/ws/<client_id>?<q>")]
async fn websocket_endpoint(
    mut ws: WebSocket,
    client_id: u64,
    q: Option<String>,
    #[depends(get_token)] _token: String,
) -> wsframe::Result<()> {
    ws.accept().await?;
    if let Some(q) = q {
        println!("q = {q}");
    }
    ws.send_text(format!("Client {client_id} connected")).await
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
