use wsframe::prelude::*;

#[websocket("/ws", max_frame_size = 1024, max_frame_size = 2048)]
async fn chat(ws: WebSocket) {}

fn main() {}
