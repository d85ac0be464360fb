//! The seed's "WebSocket with Authentication": a cookie `session` or a query `token`
//! is required; the handler answers `Session: {cookie_or_token}`. Without either the
//! handshake is refused — the seed closes with 1008 before accepting, which Starlette
//! answers with HTTP 403; wsframe does the same.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::prelude::*;

/// `get_cookie_or_token` in the seed.
#[dependency]
pub async fn get_cookie_or_token(
    #[cookie] session: Option<String>,
    #[query] token: Option<String>,
) -> Result<String, Rejection> {
    session.or(token).ok_or_else(|| {
        Rejection::forbidden("a `session` cookie or a `token` query parameter is required")
    })
}

/// Answers `Session: <cookie or token>` once, to an authenticated client.
#[websocket("/ws")]
async fn websocket_endpoint(
    mut ws: WebSocket,
    #[depends(get_cookie_or_token)] cookie_or_token: String,
) -> wsframe::Result<()> {
    ws.accept().await?;
    ws.send_text(format!("Session: {cookie_or_token}")).await
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::var("WSFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    app().serve(addr).await
}

/// The example's app (tests include this file and serve the same app).
pub fn app() -> App {
    App::new()
        .info(wsframe::asyncapi::Info::new(
            "Authentication",
            env!("CARGO_PKG_VERSION"),
        ))
        .route(websocket_endpoint)
        .asyncapi_route("/asyncapi.json")
        .docs_route("/docs")
}
