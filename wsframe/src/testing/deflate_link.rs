//! A [`TestWebSocket`](super::TestWebSocket)'s connection when permessage-deflate was
//! negotiated: tungstenite refuses compressed frames, so the client side is wsframe's
//! own: the frame reader reading the server's (unmasked) frames and inflating them, and
//! masked frames written here, compressed as a browser compresses them (its context
//! kept across messages unless the server asked otherwise).

use std::future::poll_fn;

use flate2::{Compress, FlushCompress};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

use crate::connection::frame::client_frame;
use crate::connection::reader::{Incoming, ReadError, ReadLimits, Reader};
use crate::connection::transport::ReadBuffer;
use crate::deflate::{Negotiated, TRAILER};
use crate::{CloseCode, Disconnect, Error, Message, ProtocolError, Result};

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;

pub(super) struct DeflateLink {
    io: TokioIo<Upgraded>,
    reader: Reader,
    compressor: Compress,
    /// The server asked for `client_no_context_takeover`: each message on its own.
    reset_each: bool,
    /// Masking keys, varied per frame.
    next_key: u32,
    /// Our close frame is sent.
    closing: bool,
}

impl DeflateLink {
    pub(super) fn new(io: TokioIo<Upgraded>, agreed: &Negotiated) -> DeflateLink {
        let limits = ReadLimits {
            max_frame: usize::MAX >> 1,
            max_message: 64 << 20,
        };
        DeflateLink {
            io,
            reader: Reader::of_server(ReadBuffer::new(16 << 10, &[]), limits)
                .with_deflate(Some(agreed)),
            compressor: Compress::new_with_window_bits(
                flate2::Compression::new(agreed.level),
                false,
                agreed.client_window,
            ),
            reset_each: agreed.client_no_context_takeover,
            next_key: 0x9e37_79b9,
            closing: false,
        }
    }

    /// Write one masked frame whose first byte is `first`.
    async fn frame(&mut self, first: u8, payload: &[u8]) -> Result<()> {
        self.next_key = self
            .next_key
            .wrapping_mul(0x0101_0101)
            .wrapping_add(0x2545_f491);
        let frame = client_frame(first, payload, self.next_key.to_be_bytes());
        self.io.write_all(&frame).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Send `message` compressed (every data message, as browsers do).
    pub(super) async fn send(&mut self, message: Message) -> Result<()> {
        let opcode = match &message {
            Message::Text(_) => 0x1,
            Message::Binary(_) => 0x2,
        };
        let data = message.as_bytes();
        let mut compressed = Vec::with_capacity(data.len() + 64);
        let start_in = self.compressor.total_in();
        loop {
            let done = (self.compressor.total_in() - start_in) as usize;
            compressed.reserve(data.len().saturating_sub(done) + 64);
            self.compressor
                .compress_vec(&data[done..], &mut compressed, FlushCompress::Sync)
                .map_err(|e| Error::custom(format!("compressing: {e}")))?;
            let consumed = (self.compressor.total_in() - start_in) as usize;
            if consumed == data.len() && compressed.len() < compressed.capacity() {
                break;
            }
        }
        if compressed.ends_with(&TRAILER) {
            compressed.truncate(compressed.len() - TRAILER.len());
        }
        if compressed.is_empty() {
            // zlib writes nothing for a flush right after a flush (an empty message):
            // the one byte of an empty block stands for it (RFC 7692, 7.2.3.6).
            compressed.push(0x00);
        }
        if self.reset_each {
            self.compressor.reset();
        }
        self.frame(FIN | RSV1 | opcode, &compressed).await
    }

    /// The next data message; pings are answered on the way, and the server's close is
    /// answered and reported as [`Error::Disconnected`].
    pub(super) async fn receive(&mut self) -> Result<Message> {
        loop {
            let incoming = poll_fn(|cx| self.reader.poll_next(&mut self.io, cx)).await;
            match incoming {
                Ok(Incoming::Message(message)) => return Ok(message),
                Ok(Incoming::Ping(payload)) => self.frame(FIN | 0xA, &payload).await?,
                Ok(Incoming::Pong) => {}
                Ok(Incoming::Close(close)) => {
                    let disconnect = match close {
                        Some((code, reason)) => Disconnect {
                            code: Some(code),
                            reason,
                        },
                        None => Disconnect::default(),
                    };
                    if !self.closing {
                        self.closing = true;
                        let mut echo = Vec::new();
                        if let Some(code) = disconnect.code {
                            echo.extend_from_slice(&code.0.to_be_bytes());
                        }
                        // The server may already have gone.
                        let _ = self.frame(FIN | 0x8, &echo).await;
                    }
                    return Err(Error::Disconnected(disconnect));
                }
                Err(ReadError::Eof) => return Err(Error::Disconnected(Disconnect::default())),
                Err(ReadError::Io(e)) => return Err(Error::Io(e)),
                Err(ReadError::Fault(fault)) => {
                    return Err(Error::Protocol(ProtocolError::new(format!(
                        "the server broke the protocol: {}",
                        fault.reason
                    ))));
                }
            }
        }
    }

    /// Send our close frame.
    pub(super) async fn close(&mut self, code: CloseCode, reason: &str) -> Result<()> {
        if self.closing {
            return Ok(());
        }
        self.closing = true;
        let mut payload = code.0.to_be_bytes().to_vec();
        payload.extend_from_slice(crate::close::truncate_reason(reason).as_bytes());
        self.frame(FIN | 0x8, &payload).await
    }
}
