use wsframe::prelude::*;

#[websocket("/ws/room-<id>")]
async fn chat(ws: WebSocket, id: u64) {}

fn main() {}
