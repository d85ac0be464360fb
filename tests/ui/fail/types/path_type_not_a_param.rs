use wsframe::prelude::*;

struct Room;

#[websocket("/ws/<room>")]
async fn chat(_ws: WebSocket, room: Room) {
    drop(room);
}

fn main() {}
