use wsframe::prelude::*;

#[websocket("/ws", protocols)]
async fn chat(ws: WebSocket) {}

fn main() {}
