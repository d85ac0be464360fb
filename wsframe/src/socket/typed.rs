//! [`TypedWebSocket`]: a handle whose messages are serde types.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{CloseCode, Result, WebSocket};

/// A WebSocket whose incoming messages are `In` and outgoing messages are `Out`, both
/// carried as JSON, so that a handler never touches raw text.
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
///     while let Ok(ClientMsg::Add { a, b }) = ws.receive().await {
///         ws.send(&Sum { sum: a + b }).await?;
///     }
///     Ok(())
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

    /// Accept the handshake (see [`WebSocket::accept`]).
    pub async fn accept(&mut self) -> Result<()> {
        self.ws.accept().await
    }

    /// Close the connection (see [`WebSocket::close`]).
    pub async fn close(&self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        self.ws.close(code, reason).await
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
    /// [`Error::Json`](crate::Error::Json) and the connection stays open.
    pub async fn receive(&mut self) -> Result<In> {
        self.ws.receive_json().await
    }
}

impl<In, Out: Serialize> TypedWebSocket<In, Out> {
    /// Send `message` as JSON.
    pub async fn send(&self, message: &Out) -> Result<()> {
        self.ws.send_json(message).await
    }
}

impl<In, Out> From<WebSocket> for TypedWebSocket<In, Out> {
    fn from(ws: WebSocket) -> Self {
        TypedWebSocket::new(ws)
    }
}
