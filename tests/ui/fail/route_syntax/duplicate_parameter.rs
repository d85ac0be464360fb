use wsframe::prelude::*;

#[websocket("/ws/<id>/<id>")]
async fn chat(ws: WebSocket, id: u64) {}

fn main() {}
