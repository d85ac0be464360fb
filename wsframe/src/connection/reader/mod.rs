//! The server's frame reader: client frames parsed in place from the read buffer.
//!
//! - **In place, no copy for an unfragmented message.** Bytes are read into the
//!   buffer's spare room (not zero-filled first); a frame's payload is unmasked where it
//!   lies and split off the buffer as the message's `Bytes`. A payload of at most 512
//!   bytes is copied out instead, so that a small message kept long does not pin a read
//!   chunk (see [`ReadBuffer::split_payload`]). Once a header has arrived, the buffer
//!   reserves room for the rest of its frame (up to 64 KiB at once, then as much as has
//!   arrived: a header alone cannot make the server hold the length it declares).
//! - **Unmasked a word at a time** ([`mask`]), as the bytes arrive.
//! - **UTF-8 validated as it arrives** ([`utf8`]), inside a frame that is still arriving
//!   and across fragments: invalid text is refused (1007) at its first bad byte, not when
//!   the message ends. A text message that arrives whole is validated once, when it is
//!   made a [`Utf8Bytes`].
//! - **Checked from the header** ([`header`]): RSV bits beyond the negotiated extensions,
//!   reserved opcodes, control frames that are fragmented or long, unmasked frames; an
//!   oversized frame or message is refused (1009) before any of its payload is buffered.
//! - **Control frames** are checked too: a close frame's code and UTF-8 reason.
//!
//! The reader is sans-IO at its core ([`Reader::next`] parses what is buffered), which
//! is what the differential tests and the fuzz target drive. A message is assembled
//! frame by frame in [`Assembly`], the place where permessage-deflate will inflate a
//! compressed message (RSV1 on its first frame) as it arrives.

pub(crate) mod header;
pub(crate) mod mask;
pub(crate) mod utf8;

use std::io;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncRead;

use self::header::{Header, OpCode, Peer, Rsv};
use self::utf8::Utf8Stream;
use super::transport::ReadBuffer;
use crate::deflate::Negotiated;
use crate::deflate::inflate::{Inflate, InflateError};
use crate::{CloseCode, Message, Utf8Bytes};

/// Room reserved at once for a frame under way: a frame up to this size lands in one
/// allocation; a larger one's room grows with what has arrived of it.
const FRAME_ROOM: usize = 64 << 10;

/// Why the reader refuses the peer's input: the close code and reason to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) code: CloseCode,
    pub(crate) reason: &'static str,
}

impl Fault {
    pub(crate) fn protocol(reason: &'static str) -> Fault {
        Fault {
            code: CloseCode::PROTOCOL_ERROR,
            reason,
        }
    }

    fn too_big(reason: &'static str) -> Fault {
        Fault {
            code: CloseCode::MESSAGE_TOO_BIG,
            reason,
        }
    }

    fn invalid_utf8(reason: &'static str) -> Fault {
        Fault {
            code: CloseCode::INVALID_PAYLOAD,
            reason,
        }
    }
}

/// What the peer sent, frame by frame for control frames and whole for messages.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    Message(Message),
    Ping(Bytes),
    Pong,
    /// The peer's close frame: its code and reason, or none (an empty close frame).
    Close(Option<(CloseCode, String)>),
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer broke the protocol or a limit.
    Fault(Fault),
    /// The stream ended (possibly inside a frame).
    Eof,
    Io(io::Error),
}

/// The limits a reader enforces, from the route's [`Limits`](crate::Limits).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadLimits {
    pub(crate) max_frame: usize,
    pub(crate) max_message: usize,
}

/// The frame whose payload is arriving (its header already consumed).
#[derive(Clone, Copy, Debug)]
struct Arriving {
    opcode: OpCode,
    fin: bool,
    key: [u8; 4],
    len: usize,
    /// Payload bytes at the front of the buffer already unmasked (and validated).
    seen: usize,
    /// Whether this frame's text is validated as it arrives (`None`: not decided yet).
    streamed: Option<bool>,
    /// The frame belongs to a compressed message (permessage-deflate).
    compressed: bool,
}

/// A fragmented message being assembled.
#[derive(Debug)]
struct Assembly {
    text: bool,
    data: Data,
}

/// A message's bytes so far.
#[derive(Debug)]
enum Data {
    /// As they arrived.
    Plain(BytesMut),
    /// Inflated from a compressed message's frames.
    Inflated(Vec<u8>),
}

/// The frame reader (see the module docs).
#[derive(Debug)]
pub(crate) struct Reader {
    buffer: ReadBuffer,
    limits: ReadLimits,
    /// Who sends what this reader reads (a server's reader reads a client).
    peer: Peer,
    allowed: Rsv,
    /// permessage-deflate's incoming side, when negotiated.
    inflate: Option<Box<Inflate>>,
    frame: Option<Arriving>,
    message: Option<Assembly>,
    /// The text of the message in progress, validated so far (when streamed).
    utf8: Utf8Stream,
    /// The first fault: once the input is refused, it stays refused.
    failed: Option<Fault>,
}

impl Reader {
    pub(crate) fn new(buffer: ReadBuffer, limits: ReadLimits) -> Reader {
        Reader {
            buffer,
            limits,
            peer: Peer::Client,
            allowed: Rsv::NONE,
            inflate: None,
            frame: None,
            message: None,
            utf8: Utf8Stream::default(),
            failed: None,
        }
    }

    /// A client's reader of the server's frames (unmasked), for the `TestClient`.
    pub(crate) fn of_server(buffer: ReadBuffer, limits: ReadLimits) -> Reader {
        Reader {
            peer: Peer::Server,
            ..Reader::new(buffer, limits)
        }
    }

    /// Accept compressed messages (RSV1 on their first frame) as `deflate` agreed.
    pub(crate) fn with_deflate(mut self, deflate: Option<&Negotiated>) -> Reader {
        if let Some(deflate) = deflate {
            // The peer's side of the agreement: its window, whether it keeps its context.
            let (window, takeover) = match self.peer {
                Peer::Client => (deflate.client_window, !deflate.client_no_context_takeover),
                Peer::Server => (deflate.server_window, !deflate.server_no_context_takeover),
            };
            self.allowed = Rsv::RSV1;
            self.inflate = Some(Box::new(Inflate::new(window, takeover)));
        }
        self
    }

    /// Append bytes as if read from the socket (tests and fuzzing).
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buffer.bytes().extend_from_slice(bytes);
    }

    /// Read until the next complete frame or message; `Pending` when the socket has
    /// nothing more yet (the buffer is then given back, unless a frame is under way).
    pub(crate) fn poll_next<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Incoming, ReadError>> {
        loop {
            if let Some(incoming) = self.next().map_err(ReadError::Fault)? {
                return Poll::Ready(Ok(incoming));
            }
            // Room for the rest of the frame under way, so that it arrives contiguous; but
            // no more than has arrived of it (at least FRAME_ROOM), so that a header alone
            // cannot make the server hold the length it declares.
            let rest = self.frame.map_or(0, |f| {
                let have = self.buffer.bytes().len();
                f.len.saturating_sub(have).min(have.max(FRAME_ROOM))
            });
            let busy = self.frame.is_some() || self.message.is_some();
            match ready!(self.buffer.poll_fill(io, cx, rest, busy)) {
                Ok(0) => return Poll::Ready(Err(ReadError::Eof)),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(ReadError::Io(e))),
            }
        }
    }

    /// Parse what is buffered: the next frame or message, `Ok(None)` when more bytes
    /// are needed. After an `Err`, every call returns the same `Err`.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Fault> {
        if let Some(fault) = self.failed {
            return Err(fault);
        }
        let next = self.parse();
        if let Err(fault) = next {
            self.failed = Some(fault);
        }
        next
    }

    fn parse(&mut self) -> Result<Option<Incoming>, Fault> {
        loop {
            let frame = match self.frame {
                Some(frame) => frame,
                None => {
                    let Some(header) = header::parse(self.buffer.bytes(), self.allowed, self.peer)?
                    else {
                        return Ok(None);
                    };
                    self.begin(header)?
                }
            };
            let text = self.is_text(frame.opcode);
            let bytes = self.buffer.bytes();
            let available = bytes.len().min(frame.len);
            let mut frame = frame;
            if available > frame.seen {
                if self.peer == Peer::Client {
                    mask::unmask(&mut bytes[frame.seen..available], frame.key, frame.seen);
                }
                // A text message that is here whole is validated once, at the end; one
                // that arrives in pieces is validated piece by piece.
                let whole = frame.fin
                    && self.message.is_none()
                    && frame.seen == 0
                    && available == frame.len;
                // A compressed message's text is validated as it is inflated.
                let streamed = *frame
                    .streamed
                    .get_or_insert(text && !whole && !frame.compressed);
                if streamed {
                    self.utf8
                        .feed(&bytes[frame.seen..available])
                        .map_err(|_| Fault::invalid_utf8("invalid UTF-8"))?;
                }
                frame.seen = available;
            }
            if available < frame.len {
                self.frame = Some(frame);
                return Ok(None);
            }
            self.frame = None;
            let payload = self.buffer.split_payload(frame.len);
            if let Some(incoming) = self.complete(frame, payload)? {
                return Ok(Some(incoming));
            }
        }
    }

    /// Whether a frame with `opcode` carries text.
    fn is_text(&self, opcode: OpCode) -> bool {
        match opcode {
            OpCode::Text => true,
            OpCode::Continuation => self.message.as_ref().is_some_and(|m| m.text),
            _ => false,
        }
    }

    /// Check a new frame against the message in progress and the limits, and consume
    /// its header.
    fn begin(&mut self, header: Header) -> Result<Arriving, Fault> {
        let data = !header.opcode.is_control();
        if data
            && header.opcode != OpCode::Continuation
            && header.payload_len > self.limits.max_message as u64
        {
            return Err(Fault::too_big("message too big"));
        }
        if data && header.payload_len > self.limits.max_frame as u64 {
            return Err(Fault::too_big("frame too big"));
        }
        let len = header.payload_len as usize;
        match (header.opcode, &self.message) {
            (OpCode::Continuation, None) => {
                return Err(Fault::protocol("continuation frame without a message"));
            }
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(Fault::protocol("new message inside a fragmented one"));
            }
            // (A compressed message is held to the limit as it is inflated.)
            (
                OpCode::Continuation,
                Some(Assembly {
                    data: Data::Plain(data),
                    ..
                }),
            ) if data.len().saturating_add(len) > self.limits.max_message => {
                return Err(Fault::too_big("message too big"));
            }
            // A new text message: its validation starts afresh.
            (OpCode::Text, None) => self.utf8 = Utf8Stream::default(),
            _ => {}
        }
        let compressed = match (header.opcode, &self.message) {
            (OpCode::Continuation, Some(message)) => matches!(message.data, Data::Inflated(_)),
            _ => header.rsv == Rsv::RSV1,
        };
        self.buffer.bytes().advance(header.len);
        Ok(Arriving {
            compressed,
            opcode: header.opcode,
            fin: header.fin,
            key: header.key,
            len,
            seen: 0,
            streamed: None,
        })
    }

    /// A frame arrived whole: a control frame is handled on its own, a data frame
    /// completes its message or adds to it.
    fn complete(&mut self, frame: Arriving, payload: BytesMut) -> Result<Option<Incoming>, Fault> {
        let text = match frame.opcode {
            OpCode::Ping => return Ok(Some(Incoming::Ping(payload.freeze()))),
            OpCode::Pong => return Ok(Some(Incoming::Pong)),
            OpCode::Close => {
                return close_frame(&payload).map(|close| Some(Incoming::Close(close)));
            }
            OpCode::Text => true,
            OpCode::Binary => false,
            OpCode::Continuation => self.message.as_ref().is_some_and(|m| m.text),
        };
        if frame.compressed {
            return self.inflate_frame(frame.fin, text, &payload);
        }
        let streamed = frame.streamed == Some(true);
        let data = match (self.message.take(), frame.fin) {
            // The common case: a whole message in one frame, handed over as it lies.
            (None, true) => payload,
            (None, false) => {
                self.message = Some(Assembly {
                    text,
                    data: Data::Plain(payload),
                });
                return Ok(None);
            }
            (
                Some(Assembly {
                    text,
                    data: Data::Plain(mut data),
                }),
                fin,
            ) => {
                data.extend_from_slice(&payload);
                if !fin {
                    self.message = Some(Assembly {
                        text,
                        data: Data::Plain(data),
                    });
                    return Ok(None);
                }
                data
            }
            (Some(Assembly { .. }), _) => {
                unreachable!("a compressed message's frames are marked compressed")
            }
        };
        let message = if text {
            if streamed {
                self.utf8
                    .finish()
                    .map_err(|_| Fault::invalid_utf8("invalid UTF-8"))?;
            }
            let text = Utf8Bytes::try_from(data.freeze())
                .map_err(|_| Fault::invalid_utf8("invalid UTF-8"))?;
            Message::Text(text)
        } else {
            Message::Binary(data.freeze())
        };
        Ok(Some(Incoming::Message(message)))
    }
}

impl Reader {
    /// A compressed message's frame arrived whole: inflate it onto the message, held
    /// to the size limit as the bytes come out, its text validated as it comes out.
    fn inflate_frame(
        &mut self,
        fin: bool,
        text: bool,
        payload: &[u8],
    ) -> Result<Option<Incoming>, Fault> {
        let Some(inflate) = self.inflate.as_mut() else {
            return Err(Fault::protocol("compressed frame without the extension"));
        };
        let mut data = match self.message.take() {
            Some(Assembly {
                data: Data::Inflated(data),
                ..
            }) => data,
            _ => Vec::new(),
        };
        let before = data.len();
        inflate
            .feed(payload, fin, &mut data, self.limits.max_message)
            .map_err(|e| match e {
                InflateError::TooBig => Fault::too_big("message too big"),
                InflateError::Corrupt => Fault {
                    code: CloseCode::INVALID_PAYLOAD,
                    reason: "invalid compressed data",
                },
            })?;
        // Text inflated in pieces is validated piece by piece; a message inflated whole
        // here is validated once, below.
        let streamed = text && !(fin && before == 0);
        if streamed {
            self.utf8
                .feed(&data[before..])
                .map_err(|_| Fault::invalid_utf8("invalid UTF-8"))?;
        }
        if !fin {
            self.message = Some(Assembly {
                text,
                data: Data::Inflated(data),
            });
            return Ok(None);
        }
        let data = Bytes::from(data);
        let message = if text {
            if streamed {
                self.utf8
                    .finish()
                    .map_err(|_| Fault::invalid_utf8("invalid UTF-8"))?;
            }
            Message::Text(
                Utf8Bytes::try_from(data).map_err(|_| Fault::invalid_utf8("invalid UTF-8"))?,
            )
        } else {
            Message::Binary(data)
        };
        Ok(Some(Incoming::Message(message)))
    }
}

/// A close frame's payload: nothing, or a valid code and a UTF-8 reason.
fn close_frame(payload: &[u8]) -> Result<Option<(CloseCode, String)>, Fault> {
    match payload {
        [] => Ok(None),
        [_] => Err(Fault::protocol("close frame with a one-byte payload")),
        [high, low, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*high, *low]));
            if !code.is_sendable() {
                return Err(Fault::protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| Fault::invalid_utf8("close reason is not UTF-8"))?;
            Ok(Some((code, reason.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests;
