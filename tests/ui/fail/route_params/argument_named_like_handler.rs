use wsframe::prelude::*;

#[websocket("/rooms/<room>")]
async fn room(ws: WebSocket, room: String) {}

fn main() {}
