//! The upgraded byte stream, and the read buffer that exists only while received bytes
//! wait to be parsed.
//!
//! The frame reader parses frames in place from a [`ReadBuffer`], which reads the socket
//! in chunks of `Config::read_buffer_size` (one system call for many small frames) into
//! its spare room, never zero-filled, and gives its allocation back, to a small
//! per-thread pool, as soon as the socket has nothing more to read and no frame is under
//! way. A busy connection keeps reusing buffers; an idle one holds none.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Payloads up to this size are copied out of the read buffer; larger ones are shared.
pub(crate) const COPY_MAX: usize = 512;

/// The smallest read chunk.
const MIN_CHUNK: usize = 256;

/// Spare read buffers per worker thread, at most this many: a connection that waits
/// gives its buffer here, the next one that reads takes it, and a ping-pong exchange
/// costs no allocation per message.
const SPARES: usize = 64;

/// A buffer grown past this many chunks (a large frame) is not kept as a spare.
const SPARE_MAX_CHUNKS: usize = 4;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

fn take_spare(chunk: usize) -> BytesMut {
    match SPARE.with(|spare| spare.borrow_mut().pop()) {
        Some(buffer) if buffer.capacity() >= chunk => buffer,
        _ => BytesMut::with_capacity(chunk),
    }
}

fn give_spare(buffer: BytesMut, chunk: usize) {
    if buffer.capacity() < chunk || buffer.capacity() > chunk * SPARE_MAX_CHUNKS {
        return;
    }
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARES {
            spare.push(buffer);
        }
    });
}

/// Received bytes waiting to be parsed, held only while there are some (see the
/// module docs).
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    bytes: BytesMut,
    /// Size of each read from the socket.
    chunk: usize,
}

impl ReadBuffer {
    /// Reads of `chunk` bytes; `prefix` was read from the socket already (hyper's
    /// read-ahead), and is copied so that hyper's own buffer is released.
    pub(crate) fn new(chunk: usize, prefix: &[u8]) -> ReadBuffer {
        ReadBuffer {
            bytes: BytesMut::from(prefix),
            chunk: chunk.max(MIN_CHUNK),
        }
    }

    /// The bytes received and not yet consumed.
    pub(crate) fn bytes(&mut self) -> &mut BytesMut {
        &mut self.bytes
    }

    /// Read more from `io`, with room for at least `rest` more bytes (the rest of a
    /// frame under way) or a chunk. Ready with the count read, 0 at the end of the
    /// stream. While `Pending` with nothing buffered and nothing under way (`busy`),
    /// the buffer is given back.
    pub(crate) fn poll_fill<T: AsyncRead + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
        rest: usize,
        busy: bool,
    ) -> Poll<io::Result<usize>> {
        if self.bytes.is_empty()
            && self.bytes.capacity() < self.chunk
            && rest <= self.chunk
            // The messages split off it may all be gone: then its whole allocation is
            // ours again, without allocating.
            && !self.bytes.try_reclaim(self.chunk)
        {
            self.bytes = take_spare(self.chunk);
        }
        let room = self.bytes.capacity() - self.bytes.len();
        if room < rest.max(MIN_CHUNK) {
            self.bytes.reserve(rest.max(self.chunk));
        }
        match tokio_util::io::poll_read_buf(Pin::new(io), cx, &mut self.bytes) {
            Poll::Pending => {
                if self.bytes.is_empty() && !busy {
                    let mut idle = std::mem::take(&mut self.bytes);
                    // Pooled if it has a chunk's room, reclaimed in place when nothing
                    // split off it is still alive. (A live payload split off its front
                    // may still share the allocation: the regions never overlap, but
                    // the allocation stays pinned until that payload is dropped.)
                    if idle.try_reclaim(self.chunk) {
                        give_spare(idle, self.chunk);
                    }
                }
                Poll::Pending
            }
            ready => ready,
        }
    }

    /// The next `len` bytes, a frame's payload, taken off the front. A payload larger
    /// than [`COPY_MAX`] is split off with no copy (the message shares the read
    /// buffer's allocation); a smaller one is copied, so that a small message kept
    /// long (queued, in a history) does not pin a whole read chunk, and the buffer stays
    /// free to reuse. After a frame larger than a chunk, what follows it is moved to a
    /// buffer of its own, so that it does not pin the large frame's allocation.
    pub(crate) fn split_payload(&mut self, len: usize) -> BytesMut {
        if len <= COPY_MAX {
            let payload = BytesMut::from(&self.bytes[..len]);
            self.bytes.advance(len);
            return payload;
        }
        let payload = self.bytes.split_to(len);
        if len > self.chunk {
            self.bytes = if self.bytes.is_empty() {
                BytesMut::new()
            } else {
                BytesMut::from(&self.bytes[..])
            };
        }
        payload
    }

    /// Bytes of buffer held now (for tests).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.bytes.capacity()
    }
}

/// The upgraded connection: the TCP stream itself when hyper hands it back (no boxed
/// indirection on every read and write), else hyper's upgraded object (the in-process
/// TestClient's pipe).
#[derive(Debug)]
pub(crate) enum Upgraded {
    Tcp(TcpStream),
    Other(TokioIo<hyper::upgrade::Upgraded>),
}

impl Upgraded {
    /// The connection and the bytes hyper read past the handshake request.
    pub(crate) fn new(upgraded: hyper::upgrade::Upgraded) -> (Upgraded, Bytes) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => (Upgraded::Tcp(parts.io.into_inner()), parts.read_buf),
            Err(upgraded) => (Upgraded::Other(TokioIo::new(upgraded)), Bytes::new()),
        }
    }
}

macro_rules! delegate {
    ($self:ident, $io:ident => $call:expr) => {
        match $self.get_mut() {
            Upgraded::Tcp($io) => {
                let $io = Pin::new($io);
                $call
            }
            Upgraded::Other($io) => {
                let $io = Pin::new($io);
                $call
            }
        }
    };
}

impl AsyncRead for Upgraded {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_read(cx, buf))
    }
}

impl AsyncWrite for Upgraded {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, io => io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Upgraded::Tcp(io) => io.is_write_vectored(),
            Upgraded::Other(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, io => io.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn reads_in_chunks_and_gives_the_buffer_back_when_idle() {
        let (mut peer, mut io) = tokio::io::duplex(1 << 16);
        let mut buffer = ReadBuffer::new(4096, b"");
        let sent: Vec<u8> = (0..10_000u32).map(|n| n as u8).collect();
        peer.write_all(&sent).await.unwrap();

        let mut got = Vec::new();
        while got.len() < sent.len() {
            let n = poll_fn(|cx| buffer.poll_fill(&mut io, cx, 0, false))
                .await
                .unwrap();
            assert!(n > 0 && n <= 4096, "one chunk at most: {n}");
            got.extend_from_slice(&buffer.bytes().split());
        }
        assert_eq!(got, sent);

        // Nothing more to read: the read waits, and the buffer is given back.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(buffer.poll_fill(&mut io, &mut cx, 0, false).is_pending());
        assert_eq!(buffer.held(), 0);

        // It comes back on demand, and the end of the stream is reported.
        peer.write_all(b"more").await.unwrap();
        drop(peer);
        let n = poll_fn(|cx| buffer.poll_fill(&mut io, cx, 0, false))
            .await
            .unwrap();
        assert_eq!(&buffer.bytes()[..n], b"more");
        buffer.bytes().clear();
        assert_eq!(
            poll_fn(|cx| buffer.poll_fill(&mut io, cx, 0, false))
                .await
                .unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_frame_under_way_gets_room_for_all_of_it_and_keeps_it_while_waiting() {
        let (mut peer, mut io) = tokio::io::duplex(1 << 16);
        let mut buffer = ReadBuffer::new(1024, b"ab");
        peer.write_all(&[7u8; 3000]).await.unwrap();
        let n = poll_fn(|cx| buffer.poll_fill(&mut io, cx, 100_000, true))
            .await
            .unwrap();
        assert_eq!(n, 3000, "all that was sent, in one read");
        assert!(buffer.held() >= 100_000);
        assert_eq!(&buffer.bytes()[..2], b"ab");
        let mut cx = Context::from_waker(std::task::Waker::noop());
        buffer.bytes().clear();
        assert!(
            buffer
                .poll_fill(&mut io, &mut cx, 97_000, true)
                .is_pending()
        );
        assert!(buffer.held() >= 97_000, "kept: the frame is under way");
    }
}
