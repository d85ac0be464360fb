use wsframe::prelude::*;

#[websocket("/ws", idle_timeout(Duration::from_secs(30)))]
async fn chat(ws: WebSocket) {}

fn main() {}
