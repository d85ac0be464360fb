//! Every form of the socket argument the attribute accepts: the first argument, whatever
//! its type is called, as long as the type implements `FromWebSocket` (as `App::websocket`
//! requires).
#![deny(warnings)]

use serde::{Deserialize, Serialize};
use wsframe::FromWebSocket;
use wsframe::prelude::*;

#[derive(Deserialize)]
struct In {
    n: u32,
}

#[derive(Serialize)]
struct Out {
    n: u32,
}

type Socket = WebSocket;
type Typed = TypedWebSocket<In, Out>;

/// A wrapper of one's own.
struct Bot(WebSocket);

impl FromWebSocket for Bot {
    fn from_websocket(ws: WebSocket) -> Self {
        Bot(ws)
    }
}

mod sockets {
    pub type Renamed = wsframe::WebSocket;
}

#[websocket("/plain")]
async fn plain(ws: wsframe::WebSocket) {
    drop(ws);
}

#[websocket("/alias/<id>")]
async fn alias(ws: Socket, id: u32) {
    let _ = ws.send_text(id.to_string()).await;
}

#[websocket("/typed-alias")]
async fn typed_alias(mut ws: Typed) -> wsframe::Result<()> {
    let In { n } = ws.receive().await?;
    ws.send(&Out { n }).await
}

#[websocket("/bot")]
async fn bot(Bot(ws): Bot, hub: Hub) {
    let _ = ws.send_text(hub.connection_count().to_string()).await;
}

#[websocket("/by-path")]
async fn by_path(_ws: sockets::Renamed) {}

fn main() {
    let _app = App::new().routes(routes![plain, alias, typed_alias, bot, by_path]);
}
