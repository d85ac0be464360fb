use wsframe::prelude::*;

#[websocket("/ws/<>")]
async fn chat(ws: WebSocket) {}

fn main() {}
