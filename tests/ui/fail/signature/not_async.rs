use wsframe::prelude::*;

#[websocket("/ws")]
fn chat(ws: WebSocket) {}

fn main() {}
