//! The per-connection driver: the one task that owns an upgraded socket.
//!
//! It writes the outgoing queue (batching whatever is queued into one flush), reads
//! frames and hands data messages to the handler through a small bounded queue,
//! answers pings, pings a silent peer and closes an idle one, notices the peer's close
//! even while the handler only sends, and turns protocol failures into the right close
//! code (tungstenite reports them without sending a close frame). It never runs user
//! code: the handler is a separate task whose end (return, error, panic) decides the
//! close code.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tracing::{debug, error, warn};

use crate::gate::Gate;
use crate::lifecycle::{Event, Lifecycle};
use crate::metrics::Counters;
use crate::socket::{ConnShared, Outbox, Outgoing, Queued};
use crate::transport::{CODEC_READ_BUFFER, Transport, Upgraded};
use crate::{CloseCode, Disconnect, Hub, Limits, Message, MessageRate, Result};

pub(crate) type Io = Transport<Upgraded>;
pub(crate) type Socket = WebSocketStream<Io>;

/// Most queued messages written before one flush.
const MAX_BATCH: usize = 256;
/// How long the server lingers after its last write for the peer to close TCP.
const LINGER: Duration = Duration::from_secs(2);

pub(crate) struct Driver {
    pub(crate) shared: Arc<ConnShared>,
    pub(crate) handler: JoinHandle<Result<()>>,
    pub(crate) limits: Limits,
    pub(crate) close_timeout: Duration,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) hub: Hub,
    /// The connection-limit slot, released with the socket.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

/// How the socket loop ended, which decides how the TCP connection is released.
enum Exit {
    /// Both close frames were exchanged: nothing more is expected from the peer, so
    /// shut down writes and release the socket at once.
    Clean,
    /// We sent a close frame but the peer may still be sending: shut down writes and
    /// drain briefly, so unread input does not turn our close frame into a reset.
    Graceful,
    /// The peer vanished or the transport failed: just drop it.
    Reset,
}

impl Driver {
    /// Drive the connection until its socket is released and its handler has ended.
    ///
    /// This future lives as long as the connection, so its size is memory per idle
    /// connection: it is not an `async fn` (whose arguments would be stored twice),
    /// it borrows the driver instead of moving it, and every rare wait (closing, lingering, a write
    /// the socket cannot take at once) is boxed, so that only what every connection
    /// needs is kept inline.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    pub(crate) fn run(&mut self, mut socket: Socket) -> impl Future<Output = ()> + Send + '_ {
        async move {
            let shared = &*self.shared;
            let counters = &*shared.counters;
            let (outbox, inbox) = (&shared.outbox, &shared.inbox);
            let lifecycle = &self.lifecycle;
            let close_timeout = self.close_timeout;
            Counters::inc(&counters.connections_total);
            Counters::inc(&counters.connections_open);
            let idle = self.limits.get_idle_timeout();
            let ping_interval = self.limits.get_ping_interval().min(idle);

            let mut batch = Batch::default();
            let mut handler_done = false;
            let mut closing = false;
            let mut last_heard = Instant::now();
            let mut ping_sent = false;

            // Shutdown and termination, polled only when they fire.
            let mut watch = lifecycle.watch();
            // One timer for pings, idleness and the close handshake. It is not moved on
            // every message: when it fires it is re-armed from the time last heard.
            let timer = sleep_until(last_heard + ping_interval);
            tokio::pin!(timer);
            // The handler's end and the timer are polled only when they fire (each poll
            // of them otherwise costs a waker registration on every message).
            let (handler_gate, timer_gate) = (Gate::new(), Gate::new());
            // Reads too: on a connection that only sends (a broadcast subscriber) the
            // driver wakes for every message, and polling the socket each time costs the
            // protocol layer's waker bookkeeping. The read branch is polled when the
            // socket's readiness fired, after it produced a frame (more may be buffered),
            // and when the handler makes room again.
            let read_gate = Gate::new();
            let mut rate = RateLimit::new(self.limits.get_max_message_rate());

            // Start waiting for the peer's answer to our close frame.
            macro_rules! await_close_reply {
                () => {{
                    closing = true;
                    outbox.close();
                    timer.as_mut().reset(Instant::now() + close_timeout);
                    timer_gate.reopen();
                }};
            }

            // Write what is queued, then our close frame, then wait for the peer's answer
            // (the handler ended, or the server shuts down).
            macro_rules! flush_then_close {
                ($code:expr, $reason:expr) => {{
                    let (code, reason) = ($code, $reason);
                    let sent = Box::pin(bounded(
                        close_timeout,
                        lifecycle,
                        flush_queue_then_close(&mut socket, shared, &mut batch, code, reason),
                    ))
                    .await;
                    if sent.is_err() {
                        break Exit::Reset;
                    }
                    record_our_close(shared, code, reason);
                    await_close_reply!();
                }};
            }

            let exit = loop {
                // Read when the handler has room, or nobody receives any more (then data
                // is dropped, but pings and the peer's close are still handled).
                let can_deliver = inbox.can_deliver();

                tokio::select! {
                    biased;
                    outcome = poll_fn(|cx| handler_gate.poll(cx, |inner| Pin::new(&mut self.handler).poll(inner))), if !handler_done => {
                        handler_done = true;
                        let (code, reason) = handler_close_code(outcome, counters);
                        if !closing {
                            flush_then_close!(code, &reason);
                        }
                    }
                    event = poll_fn(|cx| watch.poll_event(cx)) => {
                        if event == Event::Terminated {
                            shared.set_disconnect(Disconnect { code: None, reason: "server terminated".into() });
                            break Exit::Reset;
                        }
                        if closing {
                            continue;
                        }
                        flush_then_close!(CloseCode::GOING_AWAY, "server shutting down");
                    }
                    _ = poll_fn(|cx| outbox.poll_ready(cx)), if !closing => {
                        if let Some((code, reason)) = outbox.drain(&mut batch.items, MAX_BATCH) {
                            // The slow-consumer policy: close ahead of the queue (counted
                            // by the hub where it decided).
                            record_our_close(shared, code, &reason);
                            if close_now((&mut socket, &mut batch, shared), code, &reason, close_timeout, lifecycle).await.is_err() {
                                break Exit::Reset;
                            }
                            await_close_reply!();
                            continue;
                        }
                        // Most batches go out at once; one the socket cannot take waits
                        // (boxed) with a limit.
                        let written = match poll_fn(|cx| batch.poll_write(&mut socket, shared, cx)).now_or_never() {
                            Some(written) => Some(written),
                            None => Box::pin(finish_write(&mut socket, &mut batch, shared, idle, lifecycle)).await,
                        };
                        let Some(written) = written else {
                            batch.abandon(outbox);
                            continue;
                        };
                        match written {
                            Ok(None) => {}
                            Ok(Some((code, reason))) => {
                                if close_now((&mut socket, &mut batch, shared), code, &reason, close_timeout, lifecycle).await.is_err() {
                                    break Exit::Reset;
                                }
                                record_our_close(shared, code, &reason);
                                await_close_reply!();
                            }
                            Err(e) => {
                                debug!(error = %e, "write failed");
                                shared.set_disconnect(Disconnect { code: None, reason: "connection lost".into() });
                                break Exit::Reset;
                            }
                        }
                    }
                    frame = poll_fn(|cx| read_gate.poll(cx, |inner| socket.poll_next_unpin(inner))), if can_deliver => {
                        read_gate.reopen();
                        last_heard = Instant::now();
                        ping_sent = false;
                        match frame {
                            Some(Ok(WsMessage::Text(_) | WsMessage::Binary(_))) if !rate.admit() => {
                                let (code, reason) = (CloseCode::POLICY_VIOLATION, "message rate exceeded");
                                Counters::inc(&counters.rate_limited);
                                record_our_close(shared, code, reason);
                                let _ = close_now((&mut socket, &mut batch, shared), code, reason, close_timeout, lifecycle).await;
                                break Exit::Graceful;
                            }
                            Some(Ok(WsMessage::Text(text))) => {
                                Counters::inc(&counters.messages_in);
                                Counters::add(&counters.bytes_in, text.len() as u64);
                                inbox.deliver(Message::Text(text));
                            }
                            Some(Ok(WsMessage::Binary(bytes))) => {
                                Counters::inc(&counters.messages_in);
                                Counters::add(&counters.bytes_in, bytes.len() as u64);
                                inbox.deliver(Message::Binary(bytes));
                            }
                            Some(Ok(WsMessage::Ping(_))) => {
                                // tungstenite queued the pong (only the latest one, so a ping
                                // flood cannot grow a queue); send it now.
                                if flush(&mut socket, idle, lifecycle).await.is_err() {
                                    break Exit::Reset;
                                }
                            }
                            Some(Ok(WsMessage::Pong(_) | WsMessage::Frame(_))) => {}
                            Some(Ok(WsMessage::Close(frame))) => {
                                shared.set_disconnect(match frame {
                                    Some(f) => Disconnect { code: Some(f.code.into()), reason: f.reason.as_str().to_owned() },
                                    None => Disconnect { code: None, reason: String::new() },
                                });
                                // The handler sees the disconnect once it has read what came before.
                                inbox.finish();
                                if !closing {
                                    // tungstenite queued the echo of the peer's close; send it.
                                    // Once it is out, tungstenite reports the close as done.
                                    match flush(&mut socket, close_timeout, lifecycle).await {
                                        Ok(()) => await_close_reply!(),
                                        Err(WsError::ConnectionClosed) => break Exit::Clean,
                                        Err(_) => break Exit::Reset,
                                    }
                                }
                            }
                            Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => break Exit::Clean,
                            Some(Err(e)) => match failure_close_code(&e) {
                                Some((code, reason)) if !closing => {
                                    debug!(error = %e, code = code.0, "closing on protocol failure");
                                    record_our_close(shared, code, reason);
                                    let _ = close_now((&mut socket, &mut batch, shared), code, reason, close_timeout, lifecycle).await;
                                    break Exit::Graceful;
                                }
                                _ => {
                                    debug!(error = %e, "connection failed");
                                    shared.set_disconnect(Disconnect { code: None, reason: "connection lost".into() });
                                    break Exit::Reset;
                                }
                            },
                            None => {
                                shared.set_disconnect(Disconnect { code: None, reason: "connection lost".into() });
                                break Exit::Reset;
                            }
                        }
                    }
                    _ = poll_fn(|cx| inbox.poll_room(cx)), if !can_deliver => read_gate.reopen(),
                    _ = poll_fn(|cx| timer_gate.poll(cx, |inner| timer.as_mut().poll(inner))) => {
                        let now = Instant::now();
                        if closing {
                            debug!("peer did not answer our close frame in time");
                            break Exit::Graceful;
                        }
                        if !can_deliver {
                            // We are not reading (the handler is behind): the peer's silence
                            // is ours, not its.
                            last_heard = now;
                            ping_sent = false;
                        }
                        let idle_at = last_heard + idle;
                        if now >= idle_at {
                            let (code, reason) = (CloseCode::GOING_AWAY, "idle timeout");
                            record_our_close(shared, code, reason);
                            let _ = close_now((&mut socket, &mut batch, shared), code, reason, close_timeout, lifecycle).await;
                            break Exit::Graceful;
                        }
                        if !ping_sent && now >= last_heard + ping_interval {
                            ping_sent = true;
                            let ping = socket.send(WsMessage::Ping(Default::default()));
                            if Box::pin(bounded(idle, lifecycle, ping)).await.is_err() {
                                break Exit::Reset;
                            }
                        }
                        let next = if ping_sent { idle_at } else { (last_heard + ping_interval).min(idle_at) };
                        timer.as_mut().reset(next);
                        timer_gate.reopen();
                    }
                }
            };

            // Wake the handler: receives and sends now fail with the disconnect. Leave the
            // hub: registry, key, rooms (with presence events).
            inbox.finish();
            // What is left will not be written: its bytes leave the gauge, flushes fail.
            outbox.finish();
            self.hub.deregister(shared);
            match exit {
                Exit::Reset => drop(socket),
                exit => Box::pin(release(socket, exit)).await,
            }
            counters
                .connections_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(self.permit.take());

            if !handler_done {
                tokio::select! {
                    outcome = &mut self.handler => { handler_close_code(outcome, counters); }
                    _ = lifecycle.terminated() => self.handler.abort(),
                }
            }
        }
    }
}

/// However the driver ends, run to its end or not (an upgrade that fails after the
/// 101, a task dropped before its socket arrived), the connection's queues are
/// finished: waiting senders and flushes fail, what was queued leaves the
/// `queued_bytes` gauge, and the connection leaves the hub. After a normal end this
/// finds nothing left to do.
impl Drop for Driver {
    fn drop(&mut self) {
        self.shared.inbox.finish();
        self.shared.outbox.finish();
        self.hub.deregister(&self.shared);
    }
}

/// A token bucket over incoming data messages (no limit: always admits).
struct RateLimit {
    rate: Option<MessageRate>,
    bucket: crate::token_bucket::TokenBucket,
}

impl RateLimit {
    fn new(rate: Option<MessageRate>) -> RateLimit {
        RateLimit {
            rate,
            bucket: crate::token_bucket::TokenBucket::full(Instant::now()),
        }
    }

    /// Take a token for one message; `false` when the client is over its rate.
    fn admit(&mut self) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let interval = Duration::from_secs(1) / rate.get_per_second();
        self.bucket
            .take(Instant::now(), interval, rate.get_burst())
            .is_ok()
    }
}

/// Release the TCP connection after a close handshake (clean) or our close frame
/// (graceful).
async fn release(socket: Socket, exit: Exit) {
    match exit {
        Exit::Clean => {
            let mut io = socket.into_inner();
            let _ = tokio::time::timeout(LINGER, io.shutdown()).await;
        }
        Exit::Graceful => linger(socket).await,
        Exit::Reset => drop(socket),
    }
}

/// Most frames handed to the socket in one vectored write.
const MAX_IOV: usize = 64;

/// Messages drained from the outbox: their encoded frames go to the socket in order,
/// many per vectored write, with no copy. Their bytes stay in the outbox's byte bound
/// until they are written (or discarded), and the outbox hears how far the writes got.
#[derive(Default)]
struct Batch {
    items: VecDeque<Queued>,
    /// Bytes of the front frame already written (a write may take part of a frame).
    offset: usize,
    /// A close request met in the batch, sent once what came before it is written.
    close: Option<(CloseCode, String)>,
    /// Written but not yet counted: counters are updated once per batch.
    messages: u64,
    bytes: u64,
    /// Wire bytes of items written or discarded, and the last item written, not yet
    /// reported to the outbox.
    done_bytes: usize,
    handed: Option<u64>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Drop what is not written yet, except the rest of a frame already begun.
    fn abandon(&mut self, outbox: &Outbox) {
        let keep = usize::from(self.offset > 0).min(self.items.len());
        self.done_bytes += self
            .items
            .drain(keep..)
            .map(|queued| queued.item.wire_len())
            .sum::<usize>();
        self.close = None;
        outbox.handed(std::mem::take(&mut self.done_bytes), self.handed.take());
    }

    /// Write the batch in order. Ready with a close request met in the batch (what
    /// followed it is discarded: nothing is sent after a close). Progress is kept in
    /// the batch, so this can be polled again after `Pending`.
    fn poll_write(
        &mut self,
        socket: &mut Socket,
        shared: &ConnShared,
        cx: &mut Context<'_>,
    ) -> Poll<std::result::Result<Option<(CloseCode, String)>, WsError>> {
        // Control frames the protocol layer queued (a pong) go out first, in order.
        ready!(socket.poll_flush_unpin(cx))?;
        loop {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for queued in self.items.iter().take(MAX_IOV) {
                let Outgoing::Frame { frame, .. } = &queued.item else {
                    break;
                };
                let skip = if count == 0 { self.offset } else { 0 };
                slices[count] = IoSlice::new(&frame.as_bytes()[skip..]);
                count += 1;
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
            let io = Pin::new(socket.get_mut());
            let mut written = match io.poll_write_vectored(cx, &slices[..count]) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(WsError::Io(std::io::ErrorKind::WriteZero.into())));
                }
                Poll::Ready(Ok(n)) => n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(WsError::Io(e))),
                Poll::Pending => {
                    self.settle(shared);
                    return Poll::Pending;
                }
            };
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

/// Finish a batch the socket could not take at once. A peer that reads nothing for the
/// idle timeout is gone or hostile, and a slow-consumer close preempts the write
/// (`None`: the caller drops the rest of the batch).
async fn finish_write(
    socket: &mut Socket,
    batch: &mut Batch,
    shared: &ConnShared,
    limit: Duration,
    lifecycle: &Lifecycle,
) -> Option<std::result::Result<Option<(CloseCode, String)>, WsError>> {
    tokio::select! {
        biased;
        _ = poll_fn(|cx| shared.outbox.poll_close_pending(cx)) => None,
        written = bounded(limit, lifecycle, poll_fn(|cx| batch.poll_write(socket, shared, cx))) => Some(written),
    }
}

/// Flush what tungstenite queued (a pong, the echo of a close), waiting (boxed) only
/// when the socket cannot take it at once.
async fn flush(
    socket: &mut Socket,
    limit: Duration,
    lifecycle: &Lifecycle,
) -> std::result::Result<(), WsError> {
    if let Some(result) = poll_fn(|cx| socket.poll_flush_unpin(cx)).now_or_never() {
        return result;
    }
    Box::pin(bounded(
        limit,
        lifecycle,
        poll_fn(|cx| socket.poll_flush_unpin(cx)),
    ))
    .await
}

/// Send a close frame now (boxed: it happens once per connection).
async fn close_now(
    (socket, batch, shared): (&mut Socket, &mut Batch, &ConnShared),
    code: CloseCode,
    reason: &str,
    limit: Duration,
    lifecycle: &Lifecycle,
) -> std::result::Result<(), WsError> {
    let close = send_close(socket, batch, shared, code, reason);
    Box::pin(bounded(limit, lifecycle, close)).await
}

/// Run a socket write, giving up after `limit` or when the server terminates: a peer
/// that does not read must not hold the driver (nor shutdown) hostage.
async fn bounded<T>(
    limit: Duration,
    lifecycle: &Lifecycle,
    write: impl Future<Output = std::result::Result<T, WsError>>,
) -> std::result::Result<T, WsError> {
    tokio::pin!(write);
    // Most writes complete at once: arm the timer and the termination wait (each a
    // registration) only for a write that has to wait.
    if let Some(result) = write.as_mut().now_or_never() {
        return result;
    }
    tokio::select! {
        biased;
        result = write => result,
        _ = lifecycle.terminated() => Err(WsError::Io(std::io::ErrorKind::Interrupted.into())),
        _ = tokio::time::sleep(limit) => Err(WsError::Io(std::io::ErrorKind::TimedOut.into())),
    }
}

fn record_our_close(shared: &ConnShared, code: CloseCode, reason: &str) {
    shared.set_disconnect(Disconnect {
        code: Some(code),
        reason: reason.to_string(),
    });
}

/// The close code for a handler that ended, logging failures. An error about what the
/// peer sent (bad JSON, a message of the wrong kind) is the peer's: it gets a code that
/// says so (1007, 1003) with the reason, and the log only a debug line. The server's own
/// failures are 1011 and an error in the log, their details never sent.
fn handler_close_code(
    outcome: std::result::Result<Result<()>, JoinError>,
    counters: &Counters,
) -> (CloseCode, Cow<'static, str>) {
    match outcome {
        Ok(Ok(())) => (CloseCode::NORMAL, "".into()),
        Ok(Err(e)) if e.is_disconnect() => (CloseCode::NORMAL, "".into()),
        Ok(Err(e)) => match e.peer_fault() {
            Some((code, reason)) => {
                debug!(error = %e, "handler ended on a message the client got wrong");
                (code, reason.into())
            }
            None => {
                error!(error = %e, "handler returned an error");
                (CloseCode::INTERNAL_ERROR, "internal error".into())
            }
        },
        Err(e) if e.is_panic() => {
            Counters::inc(&counters.handler_panics);
            error!(panic = panic_message(e), "handler panicked");
            (CloseCode::INTERNAL_ERROR, "internal error".into())
        }
        Err(_) => (CloseCode::GOING_AWAY, "".into()),
    }
}

pub(crate) fn panic_message(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".into()),
        Err(e) => e.to_string(),
    }
}

/// The close code for a failure tungstenite reported without closing; `None` when the
/// transport itself is gone.
fn failure_close_code(e: &WsError) -> Option<(CloseCode, &'static str)> {
    match e {
        WsError::Capacity(_) => Some((CloseCode::MESSAGE_TOO_BIG, "message too big")),
        WsError::Utf8(_) => Some((CloseCode::INVALID_PAYLOAD, "invalid UTF-8")),
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => None,
        WsError::Protocol(_) | WsError::AttackAttempt => {
            Some((CloseCode::PROTOCOL_ERROR, "protocol error"))
        }
        _ => None,
    }
}

/// Send a close frame, after the rest of a data frame already begun (cutting it short
/// would corrupt the stream).
async fn send_close(
    socket: &mut Socket,
    batch: &mut Batch,
    shared: &ConnShared,
    code: CloseCode,
    reason: &str,
) -> std::result::Result<(), WsError> {
    batch.abandon(&shared.outbox);
    if !batch.is_empty() {
        poll_fn(|cx| batch.poll_write(socket, shared, cx)).await?;
    }
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    socket.close(Some(frame)).await
}

/// Write what is already queued, then the close frame (a close request found in the
/// queue wins over `code`; a slow-consumer close skips the queue).
async fn flush_queue_then_close(
    socket: &mut Socket,
    shared: &ConnShared,
    batch: &mut Batch,
    code: CloseCode,
    reason: &str,
) -> std::result::Result<(), WsError> {
    let outbox = &shared.outbox;
    outbox.close();
    loop {
        if let Some((code, reason)) = outbox.drain(&mut batch.items, MAX_BATCH) {
            return send_close(socket, batch, shared, code, &reason).await;
        }
        if batch.is_empty() {
            return send_close(socket, batch, shared, code, reason).await;
        }
        if let Some((code, reason)) = poll_fn(|cx| batch.poll_write(socket, shared, cx)).await? {
            return send_close(socket, batch, shared, code, &reason).await;
        }
    }
}

/// Release the TCP connection gracefully: shut down our write side so the peer reads
/// everything we sent followed by EOF, then read (and discard) until the peer closes,
/// so that unread input does not turn our close into a reset.
async fn linger(socket: Socket) {
    let mut io = socket.into_inner();
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

/// tungstenite's settings for a connection with these limits. Its read buffer is
/// small and kept for the connection's life; the socket is read in larger chunks by
/// the [`Transport`] under it.
pub(crate) fn protocol_config(
    limits: &Limits,
    write_buffer: usize,
) -> tungstenite::protocol::WebSocketConfig {
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(CODEC_READ_BUFFER)
        .write_buffer_size(write_buffer)
        .max_message_size(Some(limits.get_max_message_size()))
        .max_frame_size(Some(limits.get_max_frame_size()))
}
