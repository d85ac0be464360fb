use wsframe::prelude::*;

#[websocket("/ws/<id>")]
async fn chat(id: u64) {}

fn main() {}
