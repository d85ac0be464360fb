//! The seed's "WebSocket with Authentication": a cookie `session` or a query `token`
//! is required; the handler answers `Session: {cookie_or_token}`. Without either the
//! handshake is refused — the seed closes with 1008 before accepting, which Starlette
//! answers with HTTP 403; wsframe does the same.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::{App, Cookies, FromHandshake, HandshakeRequest, Rejection, WebSocket};

/// `get_cookie_or_token` in the seed.
struct CookieOrToken(String);

impl FromHandshake for CookieOrToken {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        let session = Cookies::from_handshake(req)
            .await
            .ok()
            .and_then(|c| c.get("session").map(str::to_string));
        session
            .or_else(|| req.query_param("token"))
            .map(CookieOrToken)
            .ok_or_else(|| {
                Rejection::forbidden("a `session` cookie or a `token` query parameter is required")
            })
    }
}

async fn websocket_endpoint(
    mut ws: WebSocket,
    CookieOrToken(cookie_or_token): CookieOrToken,
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
    App::new().websocket("/ws", websocket_endpoint)
}
