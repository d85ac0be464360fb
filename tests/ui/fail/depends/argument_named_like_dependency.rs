use wsframe::prelude::*;

#[dependency]
async fn token() -> String {
    String::new()
}

#[websocket("/ws")]
async fn chat(ws: WebSocket, #[depends(token)] token: String) {}

fn main() {}
