//! [`Message`]: one complete WebSocket data message.
//!
//! Payloads are reference-counted (`Bytes` / `Utf8Bytes`), so one message can be queued
//! for many connections without copying it.

mod utf8_bytes;

use bytes::Bytes;
use tokio_tungstenite::tungstenite;

pub use utf8_bytes::Utf8Bytes;

/// A complete data message. Control frames (ping, pong, close) are handled by the
/// framework and never reach a handler.
///
/// ```
/// use wsframe::Message;
/// let m = Message::text("hi");
/// assert_eq!(m.as_text(), Some("hi"));
/// assert_eq!(Message::binary(vec![1, 2]).len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A UTF-8 text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Message {
        Message::Text(text.into())
    }

    /// A binary message.
    pub fn binary(bytes: impl Into<Bytes>) -> Message {
        Message::Binary(bytes.into())
    }

    /// `value` serialized once as a JSON text message, to hand to any send that takes
    /// `impl Into<Message>` (the hub's typed sends use it).
    ///
    /// ```
    /// use wsframe::Message;
    /// let m = Message::json(&serde_json::json!({ "n": 1 })).unwrap();
    /// assert_eq!(m.as_text(), Some(r#"{"n":1}"#));
    /// ```
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> crate::Result<Message> {
        Ok(Message::Text(serde_json::to_string(value)?.into()))
    }

    /// The text, when this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t.as_str()),
            Message::Binary(_) => None,
        }
    }

    /// The payload bytes of either kind.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `"text"` or `"binary"`, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Text(_) => "text",
            Message::Binary(_) => "binary",
        }
    }

    pub(crate) fn into_tungstenite(self) -> tungstenite::Message {
        match self {
            Message::Text(t) => tungstenite::Message::Text(t.into_tungstenite()),
            Message::Binary(b) => tungstenite::Message::Binary(b),
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Message::Text(s.into())
    }
}

impl From<&'static str> for Message {
    fn from(s: &'static str) -> Self {
        Message::Text(Utf8Bytes::from_static(s))
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Self {
        Message::Binary(b.into())
    }
}

impl From<Bytes> for Message {
    fn from(b: Bytes) -> Self {
        Message::Binary(b)
    }
}
