use wsframe::prelude::*;

#[websocket("/ws")]
async fn chat(ws: WebSocket, other: WebSocket) {}

fn main() {}
