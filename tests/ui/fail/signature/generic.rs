use wsframe::prelude::*;

#[websocket("/ws")]
async fn chat<T: Send>(ws: WebSocket) {}

fn main() {}
