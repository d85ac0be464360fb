use wsframe::prelude::*;

#[websocket("/ws/<id>")]
async fn chat(id: u64, ws: WebSocket) {}

fn main() {}
