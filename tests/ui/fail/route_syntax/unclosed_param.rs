use wsframe::prelude::*;

#[websocket("/ws/<client_id")]
async fn chat(ws: WebSocket, client_id: u64) {}

fn main() {}
