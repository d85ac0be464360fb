use wsframe::prelude::*;

#[websocket("/ws", max_mesage_size = 1024)]
async fn chat(ws: WebSocket) {}

fn main() {}
