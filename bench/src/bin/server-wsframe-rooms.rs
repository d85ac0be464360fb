//! wsframe rooms across nodes (the redis-8node scenario): `/sub?room=R` joins room R;
//! `/pub?room=R` broadcasts every text it receives to room R through the hub. Every
//! node shares rooms through the Redis at `REDIS_URL` and serves its counters at
//! `/metrics` (what it received from the backplane, among others). bench/run builds
//! this file against wsframe at `--baseline` too (a single channel for every node).
//! usage: server-wsframe-rooms ADDR
use wsframe::prelude::*;

#[websocket("/sub?<room>")]
async fn sub(mut ws: WebSocket, room: String, hub: Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join(&room, &ws);
    while ws.receive().await.is_ok() {}
    Ok(())
}

#[websocket("/pub?<room>")]
async fn publish(mut ws: WebSocket, room: String, hub: Hub) -> wsframe::Result<()> {
    let room = hub.room(&room);
    while let Ok(message) = ws.receive().await {
        room.broadcast(message);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9006".into());
    let config = wsframe::Config::default().outgoing_queue(1024);
    let mut app = App::new()
        .config(config)
        .routes(routes![sub, publish])
        .metrics_route("/metrics");
    app.hub().set_policy(wsframe::SlowConsumer::DropOldest);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    app = app.backplane(wsframe::backplane::RedisBackplane::new(&url)?.prefix("bench"));
    app.serve(addr).await
}
