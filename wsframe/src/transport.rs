//! The byte stream under the WebSocket codec: the upgraded connection, with a read
//! buffer that exists only while received bytes wait to be parsed.
//!
//! tungstenite keeps a read buffer of its configured size for the whole life of a
//! connection; at 4 KiB that alone was half the memory of an idle connection. So the
//! codec gets a small buffer ([`CODEC_READ_BUFFER`]) and reads through this transport,
//! which reads the socket in chunks of `Config::read_buffer_size` (one system call for
//! many small frames, as before) and gives its buffer back as soon as the socket has
//! nothing more to read. A busy connection keeps reusing the same allocation; an idle
//! one holds none.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::cell::RefCell;

use bytes::{Buf, Bytes, BytesMut};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The codec's own read buffer: what it asks of the transport per read.
pub(crate) const CODEC_READ_BUFFER: usize = 512;

/// Spare read buffers per worker thread, at most this many: a connection that waits
/// gives its buffer here, the next one that reads takes it, and a ping-pong exchange
/// costs no allocation per message.
const SPARES: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

fn take_spare(chunk: usize) -> BytesMut {
    match SPARE.with(|spare| spare.borrow_mut().pop()) {
        Some(buffer) if buffer.capacity() >= chunk => buffer,
        _ => BytesMut::with_capacity(chunk),
    }
}

fn give_spare(buffer: BytesMut) {
    SPARE.with(|spare| {
        let mut spare = spare.borrow_mut();
        if spare.len() < SPARES {
            spare.push(buffer);
        }
    });
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

/// A connection with a lazily held read buffer (see the module docs).
#[derive(Debug)]
pub(crate) struct Transport<T> {
    io: T,
    /// Bytes read from the socket and not yet handed to the codec.
    buffered: BytesMut,
    /// Size of each read from the socket.
    chunk: usize,
}

impl<T> Transport<T> {
    /// `io` read in chunks of `chunk` bytes; `prefix` was read from it already.
    pub(crate) fn new(io: T, chunk: usize, prefix: &[u8]) -> Transport<T> {
        Transport {
            io,
            buffered: BytesMut::from(prefix),
            chunk: chunk.max(CODEC_READ_BUFFER),
        }
    }

    /// Bytes of read buffer held now (for tests).
    #[cfg(test)]
    fn held(&self) -> usize {
        self.buffered.capacity()
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Transport<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if out.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.buffered.is_empty() {
            if out.remaining() >= this.chunk {
                // A read as large as ours gains nothing from the buffer.
                return Pin::new(&mut this.io).poll_read(cx, out);
            }
            if this.buffered.capacity() < this.chunk {
                this.buffered = take_spare(this.chunk);
            }
            let read =
                tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.buffered);
            match read {
                Poll::Pending => {
                    // Nothing to read: the connection is waiting, and holds no buffer
                    // while it does.
                    give_spare(std::mem::take(&mut this.buffered));
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())), // end of stream
                Poll::Ready(Ok(_)) => {}
            }
        }
        let n = this.buffered.len().min(out.remaining());
        out.put_slice(&this.buffered[..n]);
        this.buffered.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Transport<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_everything_in_small_pieces_and_gives_the_buffer_back_when_idle() {
        let (mut peer, io) = tokio::io::duplex(1 << 16);
        let mut transport = Transport::new(io, 4096, b"");
        let sent: Vec<u8> = (0..10_000u32).map(|n| n as u8).collect();
        peer.write_all(&sent).await.unwrap();

        let mut got = Vec::new();
        let mut piece = [0u8; CODEC_READ_BUFFER];
        while got.len() < sent.len() {
            let n = transport.read(&mut piece).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&piece[..n]);
        }
        assert_eq!(got, sent);
        assert!(
            transport.held() > 0,
            "mid-stream the chunk is kept for reuse"
        );

        // Nothing more to read: the next read waits, and the buffer is given back.
        let pending = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            transport.read(&mut piece),
        )
        .await;
        assert!(pending.is_err(), "no data, so the read waits");
        assert_eq!(transport.held(), 0);

        // It comes back on demand, and the end of the stream is reported.
        peer.write_all(b"more").await.unwrap();
        drop(peer);
        let n = transport.read(&mut piece).await.unwrap();
        assert_eq!(&piece[..n], b"more");
        assert_eq!(transport.read(&mut piece).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_large_read_goes_straight_to_the_socket() {
        let (mut peer, io) = tokio::io::duplex(1 << 16);
        let mut transport = Transport::new(io, 1024, b"");
        peer.write_all(&[7u8; 3000]).await.unwrap();
        let mut big = vec![0u8; 4096];
        let n = transport.read(&mut big).await.unwrap();
        assert_eq!(n, 3000);
        assert_eq!(transport.held(), 0);
    }
}
