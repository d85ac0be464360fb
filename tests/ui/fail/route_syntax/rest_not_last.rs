use wsframe::prelude::*;

#[websocket("/files/<path..>/raw")]
async fn files(ws: WebSocket, path: String) {}

fn main() {}
