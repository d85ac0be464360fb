//! wsframe: the echo route as a user writes it.
//! usage: server-wsframe ADDR
use wsframe::prelude::*;

#[websocket("/ws")]
async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

/// The guard of the handshake scenario: a token in the query.
struct Token;

impl FromHandshake for Token {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        match req.query_param("token").as_deref() {
            Some("t") => Ok(Token),
            _ => Err(Rejection::unauthorized("token required")),
        }
    }
}

/// The handshake scenario: route match, one guard, accept, then wait for the close.
#[websocket("/hs/<room>")]
async fn hs(mut ws: WebSocket, room: String, _token: Token) -> wsframe::Result<()> {
    ws.accept().await?;
    let _ = room;
    while ws.receive().await.is_ok() {}
    Ok(())
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".into());
    let config = wsframe::Config::default().max_connections(19_000);
    App::new().config(config).routes(routes![echo, hs]).serve(addr).await
}
