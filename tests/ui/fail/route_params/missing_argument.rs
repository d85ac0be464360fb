use wsframe::prelude::*;

#[websocket("/ws/<client_id>")]
async fn chat(ws: WebSocket) {}

fn main() {}
