use wsframe::prelude::*;

#[websocket("ws/<room>")]
async fn chat(ws: WebSocket, room: String) {}

fn main() {}
