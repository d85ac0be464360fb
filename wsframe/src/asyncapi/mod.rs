//! The app's WebSocket routes described as an [AsyncAPI 3.0](https://www.asyncapi.com/docs/reference/specification/v3.0.0)
//! document, generated from what the routes already declare.
//!
//! Each WebSocket route is a channel, its path parameters are channel parameters, its
//! query parameters and headers (cookies as properties of `Cookie`) go in the channel's
//! WebSocket binding, and the values its guards and dependencies mark as credentials
//! are `httpApiKey` security schemes. A handler's `///` doc comment is the channel's
//! summary (its first paragraph) and description.
//!
//! ```
//! use wsframe::prelude::*;
//! use wsframe::asyncapi::Info;
//!
//! /// Echo: every message comes back.
//! #[websocket("/echo/<room>")]
//! async fn echo(mut ws: WebSocket, room: String) -> wsframe::Result<()> {
//!     while let Ok(message) = ws.receive().await {
//!         ws.send(message).await?;
//!     }
//!     Ok(())
//! }
//!
//! let app = App::new().info(Info::new("Echo", "1.0.0")).route(echo);
//! let doc = app.asyncapi();
//! assert_eq!(doc["asyncapi"], "3.0.0");
//! assert_eq!(doc["channels"]["echo"]["address"], "/echo/{room}");
//! assert_eq!(doc["channels"]["echo"]["summary"], "Echo: every message comes back.");
//! assert_eq!(doc["operations"]["echo.receive"]["action"], "receive");
//! ```
//!
//! A typed route's messages are JSON. With the `schemas` feature and message types that
//! derive `schemars::JsonSchema`, their schemas are in `components/schemas`; without
//! them, the document names the Rust types and the route compiles all the same:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use wsframe::prelude::*;
//!
//! #[derive(Deserialize)]
//! struct Ask { question: String }
//!
//! #[derive(Serialize)]
//! struct Answer { text: String }
//!
//! #[websocket("/ask")]
//! async fn ask(mut ws: TypedWebSocket<Ask, Answer>) -> wsframe::Result<()> {
//!     while let Ok(Ask { question }) = ws.receive().await {
//!         ws.send(&Answer { text: format!("{question}? yes") }).await?;
//!     }
//!     Ok(())
//! }
//!
//! let doc = App::new().route(ask).asyncapi();
//! let messages = &doc["channels"]["ask"]["messages"];
//! assert_eq!(messages["clientMessage"]["title"], "Ask");
//! assert_eq!(messages["serverMessage"]["contentType"], "application/json");
//! assert!(doc["components"].get("schemas").is_none());
//! ```

mod document;
mod example;
mod page;
mod route_doc;
#[cfg(feature = "schemas")]
mod schemas;

pub use document::Info;
pub(crate) use document::{DocumentedRoute, Served, document};
pub(crate) use page::page;
pub use route_doc::{Field, Location, RouteDoc};
