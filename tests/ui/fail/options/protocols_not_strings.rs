use wsframe::prelude::*;

#[websocket("/ws", protocols = ["chat", 2])]
async fn chat(ws: WebSocket) {}

fn main() {}
