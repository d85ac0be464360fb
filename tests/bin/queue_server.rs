//! A server run as a child process by `tests/queue.rs`, so that its memory (RSS) can be
//! measured apart from the test's clients.
//!
//! - `/feed` (WebSocket): joins the room `feed`, then only waits for the client's close.
//! - `/publish` (GET): broadcasts 8 fresh 1 MiB binary messages to `feed` and answers
//!   with how many recipients the first one reached.
//!
//! Its listening socket has a 16 KiB send buffer, which accepted sockets inherit.
//! - `/members` (GET): the number of members of `feed`.
//! - `/metrics` (GET): the counters in Prometheus' text format.
//!
//! Hub messages that do not fit are dropped (`SlowConsumer::DropNewest`), so a client
//! that stops reading keeps a full queue instead of being closed. It prints
//! `listening on <addr>` once it accepts connections.

use wsframe::{App, Hub, Message, SlowConsumer, WebSocket};

/// Messages per `/publish`, and their size.
const PER_PUBLISH: usize = 8;
const MESSAGE: usize = 1 << 20;

async fn feed(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("feed", &ws);
    while ws.receive().await.is_ok() {}
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> wsframe::Result<()> {
    let app = App::new();
    let hub = app.hub();
    hub.set_policy(SlowConsumer::DropNewest);
    let (publisher, counter) = (hub.clone(), hub);
    let app = app
        .websocket("/feed", feed)
        .get("/publish", move |_| {
            let hub = publisher.clone();
            async move {
                let room = hub.room("feed");
                // A fresh payload each time, as distinct messages would be.
                let reached: Vec<usize> = (0..PER_PUBLISH)
                    .map(|_| room.broadcast(Message::binary(vec![7u8; MESSAGE])))
                    .collect();
                format!("reached {}", reached[0])
            }
        })
        .get("/members", move |_| {
            let count = counter.room("feed").count();
            async move { count.to_string() }
        })
        .metrics_route("/metrics");
    // A small send buffer (accepted sockets inherit it), so that the kernel holds little
    // of what is sent to a client that stops reading, on any host's TCP settings.
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_send_buffer_size(16 << 10)?;
    socket.bind("127.0.0.1:0".parse().expect("an address"))?;
    let server = app.listen(socket.listen(1024)?)?;
    println!("listening on {}", server.local_addr());
    server.run().await
}
