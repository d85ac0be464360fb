//! Chat: the seed's connection manager on wsframe's hub. Open http://127.0.0.1:8080/
//! in two browser tabs. Every text from client N goes to everyone in its room as
//! `Client #N: <text>`; when N leaves, everyone gets `Client #N left`. Rooms are
//! optional: `?room=name` (default `lobby`).
//!
//! Its AsyncAPI document is at `/asyncapi.json`, and a page documenting its route, with a
//! live console, at `/docs`.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use wsframe::prelude::*;
use wsframe::{Html, Hub};

/// The page, served by the app itself.
const PAGE: &str = include_str!("chat.html");

/// Chat in a room.
///
/// Every text you send goes to everyone in the room (you too) as `Client #N: text`,
/// where N is your `client_id`; when you leave, the others get `Client #N left`. The
/// room is `?room=name`, `lobby` by default.
#[websocket("/ws/<client_id>?<room>", tags = ["chat"])]
async fn chat(
    mut ws: WebSocket,
    client_id: u64,
    room: Option<String>,
    hub: Hub,
) -> wsframe::Result<()> {
    ws.accept().await?;
    let room = hub.room(room.as_deref().unwrap_or("lobby"));
    hub.join(room.name(), &ws);
    hub.set_key(&ws, client_id);
    while let Ok(data) = ws.receive_text().await {
        room.broadcast_text(format!("Client #{client_id}: {data}"));
    }
    // Leave first, so the farewell goes to the others only.
    hub.leave(room.name(), &ws);
    room.broadcast_text(format!("Client #{client_id} left"));
    Ok(())
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr = std::env::var("WSFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    println!("chat on http://{addr}/ (open it in two tabs)");
    app().serve(addr).await
}

/// The chat app (tests include this file and serve the same app).
pub fn app() -> App {
    App::new()
        .info(
            wsframe::asyncapi::Info::new("Chat", env!("CARGO_PKG_VERSION"))
                .description("Rooms of clients talking; the seed's connection manager."),
        )
        .route(chat)
        .get("/", |_req| async { Html(PAGE) })
        .asyncapi_route("/asyncapi.json")
        .docs_route("/docs")
}
