use wsframe::prelude::*;

struct User;

#[websocket("/ws")]
async fn chat(_user: User) {}

fn main() {}
