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
use super::gate::{Bell, Gates};
use super::inline_handler::InlineHandler;
use super::transport::Upgraded;
use crate::CloseCode;
use crate::deflate::compress::Dedicated;
use crate::lifecycle::Lifecycle;
use crate::metrics::Counters;
use crate::socket::{ConnShared, Outbox, Outgoing, Queued};

/// Most queued messages drained before one write.
pub(super) const MAX_BATCH: usize = 256;
/// Most slices handed to the socket in one vectored write (a data frame takes two: its
/// header and its payload).
const MAX_IOV: usize = 128;
/// A batch of at most this many frames is written from a small array of slices.
const FEW: usize = 3;
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
    /// Bytes were written since the last completed flush (a TLS stream may hold them).
    needs_flush: bool,
    /// A dedicated connection's compression context (permessage-deflate with server
    /// context takeover): its frames are compressed here, in the order they are sent.
    pub(super) dedicated: Option<Box<Dedicated>>,
    /// Written but not yet counted: counters are updated once per batch.
    messages: u64,
    bytes: u64,
    /// Wire bytes of items written or discarded, and the last item written, not yet
    /// reported to the outbox.
    done_bytes: usize,
    handed: Option<u64>,
}

impl Writer {
    /// Move up to `max` queued items from `outbox` into the batch (a close ahead of the
    /// queue instead, if one is waiting). A dedicated connection compresses the data
    /// frames as they come; what compression saved leaves the outbox's byte count at
    /// once, the rest as it is written.
    pub(super) fn take(
        &mut self,
        outbox: &Outbox,
        max: usize,
        counters: &Counters,
    ) -> Option<CloseRequest> {
        let before = self.items.len();
        let close = outbox.drain(&mut self.items, max);
        if let Some(dedicated) = self.dedicated.as_mut() {
            let mut savings = Vec::new();
            for queued in self.items.iter_mut().skip(before) {
                let Outgoing::Frame { frame, .. } = &mut queued.item else {
                    continue;
                };
                // Nothing compresses a dedicated connection's frames before this: a
                // frame compressed elsewhere would be missing from its context.
                debug_assert!(!frame.is_compressed());
                if let Some(payload) = dedicated.compress(frame.payload()) {
                    let compressed = frame.with_compressed(payload);
                    savings.push((queued.seq, frame.wire_len() - compressed.wire_len()));
                    counters.messages_compressed.add(1);
                    *frame = compressed;
                }
            }
            if !savings.is_empty() {
                outbox.shrunk(savings);
            }
        }
        close
    }

    /// Send `frame` (a control frame) once no data frame is partly written (the rest of
    /// the batch may go in the same vectored write before it). A control frame not yet
    /// begun is replaced: a ping flood grows no queue.
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
    pub(super) fn poll_write<T: AsyncWrite + Unpin>(
        &mut self,
        io: &mut T,
        shared: &ConnShared,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<Option<CloseRequest>>> {
        loop {
            let frame_next = matches!(
                self.items.front(),
                Some(Queued {
                    item: Outgoing::Frame { .. },
                    ..
                })
            );
            if self.control.is_none() && !frame_next {
                // Nothing left to write (checked before the slices are built, since
                // most calls end here after one write): a close request, or nothing.
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
            // A control frame goes between data frames, never inside one.
            let control_first = self.offset == 0 && self.control.is_some();
            // Most writes carry a frame or two: their slices are set up without room
            // for MAX_IOV.
            let written = if self.items.len() <= FEW {
                let mut slices = [IoSlice::new(&[]); 2 * FEW + 1];
                let count = self.slices(control_first, &mut slices);
                write_slices(io, cx, &slices[..count])
            } else {
                let mut slices = [IoSlice::new(&[]); MAX_IOV];
                let count = self.slices(control_first, &mut slices);
                write_slices(io, cx, &slices[..count])
            };
            let mut written = match written {
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
            self.needs_flush = true;
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
        if self.needs_flush {
            // A TLS stream may hold what it was given until flushed; a flush that has
            // to wait is finished at the next poll, even one with nothing new to write.
            ready!(Pin::new(&mut *io).poll_flush(cx))?;
            self.needs_flush = false;
        }
        Poll::Ready(Ok(self.close.take()))
    }

    /// Fill `slices` with what to write next: the control frame if it goes first, then
    /// the data frames (the front one perhaps partly written) while they fit whole.
    /// Returns how many slices it filled: at least one, since there is something to
    /// write.
    fn slices<'s>(&'s self, control_first: bool, slices: &mut [IoSlice<'s>]) -> usize {
        let mut count = 0;
        if let (true, Some(control)) = (control_first, &self.control) {
            slices[0] = IoSlice::new(&control[self.control_offset..]);
            count = 1;
        }
        for queued in &self.items {
            let Outgoing::Frame { frame, .. } = &queued.item else {
                break;
            };
            if count + 2 > slices.len() {
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
        // A control frame, or a frame whose rest (at least one byte) is unwritten.
        debug_assert!(count > 0);
        count
    }

    /// Count what was written, so that a peer that has read a message sees it counted,
    /// and tell the outbox (its byte bound, the gauge, waiting flushes).
    fn settle(&mut self, shared: &ConnShared) {
        if self.messages > 0 {
            let counters = &shared.counters;
            counters
                .messages_out
                .add(std::mem::take(&mut self.messages));
            counters.bytes_out.add(std::mem::take(&mut self.bytes));
        }
        if self.done_bytes > 0 || self.handed.is_some() {
            shared
                .outbox
                .handed(std::mem::take(&mut self.done_bytes), self.handed.take());
        }
    }
}

/// Most bytes gathered into one buffer for a plain write instead of a vectored one.
const GATHER_MAX: usize = 256;

/// Write `slices`: several small ones are copied into one buffer first, since a plain
/// write of a few dozen bytes costs the kernel less than a vectored write of the same
/// bytes in pieces (the usual echo: a 2-byte header and a small payload).
fn write_slices<T: AsyncWrite + Unpin>(
    io: &mut T,
    cx: &mut Context<'_>,
    slices: &[IoSlice<'_>],
) -> Poll<io::Result<usize>> {
    let total: usize = slices.iter().map(|slice| slice.len()).sum();
    if slices.len() == 1 || total > GATHER_MAX {
        return Pin::new(io).poll_write_vectored(cx, slices);
    }
    let mut gathered = [0u8; GATHER_MAX];
    let mut at = 0;
    for slice in slices {
        gathered[at..at + slice.len()].copy_from_slice(slice);
        at += slice.len();
    }
    Pin::new(io).poll_write(cx, &gathered[..total])
}

/// The handler, polled while the driver waits for the socket, so that a slow socket
/// does not stall it (it runs inline, in the driver's task).
pub(super) struct Aside<'a> {
    pub(super) handler: &'a mut InlineHandler,
    pub(super) gates: &'a Gates,
}

impl Aside<'_> {
    /// Never ready: polls the handler when its bell rang. If it ends, its outcome waits
    /// for the driver's loop, whose handler branch is reopened to take it.
    pub(super) fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<()> {
        let handler = &mut *self.handler;
        let _ = self.gates.poll(Bell::Handler, |inner| {
            handler.poll_aside(inner);
            Poll::<()>::Pending
        });
        if !handler.is_running() {
            self.gates.reopen(Bell::Handler);
        }
        Poll::Pending
    }
}

/// The socket and what is to be written to it, as the write paths take them.
pub(super) struct Out<'a> {
    pub(super) io: &'a mut Upgraded,
    pub(super) writer: &'a mut Writer,
    pub(super) shared: &'a ConnShared,
    pub(super) lifecycle: &'a Lifecycle,
    /// Polled during the waits.
    aside: Option<Aside<'a>>,
}

impl<'a> Out<'a> {
    pub(super) fn new(
        io: &'a mut Upgraded,
        writer: &'a mut Writer,
        shared: &'a ConnShared,
        lifecycle: &'a Lifecycle,
        aside: Aside<'a>,
    ) -> Out<'a> {
        Out {
            io,
            writer,
            shared,
            lifecycle,
            aside: Some(aside),
        }
    }

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
        let aside = self.aside.as_mut();
        Box::pin(async {
            tokio::select! {
                biased;
                _ = poll_fn(|cx| shared.outbox.poll_close_pending(cx)) => None,
                written = bounded(limit, lifecycle, aside, poll_fn(|cx| writer.poll_write(io, shared, cx))) => Some(written),
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
        let mut aside = self.aside.take();
        let sent = Box::pin(bounded(
            limit,
            lifecycle,
            aside.as_mut(),
            self.send_close(Some((code, reason))),
        ))
        .await;
        self.aside = aside;
        sent
    }

    /// Answer the peer's close frame with the same code (or an empty one).
    pub(super) async fn answer_close(
        &mut self,
        close: Option<(CloseCode, &str)>,
        limit: Duration,
    ) -> io::Result<()> {
        let lifecycle = self.lifecycle;
        let mut aside = self.aside.take();
        let sent = Box::pin(bounded(
            limit,
            lifecycle,
            aside.as_mut(),
            self.send_close(close),
        ))
        .await;
        self.aside = aside;
        sent
    }

    /// Write what is already queued, then the close frame, all within `limit`. A close
    /// request met in the queue (the handler's, a slow consumer's) wins over `code`,
    /// unless `code` is `final` (the peer's fault: it learns what it did wrong).
    pub(super) async fn flush_queue_then_close(
        &mut self,
        (code, reason): (CloseCode, &str),
        final_code: bool,
        limit: Duration,
    ) -> io::Result<()> {
        let lifecycle = self.lifecycle;
        let mut aside = self.aside.take();
        let sent = Box::pin(bounded(limit, lifecycle, aside.as_mut(), async {
            let outbox = &self.shared.outbox;
            outbox.close();
            let met = loop {
                if let Some(request) = self.writer.take(outbox, MAX_BATCH, &self.shared.counters) {
                    break Some(request);
                }
                if self.writer.items.is_empty() {
                    break None;
                }
                let (io, writer, shared) = (&mut *self.io, &mut *self.writer, self.shared);
                if let Some(request) = poll_fn(|cx| writer.poll_write(io, shared, cx)).await? {
                    break Some(request);
                }
            };
            match met {
                Some((code, reason)) if !final_code => self.send_close(Some((code, &reason))).await,
                _ => self.send_close(Some((code, reason))).await,
            }
        }))
        .await;
        self.aside = aside;
        sent
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
/// The handler (`aside`) runs on meanwhile.
pub(super) async fn bounded<T>(
    limit: Duration,
    lifecycle: &Lifecycle,
    mut aside: Option<&mut Aside<'_>>,
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
        () = poll_fn(|cx| aside.as_mut().map_or(Poll::Pending, |aside| aside.poll(cx))) => unreachable!("never ready"),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;
    use crate::connection::frame::Frame;
    use crate::metrics::Counters;
    use std::sync::Arc;

    fn shared() -> ConnShared {
        ConnShared::for_test(Arc::new(Counters::default())).0
    }

    /// A socket that takes everything and counts plain and vectored writes; with
    /// `slow_flush`, its first flush has to wait.
    #[derive(Default)]
    struct Recorder {
        written: Vec<u8>,
        plain: usize,
        vectored: usize,
        slow_flush: bool,
        flush_polls: usize,
        flushed: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.plain += 1;
            this.written.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            slices: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let this = self.get_mut();
            this.vectored += 1;
            slices
                .iter()
                .for_each(|slice| this.written.extend_from_slice(slice));
            Poll::Ready(Ok(slices.iter().map(|slice| slice.len()).sum()))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            this.flush_polls += 1;
            if this.slow_flush && this.flush_polls == 1 {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            this.flushed = this.written.len();
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn small_frames_are_gathered_into_one_plain_write_and_large_ones_go_vectored() {
        let cases = [
            (
                vec![Message::text("hello"), Message::binary(vec![1u8; 40])],
                (1, 0),
            ),
            (vec![Message::text("x".repeat(GATHER_MAX))], (0, 1)),
        ];
        for (messages, (plain, vectored)) in cases {
            let shared = shared();
            let mut expected = frame::pong(b"p").to_vec();
            for message in &messages {
                let frame = Frame::encode(message);
                expected.extend_from_slice(frame.header());
                expected.extend_from_slice(frame.payload());
                let item = Outgoing::Frame {
                    frame,
                    from_hub: false,
                };
                assert!(matches!(
                    shared.outbox.enqueue(item),
                    crate::socket::Enqueued::Queued(_)
                ));
            }
            let mut writer = Writer::default();
            writer.control(frame::pong(b"p"));
            assert!(shared.outbox.drain(&mut writer.items, 8).is_none());
            let mut io = Recorder::default();
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert!(matches!(
                writer.poll_write(&mut io, &shared, &mut cx),
                Poll::Ready(Ok(None))
            ));
            assert_eq!(io.written, expected, "the same bytes, in order");
            assert_eq!((io.plain, io.vectored), (plain, vectored));
        }
    }

    #[test]
    fn a_dedicated_connection_compresses_as_it_takes_and_the_savings_leave_the_bounds() {
        let counters = Arc::new(Counters::default());
        let shared = ConnShared::for_test(counters.clone()).0;
        let json = r#"{"type":"tick","symbol":"ACME","bid":101.25}"#.repeat(40);
        let frame = Frame::encode(&Message::text(json.clone()));
        let admitted = frame.wire_len();
        let offered = shared
            .outbox
            .offer(frame, crate::socket::SlowConsumer::DropNewest);
        assert!(matches!(offered, crate::socket::Admission::Queued));
        assert_eq!(shared.outbox.hub_bytes(), admitted);
        let mut writer = Writer {
            dedicated: Some(Box::new(Dedicated::new(15, 6, 128))),
            ..Writer::default()
        };
        assert!(writer.take(&shared.outbox, 8, &counters).is_none());
        let Some(Queued {
            item: Outgoing::Frame { frame, .. },
            ..
        }) = writer.items.front()
        else {
            panic!("a data frame");
        };
        assert!(frame.is_compressed());
        let on_wire = frame.wire_len();
        assert!(on_wire < admitted / 4, "{on_wire} of {admitted}");
        // The savings left the byte count, the gauge and the hub's share at once.
        assert_eq!(shared.outbox.hub_bytes(), on_wire);
        assert_eq!(counters.queued_bytes.get(), on_wire as u64);
        assert_eq!(counters.messages_compressed.get(), 1);
        let mut io = Recorder::default();
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(matches!(
            writer.poll_write(&mut io, &shared, &mut cx),
            Poll::Ready(Ok(None))
        ));
        assert_eq!(io.written.len(), on_wire);
        assert_eq!(counters.queued_bytes.get(), 0);
        assert_eq!(shared.outbox.hub_bytes(), 0);
    }

    #[test]
    fn a_flush_that_had_to_wait_is_finished_before_the_write_is_done() {
        let shared = shared();
        let mut writer = Writer::default();
        let mut io = Recorder {
            slow_flush: true,
            ..Recorder::default()
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        writer.control(frame::pong(b"p"));
        assert!(writer.poll_write(&mut io, &shared, &mut cx).is_pending());
        assert_eq!(io.flushed, 0);
        // Nothing new to write: the write is still not done until the flush is.
        assert!(matches!(
            writer.poll_write(&mut io, &shared, &mut cx),
            Poll::Ready(Ok(None))
        ));
        assert_eq!(io.flushed, io.written.len());
        assert_eq!(io.written, frame::pong(b"p"));
    }

    #[test]
    fn a_control_frame_waits_for_a_data_frame_begun_and_goes_before_the_next() {
        /// Takes `budget` bytes, then waits; one slice per write.
        struct Trickle {
            written: Vec<u8>,
            budget: usize,
        }
        impl AsyncWrite for Trickle {
            fn poll_write(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                let this = self.get_mut();
                let n = buf.len().min(this.budget);
                if n == 0 {
                    return Poll::Pending;
                }
                this.budget -= n;
                this.written.extend_from_slice(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
            fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
                Poll::Ready(Ok(()))
            }
        }
        let shared = shared();
        let (first, second) = (
            Message::text("a".repeat(300)),
            Message::binary(vec![7u8; 5]),
        );
        for message in [&first, &second] {
            let frame = Frame::encode(message);
            let item = Outgoing::Frame {
                frame,
                from_hub: false,
            };
            assert!(matches!(
                shared.outbox.enqueue(item),
                crate::socket::Enqueued::Queued(_)
            ));
        }
        let mut writer = Writer::default();
        assert!(shared.outbox.drain(&mut writer.items, 8).is_none());
        let mut io = Trickle {
            written: Vec::new(),
            budget: 7,
        };
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // Begin the first frame, then ask for a pong: it must not cut into the frame.
        assert!(writer.poll_write(&mut io, &shared, &mut cx).is_pending());
        writer.control(frame::pong(b"p"));
        io.budget = usize::MAX;
        assert!(matches!(
            writer.poll_write(&mut io, &shared, &mut cx),
            Poll::Ready(Ok(None))
        ));
        let expected: Vec<u8> = [
            Frame::encode(&first).to_vec(),
            frame::pong(b"p").to_vec(),
            Frame::encode(&second).to_vec(),
        ]
        .concat();
        assert_eq!(io.written, expected);
    }
}
