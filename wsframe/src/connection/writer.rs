//! The write side of a connection: queued data frames handed to the socket as they are,
//! many per vectored write; control frames (pong, ping, close) between them; the close
//! path; and the release of the TCP connection.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::warn;

use super::frame;
use super::transport::Upgraded;
use crate::CloseCode;
use crate::lifecycle::Lifecycle;
use crate::metrics::Counters;
use crate::socket::{ConnShared, Outbox, Outgoing, Queued};

/// Most queued messages drained before one write.
pub(super) const MAX_BATCH: usize = 256;
/// Most slices handed to the socket in one vectored write (a data frame takes two: its
/// header and its payload).
const MAX_IOV: usize = 128;
/// How long the server lingers after its last write for the peer to close TCP.
const LINGER: Duration = Duration::from_secs(2);

/// A close request met in the queue (the handler's `close`), sent once what came before
/// it is written.
pub(super) type CloseRequest = (CloseCode, String);

/// Messages drained from the outbox and the control frames to send between them. Data
/// frames go to the socket in order, many per vectored write, with no copy; their bytes
/// stay in the outbox's byte bound until written (or discarded), and the outbox hears
/// how far the writes got. A control frame goes out before the next data frame begins,
/// never inside one.
#[derive(Default)]
pub(super) struct Writer {
    pub(super) items: VecDeque<Queued>,
    /// Bytes of the front frame already written (a write may take part of a frame).
    offset: usize,
    /// A close request met in the batch.
    close: Option<CloseRequest>,
    /// The control frame to send next, and how much of it is written.
    control: Option<Bytes>,
    control_offset: usize,
    /// A control frame waiting for the one partly written.
    next_control: Option<Bytes>,
    /// Written but not yet counted: counters are updated once per batch.
    messages: u64,
    bytes: u64,
    /// Wire bytes of items written or discarded, and the last item written, not yet
    /// reported to the outbox.
    done_bytes: usize,
    handed: Option<u64>,
}

impl Writer {
    /// Send `frame` (a control frame) before the next data frame. An unwritten pong is
    /// replaced: only the latest ping is answered, so a ping flood grows no queue.
    pub(super) fn control(&mut self, frame: Bytes) {
        if self.control.is_some() && self.control_offset > 0 {
            self.next_control = Some(frame);
        } else {
            self.control = Some(frame);
            self.control_offset = 0;
        }
    }

    /// Drop what is not written yet, except the rest of a frame already begun.
    pub(super) fn abandon(&mut self, outbox: &Outbox) {
        let keep = usize::from(self.offset > 0).min(self.items.len());
        self.done_bytes += self
            .items
            .drain(keep..)
            .map(|queued| queued.item.wire_len())
            .sum::<usize>();
        self.close = None;
        outbox.handed(std::mem::take(&mut self.done_bytes), self.handed.take());
    }

    /// Write the control frame and the batch, in order. Ready with a close request met
    /// in the batch (what followed it is discarded: nothing is sent after a close).
    /// Progress is kept here, so this can be polled again after `Pending`.
    pub(super) fn poll_write(
        &mut self,
        io: &mut Upgraded,
        shared: &ConnShared,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<CloseRequest>>> {
        let mut wrote = false;
        loop {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            // A control frame goes between data frames, never inside one.
            let control_first = self.offset == 0 && self.control.is_some();
            if let (true, Some(control)) = (control_first, &self.control) {
                slices[0] = IoSlice::new(&control[self.control_offset..]);
                count = 1;
            }
            for queued in &self.items {
                let Outgoing::Frame { frame, .. } = &queued.item else {
                    break;
                };
                if count + 2 > MAX_IOV {
                    break;
                }
                // The front frame may be partly written already.
                let skip = if count == 0 { self.offset } else { 0 };
                let (header, payload) = (frame.header(), frame.payload());
                if skip < header.len() {
                    slices[count] = IoSlice::new(&header[skip..]);
                    count += 1;
                }
                let from = skip.saturating_sub(header.len());
                if from < payload.len() {
                    slices[count] = IoSlice::new(&payload[from..]);
                    count += 1;
                }
            }
            if count == 0 {
                if let Some(Queued {
                    seq,
                    item: Outgoing::Close(code, reason),
                }) = self.items.pop_front()
                {
                    self.close = Some((code, reason));
                    self.handed = Some(seq);
                    self.done_bytes += self
                        .items
                        .drain(..)
                        .map(|queued| queued.item.wire_len())
                        .sum::<usize>();
                }
                break;
            }
            let mut written = match Pin::new(&mut *io).poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    self.settle(shared);
                    return Poll::Pending;
                }
            };
            wrote = true;
            if let (true, Some(control)) = (control_first, &self.control) {
                let left = control.len() - self.control_offset;
                if written < left {
                    self.control_offset += written;
                    continue;
                }
                written -= left;
                self.control = self.next_control.take();
                self.control_offset = 0;
            }
            while written > 0 {
                let Some(Queued {
                    seq,
                    item: Outgoing::Frame { frame, .. },
                }) = self.items.front()
                else {
                    break;
                };
                let left = frame.wire_len() - self.offset;
                if written < left {
                    self.offset += written;
                    break;
                }
                written -= left;
                self.offset = 0;
                self.messages += 1;
                self.bytes += frame.payload_len() as u64;
                self.done_bytes += frame.wire_len();
                self.handed = Some(*seq);
                self.items.pop_front();
            }
        }
        self.settle(shared);
        if wrote {
            // A TLS stream may hold what it was given until flushed.
            ready!(Pin::new(&mut *io).poll_flush(cx))?;
        }
        Poll::Ready(Ok(self.close.take()))
    }

    /// Count what was written, so that a peer that has read a message sees it counted,
    /// and tell the outbox (its byte bound, the gauge, waiting flushes).
    fn settle(&mut self, shared: &ConnShared) {
        if self.messages > 0 {
            let counters = &shared.counters;
            Counters::add(&counters.messages_out, std::mem::take(&mut self.messages));
            Counters::add(&counters.bytes_out, std::mem::take(&mut self.bytes));
        }
        if self.done_bytes > 0 || self.handed.is_some() {
            shared
                .outbox
                .handed(std::mem::take(&mut self.done_bytes), self.handed.take());
        }
    }
}

/// The socket and what is to be written to it, as the write paths take them.
pub(super) struct Out<'a> {
    pub(super) io: &'a mut Upgraded,
    pub(super) writer: &'a mut Writer,
    pub(super) shared: &'a ConnShared,
    pub(super) lifecycle: &'a Lifecycle,
}

impl Out<'_> {
    /// Write what the writer holds; a write the socket cannot take at once waits
    /// (boxed) at most `limit`, and a slow-consumer close preempts it (`None`: the
    /// caller drops the rest of the batch).
    pub(super) async fn write(
        &mut self,
        limit: Duration,
    ) -> Option<io::Result<Option<CloseRequest>>> {
        let lifecycle = self.lifecycle;
        let (io, writer, shared) = (&mut *self.io, &mut *self.writer, self.shared);
        if let Some(written) = poll_fn(|cx| writer.poll_write(io, shared, cx)).now_or_never() {
            return Some(written);
        }
        Box::pin(async {
            tokio::select! {
                biased;
                _ = poll_fn(|cx| shared.outbox.poll_close_pending(cx)) => None,
                written = bounded(limit, lifecycle, poll_fn(|cx| writer.poll_write(io, shared, cx))) => Some(written),
            }
        })
        .await
    }

    /// Send our close frame now, after the rest of a data frame already begun (boxed:
    /// it happens once per connection).
    pub(super) async fn close_now(
        &mut self,
        code: CloseCode,
        reason: &str,
        limit: Duration,
    ) -> io::Result<()> {
        let lifecycle = self.lifecycle;
        Box::pin(bounded(
            limit,
            lifecycle,
            self.send_close(Some((code, reason))),
        ))
        .await
    }

    /// Answer the peer's close frame with the same code (or an empty one).
    pub(super) async fn answer_close(
        &mut self,
        close: Option<(CloseCode, &str)>,
        limit: Duration,
    ) -> io::Result<()> {
        let lifecycle = self.lifecycle;
        Box::pin(bounded(limit, lifecycle, self.send_close(close))).await
    }

    /// Write what is already queued, then the close frame (a close request found in
    /// the queue wins over `code`), all within `limit`.
    pub(super) async fn flush_queue_then_close(
        &mut self,
        code: CloseCode,
        reason: &str,
        limit: Duration,
    ) -> io::Result<()> {
        let lifecycle = self.lifecycle;
        Box::pin(bounded(limit, lifecycle, async {
            let outbox = &self.shared.outbox;
            outbox.close();
            loop {
                if let Some((code, reason)) = outbox.drain(&mut self.writer.items, MAX_BATCH) {
                    return self.send_close(Some((code, &reason))).await;
                }
                if self.writer.items.is_empty() {
                    return self.send_close(Some((code, reason))).await;
                }
                let (io, writer, shared) = (&mut *self.io, &mut *self.writer, self.shared);
                if let Some((code, reason)) =
                    poll_fn(|cx| writer.poll_write(io, shared, cx)).await?
                {
                    return self.send_close(Some((code, &reason))).await;
                }
            }
        }))
        .await
    }

    /// Send a close frame: what is not written yet is dropped, except the rest of a
    /// data frame already begun (cutting it short would corrupt the stream).
    async fn send_close(&mut self, close: Option<(CloseCode, &str)>) -> io::Result<()> {
        self.writer.abandon(&self.shared.outbox);
        self.writer.control(frame::close(close));
        let (io, writer, shared) = (&mut *self.io, &mut *self.writer, self.shared);
        poll_fn(|cx| writer.poll_write(io, shared, cx)).await?;
        Ok(())
    }
}

/// Run a socket write, giving up after `limit` or when the server terminates: a peer
/// that does not read must not hold the driver (nor shutdown) hostage.
pub(super) async fn bounded<T>(
    limit: Duration,
    lifecycle: &Lifecycle,
    write: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    tokio::pin!(write);
    // Most writes complete at once: arm the timer and the termination wait (each a
    // registration) only for a write that has to wait.
    if let Some(result) = write.as_mut().now_or_never() {
        return result;
    }
    tokio::select! {
        biased;
        result = write => result,
        _ = lifecycle.terminated() => Err(io::ErrorKind::Interrupted.into()),
        _ = tokio::time::sleep(limit) => Err(io::ErrorKind::TimedOut.into()),
    }
}

/// How the socket loop ended, which decides how the TCP connection is released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Exit {
    /// Both close frames were exchanged: nothing more is expected from the peer, so
    /// shut down writes and release the socket at once.
    Clean,
    /// We sent a close frame but the peer may still be sending: shut down writes and
    /// drain briefly, so unread input does not turn our close frame into a reset.
    Graceful,
    /// The peer vanished or the transport failed: just drop it.
    Reset,
}

/// Release the TCP connection after a close handshake (clean) or our close frame
/// (graceful).
pub(super) async fn release(mut io: Upgraded, exit: Exit) {
    match exit {
        Exit::Clean => {
            let _ = tokio::time::timeout(LINGER, io.shutdown()).await;
        }
        Exit::Graceful => linger(io).await,
        Exit::Reset => drop(io),
    }
}

/// Release the TCP connection gracefully: shut down our write side so the peer reads
/// everything we sent followed by EOF, then read (and discard) until the peer closes,
/// so that unread input does not turn our close into a reset.
async fn linger(mut io: Upgraded) {
    let drained = tokio::time::timeout(LINGER, async {
        if io.shutdown().await.is_err() {
            return;
        }
        let mut buf = [0u8; 1024];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    if drained.is_err() {
        warn!("peer did not close its side in time; dropping the connection");
    }
}
