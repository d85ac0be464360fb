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

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9003".into());
    let config = wsframe::Config::default().max_connections(19_000);
    App::new().config(config).route(echo).serve(addr).await
}
