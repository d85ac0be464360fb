//! The per-connection driver: the one task that owns an upgraded socket.
//!
//! It writes the outgoing queue (batching whatever is queued into one write), reads
//! frames with wsframe's own reader and hands data messages to the handler through a
//! small bounded queue, answers pings, pings a silent peer and closes an idle one,
//! notices the peer's close even while the handler only sends, and closes with the
//! right code when the peer breaks the protocol or a limit. The handler's future runs
//! inline in the same task (gated like the other branches, and polled aside while the
//! driver waits for the socket); its end (return, error, panic) decides the close code.
//!
//! | module | owns |
//! | --- | --- |
//! | `mod.rs` | [`Driver`]: the loop, whose branches each return a [`Step`] |
//! | [`reader`] | parsing client frames in place: headers, unmasking, UTF-8, messages |
//! | [`writer`] | data frames in vectored writes, control frames, the close path, releasing TCP |
//! | [`frame`] | encoding server frames (a broadcast once for all its recipients) |
//! | [`transport`] | the upgraded stream and its lazily held read buffer |
//! | [`gate`] | polling a rarely ready future only after its own waker fired |
//! | [`inline_handler`] | the handler's future, polled in the connection's task, its panics caught |
//! | [`self_wake`] | polling the driver again at once when it woke itself (an echo does, twice) |
//! | [`ending`] | how a handler ended: its close code and its log line |

pub(crate) mod ending;
pub(crate) mod frame;
pub(crate) mod gate;
pub(crate) mod inline_handler;
pub(crate) mod reader;
mod self_wake;
pub(crate) mod transport;
mod writer;

use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, sleep_until};
use tracing::debug;

use self::ending::{Ending, Stage};
use self::gate::{Bell, Gates};
use self::inline_handler::InlineHandler;
use self::reader::{Fault, Incoming, ReadError, ReadLimits, Reader};
use self::self_wake::{Absorbing, Waking};
use self::transport::{ReadBuffer, Upgraded};
use self::writer::{Aside, CloseRequest, Exit, MAX_BATCH, Out, Writer};
use crate::deflate::compress::Dedicated;
use crate::lifecycle::{Event, Lifecycle};
use crate::metrics::Counters;
use crate::socket::ConnShared;
use crate::{CloseCode, Disconnect, Hub, Limits, Message, MessageRate};

/// Everything a connection's driver needs besides its socket.
pub(crate) struct Driver {
    pub(crate) shared: Arc<ConnShared>,
    /// The handler's future, polled by the driver (it accepted in the HTTP task).
    pub(crate) handler: InlineHandler,
    pub(crate) limits: Limits,
    pub(crate) close_timeout: Duration,
    /// Size of each read from the socket (`Config::read_buffer_size`).
    pub(crate) read_chunk: usize,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) hub: Hub,
    /// The connection-limit slot, released with the socket.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

/// Where the connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Open,
    /// The peer broke the protocol or a limit: nothing more is read; the handler gets
    /// the messages that came before, and what they cause is written before the close.
    Faulted(Fault),
    /// Our close frame is out: waiting for the peer's.
    Closing,
}

/// What one turn of the loop decided; the loop carries it out in one place.
enum Step {
    Go,
    /// Write a control frame (a pong, our keep-alive ping) now.
    Send(Bytes),
    /// Write what is queued, then our close frame; then wait for the peer's answer, or
    /// (`leave`) release the connection at once.
    Close {
        code: CloseCode,
        reason: Cow<'static, str>,
        leave: bool,
    },
    /// Our close frame ahead of the queue (a slow consumer, the handler's own close, an
    /// idle peer).
    CloseNow {
        code: CloseCode,
        reason: Cow<'static, str>,
        leave: bool,
    },
    /// The peer closed: answer with its code, and release the connection.
    Answer(Option<(CloseCode, String)>),
    /// The peer sent what it must not.
    Fault(Fault),
    /// The connection is lost (the write or read failed, the stream ended).
    Lost,
    Exit(Exit),
}

impl Step {
    /// The step after a write: a close request met in the queue, or a lost socket.
    fn after_write(written: Option<std::io::Result<Option<CloseRequest>>>) -> Step {
        match written {
            None | Some(Ok(None)) => Step::Go,
            Some(Ok(Some((code, reason)))) => Step::CloseNow {
                code,
                reason: reason.into(),
                leave: false,
            },
            Some(Err(e)) => {
                debug!(error = %e, "write failed");
                Step::Lost
            }
        }
    }

    /// In a faulted connection every close is the fault's: the peer learns what it did
    /// wrong, whoever asked to close.
    fn in_phase(self, phase: Phase) -> Step {
        match (self, phase) {
            (Step::Close { .. } | Step::CloseNow { .. }, Phase::Faulted(fault)) => {
                fault_close(fault)
            }
            (step, _) => step,
        }
    }
}

/// What the peer sent, as a step for the connection in `phase`.
fn on_incoming(
    incoming: std::result::Result<Incoming, ReadError>,
    phase: Phase,
    shared: &ConnShared,
    rate: &mut RateLimit,
) -> Step {
    match (incoming, phase) {
        (Ok(Incoming::Message(message)), Phase::Open) => {
            if rate.admit() {
                deliver(shared, message);
                Step::Go
            } else {
                Counters::inc(&shared.counters.rate_limited);
                Step::Fault(Fault {
                    code: CloseCode::POLICY_VIOLATION,
                    reason: "message rate exceeded",
                })
            }
        }
        (Ok(Incoming::Ping(payload)), Phase::Open) => Step::Send(frame::pong(&payload)),
        (Ok(Incoming::Close(close)), Phase::Open) => {
            shared.set_disconnect(match &close {
                Some((code, reason)) => Disconnect {
                    code: Some(*code),
                    reason: reason.clone(),
                },
                None => Disconnect {
                    code: None,
                    reason: String::new(),
                },
            });
            // The handler sees the disconnect once it has read what came before.
            shared.inbox.finish();
            Step::Answer(close)
        }
        (Ok(Incoming::Close(_)), _) => Step::Exit(Exit::Clean),
        // Data after our close is dropped; pings are not answered.
        (Ok(_), _) => Step::Go,
        (Err(ReadError::Fault(fault)), Phase::Open) => Step::Fault(fault),
        (Err(ReadError::Fault(_) | ReadError::Eof), Phase::Closing) => Step::Exit(Exit::Clean),
        (Err(e), _) => {
            if let ReadError::Io(e) = e {
                debug!(error = %e, "read failed");
            }
            Step::Lost
        }
    }
}

/// The keep-alive: when the peer was last heard from, whether a ping is out, and when
/// the timer should fire next.
struct Keepalive {
    idle: Duration,
    ping_interval: Duration,
    last_heard: Instant,
    ping_sent: bool,
}

impl Keepalive {
    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.ping_sent = false;
    }

    /// The timer fired in an open connection: close an idle peer, or ping a silent one;
    /// and when to look again. `reading`: false while the handler is behind (the
    /// peer's silence is then ours, not its).
    fn on_timer(&mut self, reading: bool) -> (Step, Instant) {
        let now = Instant::now();
        if !reading {
            self.last_heard = now;
            self.ping_sent = false;
        }
        let idle_at = self.last_heard + self.idle;
        if now >= idle_at {
            let step = Step::CloseNow {
                code: CloseCode::GOING_AWAY,
                reason: "idle timeout".into(),
                leave: true,
            };
            return (step, now + self.idle);
        }
        let mut step = Step::Go;
        if !self.ping_sent && now >= self.last_heard + self.ping_interval {
            self.ping_sent = true;
            step = Step::Send(frame::ping());
        }
        let next = if self.ping_sent {
            idle_at
        } else {
            (self.last_heard + self.ping_interval).min(idle_at)
        };
        (step, next)
    }
}

impl Driver {
    /// Drive the upgraded connection until its socket is released and its handler has
    /// ended.
    pub(crate) async fn run(&mut self, upgraded: hyper::upgrade::Upgraded) {
        // hyper's read-ahead is copied and released here: kept, it would pin hyper's
        // whole read buffer for the connection's life.
        let (io, read_ahead) = Upgraded::new(upgraded);
        let waking = Waking::new();
        let drive = std::pin::pin!(self.drive(io, read_ahead, waking.clone()));
        Absorbing::new(waking, drive).await
    }

    /// The driver's loop over a connection.
    ///
    /// This future lives as long as the connection, so its size is memory per idle
    /// connection (a test pins it): it borrows the driver instead of moving it, and
    /// every rare wait (closing, lingering, a write the socket cannot take at once) is
    /// boxed, so that only what every connection needs is kept inline.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    fn drive(
        &mut self,
        mut io: Upgraded,
        read_ahead: Bytes,
        waking: Arc<Waking>,
    ) -> impl Future<Output = ()> + Send + '_ {
        async move {
            let shared = &*self.shared;
            let counters = &*shared.counters;
            let (outbox, inbox) = (&shared.outbox, &shared.inbox);
            let lifecycle = &self.lifecycle;
            let close_timeout = self.close_timeout;
            Counters::inc(&counters.connections_total);
            Counters::inc(&counters.connections_open);
            let idle = self.limits.get_idle_timeout();
            let mut keepalive = Keepalive {
                idle,
                ping_interval: self.limits.get_ping_interval().min(idle),
                last_heard: Instant::now(),
                ping_sent: false,
            };

            let mut reader = Reader::new(
                ReadBuffer::new(self.read_chunk, &read_ahead),
                ReadLimits {
                    max_frame: self.limits.get_max_frame_size(),
                    max_message: self.limits.get_max_message_size(),
                },
            )
            .with_deflate(shared.deflate.as_ref());
            drop(read_ahead);
            let mut writer = Writer::default();
            // permessage-deflate with server context takeover: compressed as written.
            writer.dedicated = shared
                .deflate
                .filter(|deflate| !deflate.server_no_context_takeover)
                .map(|deflate| {
                    Box::new(Dedicated::new(
                        deflate.server_window,
                        deflate.level,
                        deflate.threshold,
                    ))
                });
            let mut phase = Phase::Open;
            let mut handler_done = false;

            // Shutdown and termination.
            let mut watch = lifecycle.watch();
            // One timer for pings, idleness, a fault's grace and the close handshake. It
            // is not moved on every message: when it fires it is re-armed from the time
            // last heard.
            let timer = sleep_until(keepalive.last_heard + keepalive.ping_interval);
            tokio::pin!(timer);
            // The handler's end, the lifecycle and the timer are polled only when they
            // fire (each poll of them otherwise costs a lock or a waker registration on
            // every message). Reads too: on a connection that only sends (a broadcast
            // subscriber) the driver wakes for every message. The read branch is polled
            // when the socket's readiness fired, after it produced a frame (more may be
            // buffered), and when the handler makes room again.
            let gates = Gates::new(waking);
            let mut rate = RateLimit::new(self.limits.get_max_message_rate());
            // Frames read since the last write: reads come first, but not for ever.
            let mut read_run = 0usize;

            let exit = loop {
                let can_deliver = inbox.can_deliver();
                let reading = match phase {
                    // The handler runs inline and empties the inbox at once, so the
                    // inbox's bound no longer holds reads back: after a run of reads,
                    // what they caused is written before more is read. Unchecked, a
                    // burst of small messages each relayed through the hub to the
                    // sender too would fill its own queue before the first write.
                    Phase::Open => can_deliver && (read_run < READ_RUN || !outbox.has_queued()),
                    Phase::Faulted(_) => false,
                    Phase::Closing => true,
                };
                let faulted = match phase {
                    Phase::Faulted(fault) => Some(fault),
                    _ => None,
                };

                let step = tokio::select! {
                    biased;
                    // Never ready: a pass over every branch begins (see `self_wake`).
                    () = poll_fn(|_| gates.pass()) => Step::Go,
                    outcome = poll_fn(|_| gates.poll(Bell::Handler, |inner| self.handler.poll_end(inner))), if !handler_done => {
                        handler_done = true;
                        let ending = Ending::of(outcome, counters);
                        ending.log(Stage::Connected);
                        let (code, reason) = ending.close();
                        Step::Close { code, reason, leave: false }
                    }
                    event = poll_fn(|_| gates.poll(Bell::Lifecycle, |inner| watch.poll_event(inner))) => match event {
                        Event::Terminated => {
                            // Termination stays ready.
                            gates.reopen(Bell::Lifecycle);
                            shared.set_disconnect(Disconnect { code: None, reason: "server terminated".into() });
                            Step::Exit(Exit::Reset)
                        }
                        Event::ShuttingDown => Step::Close {
                            code: CloseCode::GOING_AWAY,
                            reason: "server shutting down".into(),
                            leave: false,
                        },
                    },
                    // Reads before writes: the frames already buffered are read and
                    // handled (the handler runs inline, right after each delivery)
                    // before what they caused is written, in one batch.
                    incoming = poll_fn(|_| gates.poll(Bell::Read, |inner| reader.poll_next(&mut io, inner))), if reading => {
                        gates.reopen(Bell::Read);
                        read_run += 1;
                        keepalive.heard();
                        on_incoming(incoming, phase, shared, &mut rate)
                    }
                    _ = poll_fn(|cx| outbox.poll_ready(cx)), if phase != Phase::Closing => {
                        read_run = 0;
                        match writer.take(outbox, MAX_BATCH, counters) {
                            // The slow-consumer policy: close ahead of the queue (counted
                            // by the hub where it decided).
                            Some((code, reason)) => Step::CloseNow { code, reason: reason.into(), leave: false },
                            None => match Out::new(&mut io, &mut writer, shared, lifecycle, Aside { handler: &mut self.handler, gates: &gates }).write(idle).await {
                                // A slow-consumer close preempted the write.
                                None => {
                                    writer.abandon(outbox);
                                    Step::Go
                                }
                                written => Step::after_write(written),
                            },
                        }
                    }
                    _ = poll_fn(|cx| inbox.poll_room(cx)), if phase == Phase::Open && !can_deliver => {
                        gates.reopen(Bell::Read);
                        Step::Go
                    }
                    // After a fault: the handler took every message that came before it
                    // and asked for more, so what they caused is queued.
                    _ = poll_fn(|cx| inbox.poll_read_out(cx)), if faulted.is_some() => {
                        faulted.map_or(Step::Go, fault_close)
                    }
                    _ = poll_fn(|_| gates.poll(Bell::Timer, |inner| timer.as_mut().poll(inner))) => {
                        gates.reopen(Bell::Timer);
                        match phase {
                            Phase::Closing => {
                                debug!("peer did not answer our close frame in time");
                                Step::Exit(Exit::Graceful)
                            }
                            // The handler did not get to the end of its messages in time.
                            Phase::Faulted(fault) => fault_close(fault),
                            Phase::Open => {
                                let (step, next) = keepalive.on_timer(can_deliver);
                                timer.as_mut().reset(next);
                                step
                            }
                        }
                    }
                };

                // Carry the step out; a write may lead to another step.
                let mut step = step.in_phase(phase);
                let sent = loop {
                    let aside = Aside {
                        handler: &mut self.handler,
                        gates: &gates,
                    };
                    let mut out = Out::new(&mut io, &mut writer, shared, lifecycle, aside);
                    step = match step {
                        Step::Go => break None,
                        Step::Exit(exit) => break Some(Err(exit)),
                        Step::Lost => {
                            lost(shared);
                            break Some(Err(Exit::Reset));
                        }
                        Step::Send(control) => {
                            out.writer.control(control);
                            Step::after_write(out.write(idle).await).in_phase(phase)
                        }
                        Step::Fault(fault) => {
                            debug!(
                                code = fault.code.0,
                                reason = fault.reason,
                                "closing: the peer broke the protocol or a limit"
                            );
                            record_our_close(shared, fault.code, fault.reason);
                            // The handler gets what came before, then the disconnect.
                            inbox.finish();
                            phase = Phase::Faulted(fault);
                            timer.as_mut().reset(Instant::now() + close_timeout);
                            gates.reopen(Bell::Timer);
                            break None;
                        }
                        Step::Answer(close) => {
                            let answer = close
                                .as_ref()
                                .map(|(code, reason)| (*code, reason.as_str()));
                            let answered = out.answer_close(answer, close_timeout).await;
                            break Some(Err(if answered.is_ok() {
                                Exit::Clean
                            } else {
                                Exit::Reset
                            }));
                        }
                        Step::Close { .. } | Step::CloseNow { .. } if phase == Phase::Closing => {
                            break None;
                        }
                        Step::Close {
                            code,
                            reason,
                            leave,
                        } => {
                            record_our_close(shared, code, &reason);
                            let fault = matches!(phase, Phase::Faulted(_));
                            let sent = out
                                .flush_queue_then_close((code, &reason), fault, close_timeout)
                                .await;
                            break Some(sent.map(|()| leave).map_err(|_| Exit::Reset));
                        }
                        Step::CloseNow {
                            code,
                            reason,
                            leave,
                        } => {
                            record_our_close(shared, code, &reason);
                            let sent = out.close_now(code, &reason, close_timeout).await;
                            break Some(sent.map(|()| leave).map_err(|_| Exit::Reset));
                        }
                    };
                };
                match sent {
                    None => {}
                    Some(Err(exit)) => break exit,
                    Some(Ok(true)) => break Exit::Graceful,
                    Some(Ok(false)) => {
                        // Wait for the peer's answer to our close frame.
                        phase = Phase::Closing;
                        outbox.close();
                        inbox.finish();
                        timer.as_mut().reset(Instant::now() + close_timeout);
                        gates.reopen(Bell::Timer);
                    }
                }
            };

            // Wake the handler: receives and sends now fail with the disconnect. Leave the
            // hub: registry, key, rooms (with presence events).
            inbox.finish();
            // What is left will not be written: its bytes leave the gauge, flushes fail.
            outbox.finish();
            self.hub.deregister(shared);
            drop(reader);
            match exit {
                Exit::Reset => drop(io),
                exit => {
                    // The handler sees the disconnect now: its clean-up runs meanwhile,
                    // not after the linger.
                    let mut aside = Aside {
                        handler: &mut self.handler,
                        gates: &gates,
                    };
                    tokio::select! {
                        () = Box::pin(writer::release(io, exit)) => {}
                        () = poll_fn(|cx| aside.poll(cx)) => {}
                    }
                }
            }
            counters
                .connections_open
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            drop(self.permit.take());

            if !handler_done {
                tokio::select! {
                    outcome = poll_fn(|cx| self.handler.poll_end(cx)) => Ending::of(outcome, counters).log(Stage::Connected),
                    // Dropping the driver drops the handler's future.
                    _ = lifecycle.terminated() => {}
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

/// Frames read in a row before what is queued is written: the incoming queue's
/// default depth, the most the driver read ahead of a handler in a task of its own.
const READ_RUN: usize = 16;

/// The close after a fault: what is queued, then the fault's code, then release.
fn fault_close(fault: Fault) -> Step {
    Step::Close {
        code: fault.code,
        reason: fault.reason.into(),
        leave: true,
    }
}

/// Hand a data message to the handler, counted.
fn deliver(shared: &ConnShared, message: Message) {
    let counters = &shared.counters;
    counters.messages_in.add(1);
    counters.bytes_in.add(message.len() as u64);
    shared.inbox.deliver(message);
}

/// The connection dropped without a close frame.
fn lost(shared: &ConnShared) {
    shared.set_disconnect(Disconnect {
        code: None,
        reason: "connection lost".into(),
    });
}

fn record_our_close(shared: &ConnShared, code: CloseCode, reason: &str) {
    shared.set_disconnect(Disconnect {
        code: Some(code),
        reason: reason.to_string(),
    });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::ConnShared;

    /// The driver's future is memory that every connection holds for its life, idle or
    /// not: this pins its size, so that a change that grows it is a decision.
    #[tokio::test]
    async fn the_drivers_future_stays_small() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) =
            tokio::join!(tokio::net::TcpStream::connect(addr), listener.accept());
        let (stream, _) = accepted.unwrap();
        let counters = Arc::new(Counters::default());
        let (shared, _decision) = ConnShared::for_test(counters.clone());
        let mut driver = Driver {
            shared: Arc::new(shared),
            handler: InlineHandler::new(Box::pin(async { Ok(()) })),
            limits: Limits::default(),
            close_timeout: Duration::from_secs(1),
            read_chunk: 4096,
            lifecycle: Lifecycle::default(),
            hub: Hub::new(counters),
            permit: None,
        };
        let future = driver.drive(Upgraded::Tcp(stream), Bytes::new(), Waking::new());
        let size = std::mem::size_of_val(&future);
        println!("driver future: {size} bytes");
        assert!(
            size <= DRIVER_FUTURE_BYTES,
            "the driver's future grew to {size} bytes"
        );
    }

    /// 1,088 bytes measured when this test was written (x86-64, Rust 1.95), 1,064 with
    /// the gates sharing one registration and permessage-deflate's inflater boxed,
    /// 1,104 with the handler polled inline (its aside polling during writes: two
    /// references more), which saves the handler's own task; 1,120 with the driver's
    /// [`Waking`] (its wakes while it runs no longer requeue the task); with a little
    /// room. The driver over tungstenite's stream measured 1,176.
    const DRIVER_FUTURE_BYTES: usize = 1_128;
}
