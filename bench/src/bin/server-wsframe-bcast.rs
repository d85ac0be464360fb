//! wsframe broadcast: `/sub` joins the room `all`; `/pub` broadcasts every text it
//! receives to the room through the hub (encoded once, queued to every subscriber).
//! usage: server-wsframe-bcast ADDR
use wsframe::prelude::*;

#[websocket("/sub")]
async fn sub(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("all", &ws);
    while ws.receive().await.is_ok() {}
    Ok(())
}

#[websocket("/pub")]
async fn publish(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    let room = hub.room("all");
    while let Ok(message) = ws.receive().await {
        room.broadcast(message);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9005".into());
    let config = wsframe::Config::default().max_connections(19_000);
    App::new().config(config).routes(routes![sub, publish]).serve(addr).await
}
