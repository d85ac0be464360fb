//! The WebSocket handle a handler receives, and its halves.
//!
//! [`WebSocket`] is FastAPI's `WebSocket`: `accept`, `receive_*`, `send_*`, `close`. It
//! is a pair of queues to the connection's driver task, which owns the socket: the driver
//! answers pings, notices the peer's close and enforces limits even while the handler
//! only sends (or only waits). [`Sender`] and [`Receiver`] are the two halves; a `Sender`
//! can be cloned into other tasks.
//!
//! # Read and write concurrently
//!
//! ```
//! use wsframe::WebSocket;
//!
//! async fn ticker(ws: WebSocket) -> wsframe::Result<()> {
//!     let (sender, mut receiver) = ws.split();
//!     let ticks = tokio::spawn(async move {
//!         for n in 0.. {
//!             if sender.send_text(format!("tick {n}")).await.is_err() {
//!                 break; // the client went away
//!             }
//!             tokio::time::sleep(std::time::Duration::from_secs(1)).await;
//!         }
//!     });
//!     while let Ok(text) = receiver.receive_text().await {
//!         println!("client says {text}");
//!     }
//!     ticks.abort();
//!     Ok(())
//! }
//! ```

mod halves;
mod inbox;
mod membership;
mod outbox;
pub(crate) mod shared;
mod typed;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use halves::{Receiver, Sender};
pub use outbox::SlowConsumer;
pub(crate) use outbox::{Admission, Enqueued, Flushed, InLine, Outbox, Outgoing, Queued};
pub(crate) use shared::{ConnShared, Decision};
pub use typed::{TypedReceiver, TypedSender, TypedWebSocket};

use crate::{CloseCode, ConnectionId, Error, Message, Rejection, Result, Utf8Bytes};

/// Options for [`WebSocket::accept_with`]: a subprotocol and extra response headers.
///
/// ```
/// use wsframe::Accept;
/// let accept = Accept::new().protocol("chat.v2").header("x-server", "wsframe");
/// ```
#[derive(Debug, Default, Clone)]
pub struct Accept {
    protocol: Option<String>,
    headers: HeaderMap,
}

impl Accept {
    /// Accept with the route's defaults.
    pub fn new() -> Accept {
        Accept::default()
    }

    /// Select this subprotocol; it must be one the client offered.
    pub fn protocol(mut self, protocol: impl Into<String>) -> Accept {
        self.protocol = Some(protocol.into());
        self
    }

    /// Add a header to the `101 Switching Protocols` response. Invalid names or values
    /// are ignored with a warning.
    pub fn header(mut self, name: &str, value: &str) -> Accept {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            _ => tracing::warn!(header = name, "ignoring invalid accept header"),
        }
        self
    }
}

/// One WebSocket connection, as a handler sees it.
///
/// The first `send_*` or `receive_*` accepts the connection implicitly; call
/// [`accept`](WebSocket::accept) to accept explicitly (and to learn whether the upgrade
/// completed). [`close`](WebSocket::close) before accepting refuses the handshake with
/// HTTP 403.
///
/// ```
/// use wsframe::{WebSocket, Error};
///
/// // The seed's basic endpoint.
/// async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
///     ws.accept().await?;
///     loop {
///         match ws.receive_text().await {
///             Ok(data) => ws.send_text(format!("Message received: {data}")).await?,
///             Err(Error::Disconnected(d)) => {
///                 println!("Client disconnected: {d}");
///                 return Ok(());
///             }
///             Err(other) => return Err(other),
///         }
///     }
/// }
/// ```
pub struct WebSocket {
    sender: Sender,
    receiver: Receiver,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("id", &self.id())
            .field("route", &self.route())
            .finish_non_exhaustive()
    }
}

impl WebSocket {
    pub(crate) fn new(shared: Arc<ConnShared>) -> WebSocket {
        WebSocket {
            sender: Sender::new(shared.clone()),
            receiver: Receiver::new(shared),
        }
    }

    fn shared(&self) -> &ConnShared {
        self.sender.shared()
    }

    /// This connection's id.
    pub fn id(&self) -> ConnectionId {
        self.shared().id
    }

    /// The route pattern that matched (e.g. `/ws/<client_id>`).
    pub fn route(&self) -> &str {
        &self.shared().route
    }

    /// Subprotocols the client offered.
    pub fn offered_protocols(&self) -> &[String] {
        &self.shared().offered
    }

    /// The selected subprotocol, once accepted.
    pub fn protocol(&self) -> Option<&str> {
        self.shared().protocol()
    }

    /// Accept the handshake with the route's defaults (the first subprotocol the client
    /// offered that the route supports). Returns once the upgrade completed.
    pub async fn accept(&mut self) -> Result<()> {
        self.accept_with(Accept::new()).await
    }

    /// Accept with a chosen subprotocol and extra response headers.
    pub async fn accept_with(&mut self, accept: Accept) -> Result<()> {
        match self
            .shared()
            .decide_accept(accept.protocol, accept.headers)?
        {
            Some(ready) => ready
                .await
                .unwrap_or_else(|_| Err(Error::Disconnected(self.shared().disconnect()))),
            None => Err(Error::Accept("the connection is already accepted".into())),
        }
    }

    /// Receive the next data message.
    pub async fn receive(&mut self) -> Result<Message> {
        self.receiver.receive().await
    }

    /// Receive a text message; a binary one is an [`Error::UnexpectedMessage`].
    pub async fn receive_text(&mut self) -> Result<String> {
        self.receiver.receive_text().await
    }

    /// Receive a binary message; a text one is an [`Error::UnexpectedMessage`].
    pub async fn receive_bytes(&mut self) -> Result<Bytes> {
        self.receiver.receive_bytes().await
    }

    /// Receive a message (text or binary) holding JSON for `T`; one that does not fit is
    /// an [`Error::InvalidMessage`] and the connection stays open (returned with `?`, it
    /// closes the connection with 1007 and the serde error as the reason).
    pub async fn receive_json<T: DeserializeOwned>(&mut self) -> Result<T> {
        self.receiver.receive_json().await
    }

    /// Send a message; waits while the outgoing queue is full.
    pub async fn send(&self, message: impl Into<Message>) -> Result<()> {
        self.sender.send(message).await
    }

    /// Send a text message.
    pub async fn send_text(&self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.sender.send_text(text).await
    }

    /// Send a binary message.
    pub async fn send_bytes(&self, bytes: impl Into<Bytes>) -> Result<()> {
        self.sender.send_bytes(bytes).await
    }

    /// Send `value` as a JSON text message.
    pub async fn send_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<()> {
        self.sender.send_json(value).await
    }

    /// Close with `code` and `reason` after the messages already queued. Before
    /// `accept`, refuses the handshake with HTTP 403 instead (the reason becomes the
    /// body), as Starlette does.
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.sender.close(code, reason).await
    }

    /// A cloneable sender for other tasks.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Split into a sending and a receiving half. Splitting does not accept: the first
    /// send or receive on either half does (or call [`accept`](Self::accept) first).
    pub fn split(self) -> (Sender, Receiver) {
        (self.sender, self.receiver)
    }

    /// A typed view whose incoming and outgoing messages are serde types (JSON).
    pub fn typed<In, Out>(self) -> TypedWebSocket<In, Out> {
        TypedWebSocket::new(self)
    }

    /// Whether the connection has closed (its close details are then known).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    pub(crate) fn shared_arc(&self) -> &Arc<ConnShared> {
        self.sender.shared_arc()
    }

    /// Refuse (or, for [`Rejection::close`], accept then close) the handshake on a
    /// guard's behalf.
    pub(crate) async fn reject(&mut self, mut rejection: Rejection) {
        match rejection.take_close() {
            Some((code, reason)) => {
                if self.shared().decide_accept(None, HeaderMap::new()).is_ok() {
                    let _ = self.sender.close(code, &reason).await;
                }
            }
            None => {
                self.shared().decide_reject(rejection);
            }
        }
    }
}

/// A connection as the hub addresses it: made from a [`WebSocket`], a [`Sender`], a
/// [`TypedWebSocket`] or a [`TypedSender`] (`hub.join("lobby", &ws)`).
///
/// Take `impl Into<Member>` to accept any of them:
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::Member;
/// use wsframe::testing::TestClient;
///
/// /// Files the connection under its user and puts it in the lobby.
/// fn enter(hub: &Hub, member: impl Into<Member>, user: &str) -> bool {
///     let member: Member = member.into();
///     hub.set_key(member.clone(), user) && hub.join("lobby", member)
/// }
///
/// #[websocket("/u/<name>")]
/// async fn lobby(mut ws: WebSocket, name: String, hub: Hub) -> wsframe::Result<()> {
///     let (sender, mut receiver) = ws.split();
///     enter(&hub, &sender, &name); // before accept: in effect from the accept on
///     sender.send_text("welcome").await?; // accepts
///     while receiver.receive().await.is_ok() {}
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new().route(lobby);
/// let hub = app.hub();
/// let client = TestClient::new(app)?;
/// let mut ada = client.connect("/u/ada").await?;
/// assert_eq!(ada.receive_text().await?, "welcome");
/// assert_eq!(hub.send_to_key("ada", "hi ada"), 1);
/// assert_eq!(ada.receive_text().await?, "hi ada");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Member(pub(crate) Arc<ConnShared>);

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Member").field(&self.0.id).finish()
    }
}

impl Member {
    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.0.id
    }
}

impl From<&WebSocket> for Member {
    fn from(ws: &WebSocket) -> Self {
        Member(ws.shared_arc().clone())
    }
}

impl From<&Sender> for Member {
    fn from(sender: &Sender) -> Self {
        Member(sender.shared_arc().clone())
    }
}

impl<In, Out> From<&TypedWebSocket<In, Out>> for Member {
    fn from(ws: &TypedWebSocket<In, Out>) -> Self {
        Member(ws.inner().shared_arc().clone())
    }
}

impl From<&WebSocket> for ConnectionId {
    fn from(ws: &WebSocket) -> Self {
        ws.id()
    }
}

impl From<&Sender> for ConnectionId {
    fn from(sender: &Sender) -> Self {
        sender.id()
    }
}

impl<In, Out> From<&TypedWebSocket<In, Out>> for ConnectionId {
    fn from(ws: &TypedWebSocket<In, Out>) -> Self {
        ws.inner().id()
    }
}
