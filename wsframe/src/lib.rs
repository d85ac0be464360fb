//! # wsframe
//!
//! Routed, typed, guarded WebSocket endpoints with FastAPI's ergonomics: `accept`,
//! `receive_*`, `send_*`, `close`; path and query parameters; guards that answer the
//! handshake with an HTTP status; an in-process [`TestClient`](testing::TestClient).
//!
//! ## Quick start
//!
//! ```no_run
//! use wsframe::prelude::*;
//!
//! #[websocket("/ws/<client_id>?<q>")]
//! async fn echo(mut ws: WebSocket, client_id: u64, q: Option<String>) -> wsframe::Result<()> {
//!     ws.accept().await?;
//!     while let Ok(data) = ws.receive_text().await {
//!         ws.send_text(format!("Client {client_id} ({q:?}): {data}")).await?;
//!     }
//!     Ok(())
//! }
//!
//! #[tokio::main]
//! async fn main() -> wsframe::Result<()> {
//!     App::new().route(echo).serve("127.0.0.1:8080").await
//! }
//! ```
//!
//! Without the attribute, the same handler registers programmatically:
//! `App::new().websocket("/ws", handler)` takes any async function of a `WebSocket` and
//! extractors.
//!
//! ## Where things live
//!
//! - [`websocket`], [`dependency`]: the attributes (routes, parameters, guards, `Depends`).
//! - [`App`], [`Route`]: registering routes, state and configuration.
//! - [`Hub`], [`Room`]: broadcasting, rooms, presence, and the slow-consumer policy.
//! - [`WebSocket`], [`Sender`], [`Receiver`], [`TypedWebSocket`]: the handle.
//! - [`FromHandshake`], [`Rejection`], [`Query`], [`Cookies`], [`State`]: guards.
//! - [`Config`], [`Limits`], [`RouteLimits`], [`Origins`]: limits and safety.
//! - [`testing::TestClient`]: in-process tests.
//! - [`AppService`], `App::into_axum` (feature `axum`): the same routes inside an axum
//!   `Router` or a hyper server of your own.
//!
//! permessage-deflate is not offered: the protocol layer (tungstenite) rejects
//! compressed frames, so compression would need a protocol layer of our own.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod app;
pub mod backplane;
mod close;
mod config;
mod connection;
mod depends;
mod dispatch;
mod error;
mod extract;
mod forwarded;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod handler;
mod handshake;
mod hub;
mod id;
mod lifecycle;
mod message;
mod metrics;
mod mount;
mod prometheus;
mod rejection;
mod request;
mod response;
mod router;
mod server;
mod shutdown;
mod socket;
pub mod testing;
#[cfg(feature = "tls")]
mod tls;
mod transport;

pub use app::{App, IntoRoute, Route};
pub use close::CloseCode;
pub use config::{Config, Limits, MessageRate, Origins, RouteLimits};
pub use depends::Dependency;
pub use error::{Disconnect, Error, Result};
pub use extract::{ClientAddr, Cookies, FromHandshake, FromParam, PeerAddr, Query, State};
pub use forwarded::ProxyNet;
pub use handler::{FromWebSocket, HandlerResult, WsHandler};
pub use hub::{Hub, Presence, PresenceEvents, Room};
pub use id::{ConnectionId, NodeId};
pub use message::{Message, Utf8Bytes};
pub use metrics::{Metrics, MetricsSnapshot};
pub use mount::{AppService, ServiceHandle};
pub use rejection::Rejection;
pub use request::HandshakeRequest;
pub use response::{Html, IntoResponse, Json, Response};
pub use router::{PathParams, RoutePattern};
pub use server::{Server, ServerHandle};
pub use shutdown::shutdown_signal;
pub use socket::{Accept, Member, Receiver, Sender, SlowConsumer, TypedWebSocket, WebSocket};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

pub use bytes::Bytes;
pub use http;
pub use wsframe_macros::{dependency, websocket};

/// The names most handlers need: `use wsframe::prelude::*;`.
pub mod prelude {
    pub use crate::{
        App, ClientAddr, CloseCode, Cookies, Disconnect, Error, FromHandshake, HandshakeRequest,
        Hub, Message, PeerAddr, Query, Rejection, Route, RouteLimits, SlowConsumer, State,
        TypedWebSocket, WebSocket, dependency, routes, websocket,
    };
}
