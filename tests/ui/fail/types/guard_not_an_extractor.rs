use wsframe::prelude::*;

struct User;

#[websocket("/ws")]
async fn chat(_ws: WebSocket, _user: User) {}

fn main() {}
