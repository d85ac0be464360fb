use wsframe::prelude::*;

#[websocket("/chat room/<id>")]
async fn chat(ws: WebSocket, id: u64) {}

fn main() {}
