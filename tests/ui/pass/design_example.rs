//! The handler of DESIGN.md's "What a user writes" (the hub arrives later), compiled
//! under `#![deny(warnings)]`.
#![deny(warnings)]

use wsframe::prelude::*;

struct User;

impl FromHandshake for User {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        req.header("authorization")
            .map(|_| User)
            .ok_or_else(|| Rejection::unauthorized("who are you?"))
    }
}

#[dependency]
async fn get_cookie_or_token(
    #[cookie] session: Option<String>,
    #[query] token: Option<String>,
) -> Result<String, Rejection> {
    session
        .or(token)
        .ok_or_else(|| Rejection::forbidden("no session"))
}

#[websocket("/ws/<client_id>?<q>")]
async fn chat(
    mut ws: WebSocket,
    client_id: u64,
    q: Option<String>,
    _user: User,
    #[depends(get_cookie_or_token)] token: String,
) -> wsframe::Result<()> {
    ws.accept().await?;
    while let Ok(text) = ws.receive_text().await {
        ws.send_text(format!("Client #{client_id}: {text} ({q:?}, {token})"))
            .await?;
    }
    Ok(())
}

#[websocket("/echo")]
async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

fn main() {
    let _app = App::new().routes(routes![chat, echo]);
    let _app = App::new().route(chat).route(echo);
}
