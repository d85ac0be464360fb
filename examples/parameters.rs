//! The seed's "WebSocket with Parameters": a typed path parameter, an optional query
//! parameter and a dependency; sends `Client {client_id} connected`.
//!
//! Until the `#[websocket]` attribute lands, parameters are extracted with small
//! guards written by hand (the attribute will generate the same code).
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::{App, FromHandshake, HandshakeRequest, Query, Rejection, WebSocket};

/// `client_id: int` in the seed: a `u64` path parameter; a bad value answers 400.
struct ClientId(u64);

impl FromHandshake for ClientId {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        req.params().parse("client_id").map(ClientId)
    }
}

/// `q: str | None = None` in the seed.
#[derive(serde::Deserialize)]
struct Q {
    q: Option<String>,
}

/// `token: str = Depends(get_token)` in the seed: the token from the query, or 401.
struct Token(String);

impl FromHandshake for Token {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        req.query_param("token")
            .map(Token)
            .ok_or_else(|| Rejection::unauthorized("missing query parameter `token`"))
    }
}

async fn websocket_endpoint(
    mut ws: WebSocket,
    ClientId(client_id): ClientId,
    Query(q): Query<Q>,
    Token(_token): Token,
) -> wsframe::Result<()> {
    ws.accept().await?;
    if let Some(q) = q.q {
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
    App::new().websocket("/ws/<client_id>", websocket_endpoint)
}
