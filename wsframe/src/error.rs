//! The framework's error type and the disconnect it carries.

use std::fmt;

use bytes::Bytes;
use http::StatusCode;

use crate::CloseCode;

/// `Result` with wsframe's [`Error`].
///
/// `?` converts I/O and JSON errors into [`Error`]; the second parameter picks
/// another error type.
///
/// ```
/// use wsframe::{Error, Result};
///
/// fn port(config: &str) -> Result<u16> {
///     let value: serde_json::Value = serde_json::from_str(config)?; // Error::Json
///     let port = value["port"].as_u64().and_then(|p| u16::try_from(p).ok());
///     port.ok_or_else(|| Error::custom("no valid `port`"))
/// }
///
/// assert_eq!(port(r#"{"port": 8080}"#).unwrap(), 8080);
/// assert!(matches!(port("{"), Err(Error::Json(_))));
/// assert_eq!(port("{}").unwrap_err().to_string(), "no valid `port`");
///
/// let parsed: Result<u8, std::num::ParseIntError> = "300".parse();
/// assert!(parsed.is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a connection ended, as seen by the handler (FastAPI's `WebSocketDisconnect`).
///
/// `code` is the close code of the peer's close frame, or the code the server sent
/// when it closed the connection itself (for example 1009 for an oversized message);
/// `None` when the connection dropped without a close frame.
///
/// ```
/// use wsframe::{CloseCode, Disconnect};
/// let d = Disconnect { code: Some(CloseCode::NORMAL), reason: "bye".into() };
/// assert_eq!(d.to_string(), "disconnected (1000: bye)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Disconnect {
    /// The close code, if a close frame was exchanged.
    pub code: Option<CloseCode>,
    /// The close reason (empty when none was given).
    pub reason: String,
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, self.reason.is_empty()) {
            (Some(code), true) => write!(f, "disconnected ({code})"),
            (Some(code), false) => write!(f, "disconnected ({code}: {})", self.reason),
            (None, _) => write!(f, "disconnected (no close frame)"),
        }
    }
}

/// Everything that can go wrong in wsframe.
///
/// ```
/// use wsframe::{Error, Disconnect};
/// let err = Error::Disconnected(Disconnect::default());
/// assert!(err.is_disconnect());
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The connection is closed; carries the close code and reason.
    Disconnected(Disconnect),
    /// A message of the other kind arrived (`receive_text` got binary, or the reverse).
    UnexpectedMessage {
        /// What the call expected: `"text"` or `"binary"`.
        expected: &'static str,
        /// What arrived.
        received: &'static str,
    },
    /// A message the peer sent was not JSON for the requested type
    /// ([`WebSocket::receive_json`](crate::WebSocket::receive_json),
    /// [`TypedWebSocket::receive`](crate::TypedWebSocket::receive)). The message is
    /// consumed and the connection stays open; a handler that returns this error (`?`)
    /// closes the connection with 1007 and the serde error as the reason, logged at
    /// debug level: the peer's mistake, not the server's.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use wsframe::prelude::*;
    /// use wsframe::testing::TestClient;
    ///
    /// #[derive(Deserialize)]
    /// struct Move { x: i32 }
    ///
    /// #[websocket("/game")]
    /// async fn game(mut ws: TypedWebSocket<Move, i32>) -> wsframe::Result<()> {
    ///     loop {
    ///         let Move { x } = ws.receive().await?; // bad JSON ends the handler: 1007
    ///         ws.send(&(x * 2)).await?;
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().route(game))?;
    /// let mut ws = client.connect("/game").await?;
    /// ws.send_text(r#"{"y": 1}"#).await?;
    /// let close = ws.receive_close().await?;
    /// assert_eq!(close.code, Some(CloseCode::INVALID_PAYLOAD));
    /// assert_eq!(close.reason, "missing field `x` at line 1 column 8");
    /// # Ok(()) }
    /// ```
    InvalidMessage(serde_json::Error),
    /// JSON that the server's own code failed to read or write (`?` on a
    /// `serde_json::Error`); a handler that returns it closes with 1011.
    Json(serde_json::Error),
    /// `accept` was called twice, or after `close`, or named a subprotocol the client
    /// did not offer.
    Accept(String),
    /// A route could not be registered (malformed pattern, or two routes conflict).
    Route(String),
    /// A route's extractors need app state that was never registered with
    /// [`App::state`](crate::App::state): each line names the route and the type.
    MissingState(String),
    /// A handshake was answered with an HTTP status instead of `101` (seen by clients
    /// such as the [`TestClient`](crate::testing::TestClient)).
    Handshake {
        /// The HTTP status of the answer.
        status: StatusCode,
        /// The answer's body.
        body: Bytes,
    },
    /// A test helper waited longer than its timeout.
    Timeout(&'static str),
    /// An I/O error (binding, accepting).
    Io(std::io::Error),
    /// The peer broke the WebSocket protocol, or the connection failed beneath it (seen
    /// by clients such as the [`TestClient`](crate::testing::TestClient)).
    Protocol(ProtocolError),
    /// An error returned by user code, with its message.
    Custom(String),
}

impl Error {
    /// An error carrying a message of your own; a handler that returns it closes its
    /// connection with 1011, and the message is logged.
    ///
    /// ```
    /// let err = wsframe::Error::custom("database unavailable");
    /// assert_eq!(err.to_string(), "database unavailable");
    /// ```
    pub fn custom(message: impl fmt::Display) -> Error {
        Error::Custom(message.to_string())
    }

    /// Whether this error only says that the connection closed.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Error::Disconnected(_))
    }

    /// The disconnect details when the error is a disconnect.
    pub fn disconnect(&self) -> Option<&Disconnect> {
        match self {
            Error::Disconnected(d) => Some(d),
            _ => None,
        }
    }

    /// When a handler ends with this error because of what the peer sent (a message of
    /// the wrong kind, or JSON that does not fit): the close code and reason that tell
    /// the peer. `None` for the server's own failures.
    pub(crate) fn peer_fault(&self) -> Option<(CloseCode, String)> {
        let (code, reason) = match self {
            Error::InvalidMessage(e) => (CloseCode::INVALID_PAYLOAD, e.to_string()),
            Error::UnexpectedMessage { .. } => (CloseCode::UNSUPPORTED_DATA, self.to_string()),
            _ => return None,
        };
        Some((code, crate::close::truncate_reason(&reason).to_owned()))
    }

    /// The HTTP status when the error is a refused handshake.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Handshake { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Disconnected(d) => d.fmt(f),
            Error::UnexpectedMessage { expected, received } => {
                write!(
                    f,
                    "expected a {expected} message, received a {received} message"
                )
            }
            Error::InvalidMessage(e) => write!(f, "invalid JSON message: {e}"),
            Error::Json(e) => write!(f, "JSON error: {e}"),
            Error::Accept(m) => write!(f, "cannot accept: {m}"),
            Error::Route(m) => write!(f, "route error: {m}"),
            Error::MissingState(m) => write!(f, "missing state: {m}"),
            Error::Handshake { status, body } => {
                write!(f, "handshake refused with {status}")?;
                if !body.is_empty() {
                    write!(f, ": {}", String::from_utf8_lossy(body))?;
                }
                Ok(())
            }
            Error::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "WebSocket protocol error: {e}"),
            Error::Custom(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Json(e) | Error::InvalidMessage(e) => Some(e),
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

/// What went wrong in the WebSocket protocol layer: its text says what, and
/// [`source`](std::error::Error::source) may name the underlying error. Opaque, so that the
/// protocol implementation can change without changing this API.
///
/// ```
/// use wsframe::{Error, ProtocolError};
/// fn explain(e: &Error) -> Option<String> {
///     match e {
///         Error::Protocol(p) => Some(format!("protocol: {p}")),
///         _ => None,
///     }
/// }
/// # let _ = explain;
/// ```
#[derive(Debug)]
pub struct ProtocolError(Box<dyn std::error::Error + Send + Sync>);

impl ProtocolError {
    pub(crate) fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        ProtocolError(error.into())
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ProtocolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Json(e)
    }
}
