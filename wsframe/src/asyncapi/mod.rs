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
