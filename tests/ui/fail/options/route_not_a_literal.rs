use wsframe::prelude::*;

const ROUTE: &str = "/ws";

#[websocket(ROUTE)]
async fn chat(ws: WebSocket) {}

fn main() {}
