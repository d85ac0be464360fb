use wsframe::prelude::*;

#[websocket("/ws")]
async fn chat(_ws: WebSocket) -> String {
    String::new()
}

fn main() {}
