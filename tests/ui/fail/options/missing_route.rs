use wsframe::prelude::*;

#[websocket]
async fn chat(_ws: WebSocket) {}

fn main() {}
