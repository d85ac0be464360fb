use wsframe::prelude::*;

#[websocket("/ws/<token>")]
async fn chat(ws: WebSocket, #[query] token: String) {}

fn main() {}
