//! wsframe broadcast: `/sub` joins the room `all`; `/pub` broadcasts every text it
//! receives to the room through the hub (encoded once, queued to every subscriber).
//! With `REDIS_URL` set, the node joins the others on that Redis (the redis-3node
//! scenario: publisher and subscribers on different nodes).
//! It also serves `/ws` (echo), so that the soak (bench/soak) drives churn, echo and
//! broadcast against one process.
//! usage: server-wsframe-bcast ADDR
use wsframe::prelude::*;

#[websocket("/ws")]
async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

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

// `bench/soak --dhat`: every allocation goes through dhat, which writes dhat-heap.json
// (and prints the bytes still live) when main returns after SIGTERM.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    #[cfg(feature = "dhat-heap")]
    let _profiler = dhat::Profiler::new_heap();
    #[cfg(feature = "dhat-heap")]
    tokio::spawn(async {
        // The soak reads these lines: bytes and blocks live now, every 5 s.
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            let stats = dhat::HeapStats::get();
            eprintln!("heap {} {}", stats.curr_bytes, stats.curr_blocks);
        }
    });
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9005".into());
    // Like the obvious pattern's broadcast(1024): a subscriber that falls 1024 messages
    // behind loses the oldest (the default policy would close it with 1013 instead).
    let config = wsframe::Config::default().max_connections(19_000).outgoing_queue(1024);
    let mut app = App::new().config(config).routes(routes![sub, publish, echo]);
    app.hub().set_policy(wsframe::SlowConsumer::DropOldest);
    if let Ok(url) = std::env::var("REDIS_URL") {
        app = app.backplane(wsframe::backplane::RedisBackplane::new(&url)?.prefix("bench"));
    }
    app.serve(addr).await
}
