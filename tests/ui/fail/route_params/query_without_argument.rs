use wsframe::prelude::*;

#[websocket("/search?<q>&<page>")]
async fn search(ws: WebSocket, q: Option<String>) {}

fn main() {}
