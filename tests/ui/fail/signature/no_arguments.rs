use wsframe::prelude::*;

#[websocket("/ws")]
async fn chat() {}

fn main() {}
