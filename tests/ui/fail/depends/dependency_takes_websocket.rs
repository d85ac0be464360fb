use wsframe::prelude::*;

#[dependency]
async fn get_token(_ws: WebSocket) -> String {
    String::new()
}

fn main() {}
