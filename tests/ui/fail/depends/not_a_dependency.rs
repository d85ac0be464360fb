use wsframe::prelude::*;

async fn get_token() -> String {
    String::new()
}

#[websocket("/ws")]
async fn chat(_ws: WebSocket, #[depends(get_token)] _token: String) {}

fn main() {}
