//! Outgoing data messages encoded once, as complete WebSocket frames.
//!
//! A server's frames are never masked, so a frame's bytes are the same for every
//! recipient: a broadcast is encoded once and every recipient's queue holds a
//! reference-counted handle to the same bytes, which the driver hands to the socket as
//! they are (many per vectored write), with no per-recipient encoding or copying. A
//! data frame's header is kept inline and its payload is the message's own bytes, so
//! framing a message copies nothing (an echo writes the very bytes it read).

use std::sync::Mutex;

use bytes::{BufMut, Bytes, BytesMut};

use crate::deflate::Negotiated;
use crate::deflate::compress::compress;
use crate::metrics::Counters;
use crate::{CloseCode, Message};

/// A complete, unfragmented, unmasked data frame: its header, inline, and its payload,
/// shared with the message it was made from (no copy: an echo writes the bytes it read,
/// and a broadcast's recipients all point at one payload).
#[derive(Clone, Debug)]
pub(crate) struct Frame {
    payload: Bytes,
    header: [u8; 10],
    header_len: u8,
}

const FIN: u8 = 0x80;
/// A compressed message's first frame (RFC 7692, section 6).
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// A control frame as it goes on the wire (`payload` at most 125 bytes).
fn control(opcode: u8, payload: &[u8]) -> Bytes {
    debug_assert!(payload.len() <= 125);
    let mut buf = BytesMut::with_capacity(2 + payload.len());
    buf.put_u8(FIN | opcode);
    buf.put_u8(payload.len() as u8);
    buf.put_slice(payload);
    buf.freeze()
}

/// A client's frame: `first` (FIN, RSV bits, opcode), the length, `key` and the
/// payload masked with it. What the `TestClient` sends when it speaks permessage-deflate,
/// and what the reader's tests feed it.
pub(crate) fn client_frame(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(first);
    match payload.len() {
        n @ 0..=125 => frame.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&key);
    let at = frame.len();
    frame.extend_from_slice(payload);
    // Masking is its own inverse.
    crate::connection::reader::mask::unmask(&mut frame[at..], key, 0);
    frame
}

/// A pong answering a ping with `payload`.
pub(crate) fn pong(payload: &[u8]) -> Bytes {
    control(PONG, payload)
}

/// A ping with no payload (the server's keep-alive).
pub(crate) fn ping() -> Bytes {
    control(PING, &[])
}

/// A close frame with `code` and `reason` (cut to fit on a character boundary), or an
/// empty one (answering a peer's empty close frame).
pub(crate) fn close(close: Option<(CloseCode, &str)>) -> Bytes {
    let mut payload = Vec::with_capacity(125);
    if let Some((code, reason)) = close {
        payload.extend_from_slice(&code.0.to_be_bytes());
        payload.extend_from_slice(crate::close::truncate_reason(reason).as_bytes());
    }
    control(CLOSE, &payload)
}

impl Frame {
    /// Frame `message` (its payload is shared, not copied).
    pub(crate) fn encode(message: &Message) -> Frame {
        Frame::encode_owned(message.clone())
    }

    /// Frame `message`, taking its payload: no reference count is added, so a payload
    /// read into a buffer of its own stays that buffer (cloned, `bytes` would move it
    /// behind a shared header allocated for the purpose, and free both after the write).
    pub(crate) fn encode_owned(message: Message) -> Frame {
        let (opcode, payload) = match message {
            Message::Text(text) => (TEXT, Bytes::from(text)),
            Message::Binary(bytes) => (BINARY, bytes),
        };
        Frame::with(FIN | opcode, payload)
    }

    /// Frame `message` for a connection that agreed `deflate`: compressed when it is
    /// at least the threshold and compressing makes it smaller. A dedicated
    /// connection's frames are compressed as it writes them (in order, in its context).
    pub(crate) fn encode_for(
        message: Message,
        deflate: Option<&Negotiated>,
        counters: &Counters,
    ) -> Frame {
        let frame = Frame::encode_owned(message);
        match deflate {
            Some(deflate) => frame.compressed(deflate, counters).unwrap_or(frame),
            None => frame,
        }
    }

    /// This frame compressed for `deflate`, if that pays (counted when compressed).
    fn compressed(&self, deflate: &Negotiated, counters: &Counters) -> Option<Frame> {
        if !deflate.compresses_on_its_own(self.payload.len()) {
            return None;
        }
        let payload = compress(&self.payload, deflate.server_window, deflate.level)?;
        counters.messages_compressed.add(1);
        Some(self.with_compressed(payload))
    }

    /// A frame whose first byte is `first` (FIN, RSV1, opcode) around `payload`.
    fn with(first: u8, payload: Bytes) -> Frame {
        let len = payload.len();
        let mut header = [0u8; 10];
        header[0] = first;
        let header_len = match len {
            0..=125 => {
                header[1] = len as u8;
                2
            }
            126..=0xFFFF => {
                header[1] = 126;
                header[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                4
            }
            _ => {
                header[1] = 127;
                header[2..10].copy_from_slice(&(len as u64).to_be_bytes());
                10
            }
        };
        Frame {
            payload,
            header,
            header_len,
        }
    }

    /// This data frame with `payload` as its compressed payload (RSV1 set).
    pub(crate) fn with_compressed(&self, payload: Bytes) -> Frame {
        Frame::with(self.header[0] | RSV1, payload)
    }

    /// Whether the frame carries a compressed message.
    pub(crate) fn is_compressed(&self) -> bool {
        self.header[0] & RSV1 != 0
    }

    /// The frame's header on the wire.
    pub(crate) fn header(&self) -> &[u8] {
        &self.header[..usize::from(self.header_len)]
    }

    /// The message's payload, which follows the header on the wire.
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Bytes on the wire.
    pub(crate) fn wire_len(&self) -> usize {
        usize::from(self.header_len) + self.payload.len()
    }

    /// The message's payload length.
    pub(crate) fn payload_len(&self) -> usize {
        self.payload.len()
    }

    /// The payload itself, sharing its bytes (for tests).
    #[cfg(test)]
    pub(crate) fn shared_bytes(&self) -> Bytes {
        self.payload.clone()
    }

    /// The frame as it goes on the wire, in one buffer (for tests).
    #[cfg(test)]
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        [self.header(), self.payload()].concat()
    }
}

/// A message framed once for all the recipients of a broadcast: as it is, and
/// compressed once for each set of deflate parameters met among its recipients (with
/// the default settings, one): every recipient's queue then points at the same bytes.
pub(crate) struct Prepared {
    plain: Frame,
    compressed: Mutex<Vec<(Negotiated, Option<Frame>)>>,
}

impl Prepared {
    pub(crate) fn new(message: &Message) -> Prepared {
        Prepared {
            plain: Frame::encode(message),
            compressed: Mutex::new(Vec::new()),
        }
    }

    /// The frame for a recipient that agreed `deflate`.
    pub(crate) fn for_peer(&self, deflate: Option<&Negotiated>, counters: &Counters) -> Frame {
        let Some(deflate) = deflate else {
            return self.plain.clone();
        };
        if !deflate.compresses_on_its_own(self.plain.payload.len()) {
            // (A dedicated connection compresses it as it writes it.)
            return self.plain.clone();
        }
        let mut compressed = self.compressed.lock().unwrap_or_else(|e| e.into_inner());
        let same = |(agreed, _): &&(Negotiated, Option<Frame>)| {
            (agreed.server_window, agreed.level) == (deflate.server_window, deflate.level)
        };
        let frame = match compressed.iter().find(same) {
            Some((_, frame)) => frame.clone(),
            None => {
                let frame = self.plain.compressed(deflate, counters);
                compressed.push((*deflate, frame.clone()));
                frame
            }
        };
        frame.unwrap_or_else(|| self.plain.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::Frame as WsFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    /// tungstenite's encoding of the same frame, the reference.
    fn reference(opcode: Data, payload: &[u8]) -> Vec<u8> {
        let frame = WsFrame::message(payload.to_vec(), OpCode::Data(opcode), true);
        let mut out = Vec::new();
        frame.format(&mut out).unwrap();
        out
    }

    #[test]
    fn encodes_like_the_protocol_library_at_every_length_boundary() {
        for len in [0usize, 1, 125, 126, 127, 65_535, 65_536, 70_000] {
            let text = "a".repeat(len);
            let frame = Frame::encode(&Message::text(text.clone()));
            assert_eq!(
                frame.to_vec(),
                reference(Data::Text, text.as_bytes()),
                "text of {len}"
            );
            assert_eq!(frame.payload_len(), len);
            assert_eq!(frame.payload(), text.as_bytes());

            let bytes = vec![7u8; len];
            let frame = Frame::encode(&Message::binary(bytes.clone()));
            assert_eq!(
                frame.to_vec(),
                reference(Data::Binary, &bytes),
                "binary of {len}"
            );
            assert_eq!(frame.wire_len(), frame.to_vec().len());
        }
    }

    #[test]
    fn control_frames_encode_like_the_protocol_library() {
        let mut out = Vec::new();
        WsFrame::pong(b"abc".to_vec()).format(&mut out).unwrap();
        assert_eq!(&pong(b"abc")[..], &out[..]);
        out.clear();
        WsFrame::ping(Vec::new()).format(&mut out).unwrap();
        assert_eq!(&ping()[..], &out[..]);
        out.clear();
        let frame = CloseFrame {
            code: 1002.into(),
            reason: "protocol error".into(),
        };
        WsFrame::close(Some(frame)).format(&mut out).unwrap();
        assert_eq!(
            &close(Some((CloseCode::PROTOCOL_ERROR, "protocol error")))[..],
            &out[..]
        );
        assert_eq!(&close(None)[..], &[0x88, 0x00]);
        assert_eq!(
            close(Some((CloseCode::NORMAL, &"é".repeat(100)))).len(),
            2 + 2 + 122
        );
    }
}
