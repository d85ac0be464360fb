//! [`TypedWebSocket`]: a handle whose messages are serde types, and its typed halves
//! [`TypedSender`] and [`TypedReceiver`].
//!
//! The typed handle wraps the plain one and only adds (de)serialization: the queues,
//! the accept decision and the hub membership are the plain handle's.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Accept, Member, Receiver, Sender};
use crate::{CloseCode, ConnectionId, Disconnect, Result, WebSocket};

/// A WebSocket whose incoming messages are `In` and outgoing messages are `Out`, both
/// carried as JSON, so that a handler never touches raw text.
///
/// A message that is not JSON for `In` is an
/// [`Error::InvalidMessage`](crate::Error::InvalidMessage): handle it to keep the
/// connection, or let `?` end the handler, which closes with 1007 and the serde error
/// as the reason (the client's mistake, logged at debug level only).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use wsframe::TypedWebSocket;
///
/// #[derive(Deserialize)]
/// #[serde(tag = "type", rename_all = "snake_case")]
/// enum ClientMsg { Add { a: i64, b: i64 } }
///
/// #[derive(Serialize)]
/// struct Sum { sum: i64 }
///
/// async fn calculator(mut ws: TypedWebSocket<ClientMsg, Sum>) -> wsframe::Result<()> {
///     loop {
///         let ClientMsg::Add { a, b } = ws.receive().await?;
///         ws.send(&Sum { sum: a + b }).await?;
///     }
/// }
/// ```
pub struct TypedWebSocket<In, Out> {
    ws: WebSocket,
    types: PhantomData<fn(In) -> Out>,
}

impl<In, Out> std::fmt::Debug for TypedWebSocket<In, Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ws.fmt(f)
    }
}

impl<In, Out> TypedWebSocket<In, Out> {
    pub(crate) fn new(ws: WebSocket) -> Self {
        TypedWebSocket {
            ws,
            types: PhantomData,
        }
    }

    /// This connection's id (see [`WebSocket::id`]).
    pub fn id(&self) -> ConnectionId {
        self.ws.id()
    }

    /// The route pattern that matched (see [`WebSocket::route`]).
    pub fn route(&self) -> &str {
        self.ws.route()
    }

    /// Subprotocols the client offered.
    pub fn offered_protocols(&self) -> &[String] {
        self.ws.offered_protocols()
    }

    /// The selected subprotocol, once accepted.
    pub fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }

    /// Accept the handshake (see [`WebSocket::accept`]).
    pub async fn accept(&mut self) -> Result<()> {
        self.ws.accept().await
    }

    /// Accept with a chosen subprotocol and extra response headers (see
    /// [`WebSocket::accept_with`]).
    pub async fn accept_with(&mut self, accept: Accept) -> Result<()> {
        self.ws.accept_with(accept).await
    }

    /// Close the connection (see [`WebSocket::close`]).
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.ws.close(code, reason).await
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.ws.is_closed()
    }

    /// A cloneable sender of `Out` for other tasks, keeping the handle (see
    /// [`TypedSender`]).
    pub fn sender(&self) -> TypedSender<Out> {
        TypedSender::new(self.ws.sender())
    }

    /// Split into a typed sending and a typed receiving half. Splitting does not accept:
    /// the first send or receive on either half does (or call
    /// [`accept`](Self::accept) first).
    pub fn split(self) -> (TypedSender<Out>, TypedReceiver<In>) {
        let (sender, receiver) = self.ws.split();
        (TypedSender::new(sender), TypedReceiver::new(receiver))
    }

    /// The untyped handle.
    pub fn into_inner(self) -> WebSocket {
        self.ws
    }

    pub(crate) fn inner(&self) -> &WebSocket {
        &self.ws
    }
}

impl<In: DeserializeOwned, Out> TypedWebSocket<In, Out> {
    /// Receive the next message as `In`; a message that is not JSON for `In` is an
    /// [`Error::InvalidMessage`](crate::Error::InvalidMessage) and the connection stays
    /// open (returned with `?`, it closes the connection with 1007).
    pub async fn receive(&mut self) -> Result<In> {
        self.ws.receive_json().await
    }
}

impl<In, Out: Serialize> TypedWebSocket<In, Out> {
    /// Send `message` as JSON; waits while the outgoing queue is full.
    pub async fn send(&self, message: &Out) -> Result<()> {
        self.ws.send_json(message).await
    }
}

impl<In, Out> From<WebSocket> for TypedWebSocket<In, Out> {
    fn from(ws: WebSocket) -> Self {
        TypedWebSocket::new(ws)
    }
}

/// The sending half of a [`TypedWebSocket`]: sends `Out` as JSON. Clone it into other
/// tasks, e.g. to push updates from a background task; the hub takes it like a
/// [`WebSocket`] (`hub.join("room", &sender)`).
///
/// Sends wait while the connection's outgoing queue is full and fail with
/// [`Error::Disconnected`](crate::Error::Disconnected) once it has closed, as
/// [`Sender`]'s do.
///
/// ```
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use wsframe::prelude::*;
/// use wsframe::testing::TestClient;
///
/// #[derive(Deserialize)]
/// struct Subscribe { every_ms: u64 }
///
/// #[derive(Serialize)]
/// struct Tick { n: u64 }
///
/// #[websocket("/dashboard")]
/// async fn dashboard(ws: TypedWebSocket<Subscribe, Tick>) -> wsframe::Result<()> {
///     let (sender, mut receiver) = ws.split();
///     let Subscribe { every_ms } = receiver.receive().await?;
///     let pusher = tokio::spawn(async move {
///         for n in 0.. {
///             if sender.send(&Tick { n }).await.is_err() {
///                 break; // the client left
///             }
///             tokio::time::sleep(Duration::from_millis(every_ms)).await;
///         }
///     });
///     while receiver.receive().await.is_ok() {}
///     pusher.abort();
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().route(dashboard))?;
/// let mut ws = client.connect("/dashboard").await?;
/// ws.send_text(r#"{"every_ms": 5}"#).await?;
/// assert_eq!(ws.receive_text().await?, r#"{"n":0}"#);
/// assert_eq!(ws.receive_text().await?, r#"{"n":1}"#);
/// # Ok(()) }
/// ```
pub struct TypedSender<Out> {
    sender: Sender,
    types: PhantomData<fn(Out)>,
}

impl<Out> Clone for TypedSender<Out> {
    fn clone(&self) -> Self {
        TypedSender::new(self.sender.clone())
    }
}

impl<Out> std::fmt::Debug for TypedSender<Out> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedSender")
            .field("id", &self.sender.id())
            .finish_non_exhaustive()
    }
}

impl<Out> TypedSender<Out> {
    fn new(sender: Sender) -> Self {
        TypedSender {
            sender,
            types: PhantomData,
        }
    }

    /// The connection's id.
    pub fn id(&self) -> ConnectionId {
        self.sender.id()
    }

    /// Close the connection (see [`Sender::close`]).
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.sender.close(code, reason).await
    }

    /// Whether the connection has closed (or is closing).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// The untyped sender.
    pub fn into_inner(self) -> Sender {
        self.sender
    }
}

impl<Out: Serialize> TypedSender<Out> {
    /// Send `message` as JSON; waits while the outgoing queue is full.
    pub async fn send(&self, message: &Out) -> Result<()> {
        self.sender.send_json(message).await
    }
}

/// The receiving half of a [`TypedWebSocket`]: receives `In` from JSON (see
/// [`TypedSender`] for an example).
pub struct TypedReceiver<In> {
    receiver: Receiver,
    types: PhantomData<fn() -> In>,
}

impl<In> std::fmt::Debug for TypedReceiver<In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.receiver.fmt(f)
    }
}

impl<In> TypedReceiver<In> {
    fn new(receiver: Receiver) -> Self {
        TypedReceiver {
            receiver,
            types: PhantomData,
        }
    }

    /// Why the connection ended, once it has.
    pub fn disconnect(&self) -> Option<Disconnect> {
        self.receiver.disconnect()
    }

    /// The untyped receiver.
    pub fn into_inner(self) -> Receiver {
        self.receiver
    }
}

impl<In: DeserializeOwned> TypedReceiver<In> {
    /// Receive the next message as `In` (see [`TypedWebSocket::receive`]).
    pub async fn receive(&mut self) -> Result<In> {
        self.receiver.receive_json().await
    }
}

impl<Out> From<&TypedSender<Out>> for Member {
    fn from(sender: &TypedSender<Out>) -> Self {
        Member::from(&sender.sender)
    }
}

impl<Out> From<&TypedSender<Out>> for ConnectionId {
    fn from(sender: &TypedSender<Out>) -> Self {
        sender.id()
    }
}
