use wsframe::prelude::*;

// Every mistake of one attribute is reported in one compile.
#[websocket("ws/<a b>/<rest..>/x?q")]
async fn chat(ws: WebSocket) {}

fn main() {}
