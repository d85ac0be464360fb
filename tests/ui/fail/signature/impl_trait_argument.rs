use wsframe::prelude::*;

#[websocket("/ws")]
async fn chat(_ws: WebSocket, _guard: impl FromHandshake) {}

fn main() {}
