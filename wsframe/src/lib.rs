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
//! - [`WebSocket`], [`Sender`], [`Receiver`], [`TypedWebSocket`], [`TypedSender`],
//!   [`TypedReceiver`]: the handle.
//! - [`FromHandshake`], [`OptionalFromHandshake`], [`Rejection`], [`Query`], [`Cookies`],
//!   [`State`], [`Requirements`]: guards, and what they need from the app.
//! - [`Config`], [`Limits`], [`RouteLimits`], [`Origins`]: limits and safety.
//! - [`testing::TestClient`]: in-process tests.
//! - [`AppService`], `App::into_axum` (feature `axum`): the same routes inside an axum
//!   `Router` or a hyper server of your own.
//!
//! The WebSocket protocol layer (frame reader and writer) is wsframe's own;
//! permessage-deflate is not offered yet.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
mod app;
pub mod asyncapi;
pub mod backplane;
mod client_limits;
mod close;
mod config;
mod connection;
mod deflate;
mod depends;
mod dispatch;
mod error;
mod extract;
mod forwarded;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod handshake;
mod header_list;
mod hub;
mod id;
mod lifecycle;
mod message;
mod metrics;
mod mount;
mod origin;
mod overrides;
mod prometheus;
mod rejection;
mod request;
mod requirements;
mod response;
mod router;
mod server;
mod shutdown;
mod socket;
pub mod testing;
#[cfg(feature = "tls")]
mod tls;
mod token_bucket;
#[cfg(feature = "headers")]
mod typed_header;

pub use app::{App, IntoRoute, Route};
pub use client_limits::HandshakeRate;
pub use close::CloseCode;
pub use config::{Config, Limits, MessageRate, Origins, RouteLimits};
pub use deflate::{Compression, CompressionMode};
pub use depends::Dependency;
pub use error::{Disconnect, Error, ProtocolError, Result};
pub use extract::{
    ClientAddr, Cookies, FromHandshake, FromParam, OptionalFromHandshake, PeerAddr, Query, State,
};
pub use forwarded::{ProxyHeader, ProxyNet};
pub use handler::{FromWebSocket, HandlerResult, WsHandler};
pub use hub::{Hub, Key, Presence, PresenceEvents, Room, UserPresence, UserPresenceEvents};
pub use id::{ConnectionId, NodeId};
pub use message::{Message, Utf8Bytes};
pub use metrics::{Metrics, MetricsSnapshot};
pub use mount::{AppService, ServiceHandle};
pub use rejection::Rejection;
pub use request::HandshakeRequest;
pub use requirements::Requirements;
pub use response::{Html, IntoResponse, Json, Response};
pub use router::{PathParams, RoutePattern};
pub use server::{Server, ServerHandle};
pub use shutdown::shutdown_signal;
pub use socket::{
    Accept, Member, Receiver, Sender, SlowConsumer, TypedReceiver, TypedSender, TypedWebSocket,
    WebSocket,
};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
#[cfg(feature = "headers")]
pub use typed_header::TypedHeader;

pub use bytes::Bytes;
pub use http;
/// The JSON Schema derive (feature `schemas`): `#[derive(JsonSchema)]` on a typed
/// route's messages puts their schemas in the AsyncAPI document. Through this
/// re-export, the derive needs `#[schemars(crate = "wsframe::schemars")]`.
#[cfg(feature = "schemas")]
pub use schemars;
/// Turn an `async fn` into a routed WebSocket endpoint.
///
/// ```text
/// #[websocket("/path/<param>/<rest..>?<query>&<other>", option = value, ...)]
/// ```
///
/// **The route.** `<name>` is one path segment, `<name..>` the rest of the path (last
/// only), and `?<a>&<b>` names query parameters. Each needs an argument of the same
/// name: a path parameter's type implements [`FromParam`] (integers, `String`, `bool`,
/// `PathBuf` for a rest, `Uuid` with feature `uuid`, or your own); so does a query
/// parameter's type, and `Option<T>` makes it optional. A value that does not parse
/// (or a required query parameter that is missing) is answered 400 before the handler
/// runs. Mistakes in the route (an unclosed `<`, a parameter without an argument, a
/// typo) are compile errors at the route literal, with a help line.
///
/// **The arguments.** The first is the connection, whatever its type is called:
/// [`WebSocket`], [`TypedWebSocket<In, Out>`](TypedWebSocket), an alias of either, or a
/// wrapper of your own that implements [`FromWebSocket`] (the rule of
/// [`App::websocket`]; a first argument that is no socket is a compile error on its
/// type). The others, in any order: route
/// parameters (by name); `#[query] name: T`, `#[cookie] name: T` and `#[header] name: T`
/// (one value, by the argument's name, a header's with `_` as `-`: `user_agent` reads
/// `user-agent`; `T` implements [`FromParam`], `Option<T>` when it may be absent);
/// `#[depends(f)] name: T` (the value a [`#[dependency]`](dependency) `f` returns,
/// computed once per handshake); and any [`FromHandshake`] type — guards such as
/// [`Query<T>`], [`Cookies`], [`State<T>`], [`PeerAddr`], [`ClientAddr`], [`PathParams`],
/// [`http::HeaderMap`], [`Hub`], or your own. `Option<G>` is `None` when the guard says
/// its thing is absent ([`OptionalFromHandshake`]) and `Result<G, G::Rejection>` hands
/// the guard's own rejection to the handler; otherwise a rejection answers the handshake.
///
/// **The options.** `protocols = ["v2", "v1"]` (subprotocols); `max_message_size`,
/// `max_frame_size`, `idle_timeout`, `ping_interval` and `max_message_rate` (any
/// expression of the type [`RouteLimits`]' method takes); `guards(f, T)` (dependencies
/// or extractors that run first and whose values are dropped); `crate = "path"` (where
/// wsframe is, when re-exported). Each option is given at most once.
///
/// **What it makes.** `name` becomes a unit struct that registers the route
/// (`App::new().route(name)`, `routes![name]`, or `name.into_route()` for a [`Route`]
/// to adjust); the function stays callable as `name::handler(..)`. The handler returns
/// `()`, `wsframe::Result<()>` or `Result<(), E>` with `E: Into<Error>`: returning
/// closes with 1000, an error or a panic with 1011.
///
/// ```
/// use std::time::Duration;
/// use wsframe::prelude::*;
/// use wsframe::testing::TestClient;
///
/// #[dependency]
/// async fn user(#[query] token: Option<String>) -> Result<String, Rejection> {
///     token.ok_or_else(|| Rejection::unauthorized("token required"))
/// }
///
/// #[websocket("/rooms/<room>?<since>", idle_timeout = Duration::from_secs(30))]
/// async fn join(
///     mut ws: WebSocket,
///     room: String,
///     since: Option<u64>,
///     #[depends(user)] who: String,
///     hub: Hub,
/// ) -> wsframe::Result<()> {
///     ws.accept().await?;
///     hub.join(&room, &ws);
///     ws.send_text(format!("{who} joined {room} (since {since:?})")).await?;
///     while ws.receive().await.is_ok() {}
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().routes(routes![join]))?;
/// let mut ws = client.connect("/rooms/lobby?since=7&token=ann").await?;
/// assert_eq!(ws.receive_text().await?, "ann joined lobby (since Some(7))");
/// let refused = client.connect("/rooms/lobby").await.unwrap_err();
/// assert_eq!(refused.status(), Some(wsframe::http::StatusCode::UNAUTHORIZED));
/// # Ok(())
/// # }
/// ```
#[doc(inline)]
pub use wsframe_macros::websocket;

/// Turn an `async fn` into a dependency: a value computed from the handshake, taken by
/// handlers with `#[depends(name)]` and usable in `guards(..)`.
///
/// Its arguments are those of a [`websocket`] handler without the connection: `#[query]`,
/// `#[cookie]` and `#[header]` values, other dependencies (`#[depends(..)]`), and [`FromHandshake`]
/// extractors. It returns a value, or `Result<T, R>` where `R` converts into a
/// [`Rejection`]: an `Err` answers the handshake (HTTP status and body) and the handler
/// never runs. Each dependency runs at most once per handshake, however many handlers'
/// arguments and other dependencies ask for it; it is callable as `name::call(..)`.
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::testing::TestClient;
///
/// #[dependency]
/// async fn get_cookie_or_token(
///     #[cookie] session: Option<String>,
///     #[query] token: Option<String>,
/// ) -> Result<String, Rejection> {
///     session.or(token).ok_or_else(|| Rejection::forbidden("log in first"))
/// }
///
/// #[websocket("/items")]
/// async fn items(mut ws: WebSocket, #[depends(get_cookie_or_token)] who: String) -> wsframe::Result<()> {
///     ws.accept().await?;
///     ws.send_text(format!("hello {who}")).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().route(items))?;
/// let mut ws = client.connect("/items").cookie("session", "abc").await?;
/// assert_eq!(ws.receive_text().await?, "hello abc");
/// let refused = client.connect("/items").await.unwrap_err();
/// assert_eq!(refused.status(), Some(wsframe::http::StatusCode::FORBIDDEN));
/// # Ok(())
/// # }
/// ```
#[doc(inline)]
pub use wsframe_macros::dependency;

/// The names most handlers need: `use wsframe::prelude::*;`.
pub mod prelude {
    pub use crate::{
        App, ClientAddr, CloseCode, Cookies, Disconnect, Error, FromHandshake, HandshakeRequest,
        Hub, Message, OptionalFromHandshake, PeerAddr, Query, Rejection, Route, RouteLimits,
        SlowConsumer, State, TypedWebSocket, WebSocket, dependency, routes, websocket,
    };
}
