use wsframe::prelude::*;

struct User;

async fn chat(_ws: WebSocket, _user: User) {}

fn main() {
    let _app = App::new().websocket("/ws", chat);
}
