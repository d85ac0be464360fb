use wsframe::prelude::*;

struct Chat;

impl Chat {
    #[websocket("/ws")]
    async fn chat(&self, ws: WebSocket) {}
}

fn main() {}
