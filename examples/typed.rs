//! Typed: JSON messages in and out, read and written as Rust types, behind a guard.
//! A client sends commands (`say`, `rename`, `ping`) and gets events back; each is a
//! serde type, and with wsframe's `schemas` feature its JSON Schema is in the app's
//! AsyncAPI document (`/asyncapi.json`), with an example made from it; `/docs` shows it
//! and has a console to try it.
//!
//! The guard wants `Authorization: Bearer <name>`; browsers cannot set headers on a
//! WebSocket handshake, so it also takes a `token` cookie.
//!
//! `WSFRAME_ADDR` sets the address (default 127.0.0.1:8080).

use serde::{Deserialize, Serialize};
use wsframe::asyncapi::{Field, Info, RouteDoc};
use wsframe::prelude::*;
use wsframe::schemars::JsonSchema;

/// What a client sends.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schemars(crate = "wsframe::schemars")]
pub enum Command {
    /// Say something: it comes back as a `said` event.
    Say { text: String },
    /// Go by another name from now on.
    Rename { name: String },
    /// Ask for a `pong`.
    Ping,
}

/// What the server sends.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[schemars(crate = "wsframe::schemars")]
pub enum Event {
    /// Someone said something in the topic.
    Said {
        topic: String,
        from: String,
        text: String,
    },
    /// The answer to `ping`.
    Pong { seq: u64 },
}

/// The user a bearer token names.
pub struct User(pub String);

impl FromHandshake for User {
    type Rejection = Rejection;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        let bearer = req
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::to_owned);
        bearer
            .or_else(|| req.cookie("token"))
            .filter(|name| !name.is_empty())
            .map(User)
            .ok_or_else(|| {
                Rejection::unauthorized("a bearer token or a `token` cookie is required")
            })
    }

    fn describe(doc: &mut RouteDoc) {
        doc.field(
            Field::header("authorization")
                .credential()
                .optional()
                .description("`Bearer <name>`: who you are."),
        );
        doc.field(
            Field::cookie("token")
                .credential()
                .optional()
                .description("Who you are, for browsers (which cannot set headers)."),
        );
    }
}

/// Commands in, events out, in a topic.
///
/// Every `say` comes back as a `said` event from your current name; `rename` changes
/// that name; `ping` is answered with a `pong` numbered from 1.
#[websocket("/topics/<topic>")]
async fn topics(
    mut ws: TypedWebSocket<Command, Event>,
    topic: String,
    user: User,
) -> wsframe::Result<()> {
    let mut name = user.0;
    let mut pings = 0;
    loop {
        let event = match ws.receive().await? {
            Command::Say { text } => Event::Said {
                topic: topic.clone(),
                from: name.clone(),
                text,
            },
            Command::Rename { name: new } => {
                name = new;
                continue;
            }
            Command::Ping => {
                pings += 1;
                Event::Pong { seq: pings }
            }
        };
        ws.send(&event).await?;
    }
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::var("WSFRAME_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    println!("typed on ws://{addr}/topics/<topic>, its document at http://{addr}/asyncapi.json");
    app().serve(addr).await
}

/// The example's app (tests include this file and serve the same app).
pub fn app() -> App {
    App::new()
        .info(
            Info::new("Topics", env!("CARGO_PKG_VERSION"))
                .description("Typed commands and events."),
        )
        .route(topics)
        .asyncapi_route("/asyncapi.json")
        .docs_route("/docs")
}
