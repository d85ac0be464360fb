use wsframe::prelude::*;

struct RequireAdmin;

#[websocket("/ws", guards(RequireAdmin))]
async fn chat(_ws: WebSocket) {}

fn main() {}
