//! Scale-out: the chat example on several nodes that share rooms through Redis. Start
//! a Redis server and two nodes, then open both pages: the tabs chat together.
//!
//! ```sh
//! redis-server --port 6379 --save '' --appendonly no
//! WSFRAME_ADDR=127.0.0.1:8080 cargo run --example scale_out
//! WSFRAME_ADDR=127.0.0.1:8081 cargo run --example scale_out
//! curl -s http://127.0.0.1:8081/metrics | grep backplane
//! ```
//!
//! `REDIS_URL` sets the server (default `redis://127.0.0.1:6379`). The app is the chat
//! example's, unchanged: scaling out is the one `backplane` line below. Each node
//! serves its counters at `/metrics` (Prometheus' text format), among them
//! `wsframe_backplane_received_total`: what this node received from the others (only
//! the rooms it has members in).

use wsframe::App;
use wsframe::backplane::RedisBackplane;

// The chat app itself (its own `main` is not used here).
#[allow(dead_code)]
#[path = "chat.rs"]
mod chat;

#[allow(dead_code)] // tests include this file and start nodes of their own
#[tokio::main]
async fn main() -> wsframe::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("WSFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    println!("chat node on http://{addr}/, sharing rooms through {redis}");
    app(&redis)?.serve(addr).await
}

/// A chat node on the Redis server at `redis` (tests include this file).
pub fn app(redis: &str) -> wsframe::Result<App> {
    let backplane = RedisBackplane::new(redis)?.prefix("chat");
    Ok(chat::app().backplane(backplane).metrics_route("/metrics"))
}
