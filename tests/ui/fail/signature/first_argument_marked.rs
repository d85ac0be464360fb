use wsframe::prelude::*;

#[websocket("/ws")]
async fn chat(#[query] token: String) {}

fn main() {}
