//! A connection's outgoing queue, shared by its handler, its other senders and the hub,
//! and drained by its driver.
//!
//! One queue keeps every recipient's messages in the order they were queued. It is
//! bounded twice: in messages (`Config::outgoing_queue`, 256 by default) and in bytes
//! (`Config::outgoing_queue_bytes`, 4 MiB by default). The bytes are the frames' bytes
//! on the wire, counted from admission until the driver has handed them to the socket
//! (so the frames the driver is writing count too), and summed over connections in the
//! `queued_bytes` gauge. A message larger than the byte bound is admitted only into an
//! empty queue, so a connection holds at most the larger of the bound and one message.
//!
//! Two ways in: the handler's own sends wait for room (backpressure, never dropped),
//! in one line across all senders: the outbox moves them into the queue in order as
//! room frees, so none is overtaken or starved. Hub messages never wait, and when the
//! queue is full the slow-consumer policy decides (drop the newest, drop the oldest hub
//! messages, or close with 1013 ahead of the queue, which is only done to a client
//! behind on hub messages, never because of its handler's own sends). The driver takes what is queued at once and writes it with one flush, and
//! reports what it handed to the socket, which is what `Sender::poll_flush` waits for.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::CloseCode;
use crate::connection::frame::Frame;
use crate::metrics::Counters;

/// An item of the queue.
pub(crate) enum Outgoing {
    /// A data message, encoded; `from_hub` marks messages the slow-consumer policy may
    /// drop.
    Frame { frame: Frame, from_hub: bool },
    /// A close requested by the handler, after what is queued before it.
    Close(CloseCode, String),
}

impl Outgoing {
    /// The bytes this item puts on the wire, as the byte bound counts them (a close
    /// frame is small and counts nothing).
    pub(crate) fn wire_len(&self) -> usize {
        match self {
            Outgoing::Frame { frame, .. } => frame.wire_len(),
            Outgoing::Close(..) => 0,
        }
    }
}

/// An item with its place in the connection's order (1, 2, …), by which the driver
/// reports how far it has written.
pub(crate) struct Queued {
    pub(crate) seq: u64,
    pub(crate) item: Outgoing,
}

/// What happens to a hub message when a recipient's queue is full (in messages or in
/// bytes).
///
/// ```
/// use wsframe::SlowConsumer;
/// assert_eq!(SlowConsumer::default(), SlowConsumer::Close);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Close the connection with 1013 (try again later), ahead of everything queued:
    /// the client learns it fell behind instead of silently missing messages.
    ///
    /// A client is closed only for slowness it caused: when the hub messages queued
    /// for it and not yet handed to its socket fill the queue by themselves (in
    /// messages, or in bytes with the new message). When what fills the queue is its
    /// handler's own sends (queued, being written, or waiting for room), the hub
    /// message is dropped instead, and counted in `slow_consumer_drops`.
    #[default]
    Close,
    /// Drop the message that does not fit.
    DropNewest,
    /// Drop the oldest hub messages in the queue, as few as make room (the handler's own
    /// messages are never dropped; when dropping every hub message queued would not make
    /// room, the new message is dropped instead).
    DropOldest,
}

/// The result of offering a hub message to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Queued,
    /// Queued after dropping this many of the oldest hub messages.
    DisplacedOldest(usize),
    Dropped,
    /// The queue was full and the connection is now closing with 1013.
    Closing,
    /// The connection is closed.
    Gone,
}

/// What [`Outbox::enqueue`] did with a message.
pub(crate) enum Enqueued {
    /// In the queue, with this sequence number.
    Queued(u64),
    /// In line for room, with this ticket.
    Waiting(u64),
    /// The connection is closed.
    Closed,
}

/// A send waiting in line for room. Dropping it withdraws the message if it has not
/// entered the queue yet; it is built before any await, so even a wait that is never
/// polled leaves nothing behind.
pub(crate) struct InLine<O: std::ops::Deref<Target = Outbox>> {
    outbox: O,
    ticket: u64,
    settled: bool,
}

impl<O: std::ops::Deref<Target = Outbox>> InLine<O> {
    pub(crate) fn new(outbox: O, ticket: u64) -> Self {
        InLine {
            outbox,
            ticket,
            settled: false,
        }
    }

    /// The message's sequence number once it entered the queue, or `Err` if the
    /// connection closed first.
    pub(crate) async fn admitted(mut self) -> Result<u64, ()> {
        loop {
            let notified = self.outbox.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = self.outbox.admission(self.ticket) {
                self.settled = true;
                return result;
            }
            notified.await;
        }
    }
}

impl<O: std::ops::Deref<Target = Outbox>> Drop for InLine<O> {
    fn drop(&mut self) {
        if !self.settled {
            self.outbox.withdraw(self.ticket);
        }
    }
}

/// Whether the messages of one sender up to a point have been handed to the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flushed {
    Yes,
    /// Not yet.
    Pending,
    /// Never: the connection ended first.
    Lost,
}

struct State {
    queue: VecDeque<Queued>,
    /// Wire bytes admitted and not yet handed to the socket (queued, or in the driver's
    /// batch).
    bytes: usize,
    closed: bool,
    close_now: Option<(CloseCode, String)>,
    /// Handler sends waiting for room, oldest first, and their bytes. The outbox itself
    /// moves them into the queue, in this order, as room frees (see
    /// [`admit_waiting`](Outbox::admit_waiting)): no later send passes them and hub
    /// messages may not take their room.
    waiting: VecDeque<(u64, Outgoing)>,
    waiting_bytes: usize,
    /// The ticket the next waiting send gets.
    next_ticket: u64,
    /// Waiting sends admitted (ticket, sequence number) whose sender has not looked yet.
    admitted: Vec<(u64, u64)>,
    /// Hub messages admitted and not yet handed to the socket (sequence number, wire
    /// bytes), and their bytes: what tells a slow client from a busy handler.
    hub_unwritten: VecDeque<(u64, usize)>,
    hub_bytes: usize,
    /// The sequence number of the last item admitted.
    last_seq: u64,
    /// Senders waiting in `poll_flush`.
    flush_waiters: usize,
}

pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Mirror of the queue length (plus one for a pending close) for lock-free checks.
    len: AtomicUsize,
    /// A slow-consumer close is waiting (checked while the driver is busy writing).
    close_pending: AtomicBool,
    /// The sequence number of the last item the driver handed to the socket.
    handed: AtomicU64,
    /// The driver ended: nothing still queued will be written.
    finished: AtomicBool,
    capacity: usize,
    max_bytes: usize,
    /// The app's counters, for the `queued_bytes` gauge.
    counters: Arc<Counters>,
    writer: AtomicWaker,
    space: Notify,
    written: Notify,
}

impl Outbox {
    pub(crate) fn new(capacity: usize, max_bytes: usize, counters: Arc<Counters>) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                closed: false,
                close_now: None,
                waiting: VecDeque::new(),
                waiting_bytes: 0,
                next_ticket: 0,
                admitted: Vec::new(),
                hub_unwritten: VecDeque::new(),
                hub_bytes: 0,
                last_seq: 0,
                flush_waiters: 0,
            }),
            len: AtomicUsize::new(0),
            close_pending: AtomicBool::new(false),
            handed: AtomicU64::new(0),
            finished: AtomicBool::new(false),
            capacity: capacity.max(1),
            max_bytes: max_bytes.max(1),
            counters,
            writer: AtomicWaker::new(),
            space: Notify::new(),
            written: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `len` more bytes fit beside what is queued and what `reserved` (messages,
    /// bytes) promises to waiting handler sends. A message larger than the byte bound
    /// fits only when no byte is queued; a close (no bytes) never waits for bytes.
    fn fits(&self, state: &State, len: usize, (messages, bytes): (usize, usize)) -> bool {
        let bytes = state.bytes + bytes;
        state.queue.len() + messages < self.capacity
            && (len == 0 || bytes == 0 || bytes.saturating_add(len) <= self.max_bytes)
    }

    /// Append `item` (the caller checked the bounds); returns its sequence number.
    fn admit(&self, state: &mut State, item: Outgoing) -> u64 {
        let len = item.wire_len();
        state.last_seq += 1;
        let seq = state.last_seq;
        if let Outgoing::Frame { from_hub: true, .. } = item {
            state.hub_unwritten.push_back((seq, len));
            state.hub_bytes += len;
        }
        state.queue.push_back(Queued { seq, item });
        state.bytes += len;
        self.counters.queued_bytes.add(len as u64);
        self.len.store(state.queue.len(), Ordering::Release);
        seq
    }

    /// Forget `len` bytes (handed to the socket, or discarded).
    fn forget_bytes(&self, state: &mut State, len: usize) {
        let len = len.min(state.bytes);
        state.bytes -= len;
        self.counters.queued_bytes.sub(len as u64);
    }

    /// Queue `item`, waiting (in line, see [`enqueue`](Outbox::enqueue)) while it does
    /// not fit; its sequence number, or `Err` once the connection closed.
    pub(crate) async fn push(&self, item: Outgoing) -> Result<u64, ()> {
        match self.enqueue(item) {
            Enqueued::Queued(seq) => Ok(seq),
            Enqueued::Closed => Err(()),
            Enqueued::Waiting(ticket) => InLine::new(self, ticket).admitted().await,
        }
    }

    /// Queue `item` now if it fits and no send waits ahead of it, else put it in line
    /// (it then enters the queue as soon as room frees, whether or not its sender is
    /// polled; the caller waits with [`InLine`], whose drop withdraws it if it has not
    /// entered yet).
    pub(crate) fn enqueue(&self, item: Outgoing) -> Enqueued {
        let mut state = self.lock();
        if state.closed {
            return Enqueued::Closed;
        }
        if state.waiting.is_empty() && self.fits(&state, item.wire_len(), (0, 0)) {
            let seq = self.admit(&mut state, item);
            drop(state);
            self.writer.wake();
            return Enqueued::Queued(seq);
        }
        state.next_ticket += 1;
        let ticket = state.next_ticket;
        state.waiting_bytes += item.wire_len();
        state.waiting.push_back((ticket, item));
        Enqueued::Waiting(ticket)
    }

    /// Move the waiting sends that fit, oldest first, into the queue; stops at the first
    /// that does not fit, so none is overtaken.
    fn admit_waiting(&self, state: &mut State) -> bool {
        let mut admitted = false;
        while let Some((_, item)) = state.waiting.front() {
            let len = item.wire_len();
            if !self.fits(state, len, (0, 0)) {
                break;
            }
            let (ticket, item) = state.waiting.pop_front().expect("front");
            state.waiting_bytes -= len;
            let seq = self.admit(state, item);
            state.admitted.push((ticket, seq));
            admitted = true;
        }
        if admitted {
            self.writer.wake();
        }
        admitted
    }

    /// What became of the waiting send `ticket`: `None` while it waits.
    fn admission(&self, ticket: u64) -> Option<Result<u64, ()>> {
        let mut state = self.lock();
        if let Some(i) = state.admitted.iter().position(|(t, _)| *t == ticket) {
            return Some(Ok(state.admitted.swap_remove(i).1));
        }
        if state.waiting.iter().any(|(t, _)| *t == ticket) {
            return None;
        }
        // Neither admitted nor waiting: the connection closed and dropped it.
        Some(Err(()))
    }

    /// The sender of `ticket` gave up: withdraw its message if it still waits (the
    /// next in line may fit now).
    fn withdraw(&self, ticket: u64) {
        let mut state = self.lock();
        if let Some(i) = state.admitted.iter().position(|(t, _)| *t == ticket) {
            state.admitted.swap_remove(i);
        }
        let Some(i) = state.waiting.iter().position(|(t, _)| *t == ticket) else {
            return;
        };
        let (_, item) = state.waiting.remove(i).expect("index");
        state.waiting_bytes -= item.wire_len();
        if i == 0 && self.admit_waiting(&mut state) {
            drop(state);
            self.space.notify_waiters();
        }
    }

    /// Whether the hub messages this connection has not taken yet leave no room for
    /// `len` more bytes by themselves: only then is its client slow. Room held by the
    /// handler's own sends (queued, being written, or waiting) says nothing about it.
    fn behind_on_hub(&self, state: &State, len: usize) -> bool {
        let hub_queued = state
            .queue
            .iter()
            .filter(|q| matches!(q.item, Outgoing::Frame { from_hub: true, .. }))
            .count();
        hub_queued >= self.capacity
            || (state.hub_bytes > 0 && state.hub_bytes.saturating_add(len) > self.max_bytes)
    }

    /// Offer a hub message; never waits.
    pub(crate) fn offer(&self, frame: Frame, policy: SlowConsumer) -> Admission {
        let len = frame.wire_len();
        let mut state = self.lock();
        if state.closed || state.close_now.is_some() {
            return Admission::Gone;
        }
        let mut admission = Admission::Queued;
        let reserved = (state.waiting.len(), state.waiting_bytes);
        if !self.fits(&state, len, reserved) {
            match policy {
                SlowConsumer::DropNewest => return Admission::Dropped,
                // Room is promised to a waiting handler send.
                SlowConsumer::DropOldest if reserved.0 > 0 => return Admission::Dropped,
                SlowConsumer::DropOldest => match self.displace_oldest(&mut state, len) {
                    Some(n) => admission = Admission::DisplacedOldest(n),
                    None => return Admission::Dropped,
                },
                // The room is the handler's: drop this message, the client is not slow.
                SlowConsumer::Close if !self.behind_on_hub(&state, len) => {
                    return Admission::Dropped;
                }
                SlowConsumer::Close => {
                    Self::fail_waiting(&mut state);
                    state.close_now = Some((CloseCode::TRY_AGAIN_LATER, "slow consumer".into()));
                    let discarded: usize = state.queue.drain(..).map(|q| q.item.wire_len()).sum();
                    self.forget_bytes(&mut state, discarded);
                    // Closed: no hub message will be judged again.
                    state.hub_unwritten.clear();
                    state.hub_bytes = 0;
                    state.closed = true;
                    self.len.store(1, Ordering::Release);
                    self.close_pending.store(true, Ordering::Release);
                    drop(state);
                    self.writer.wake();
                    self.space.notify_waiters();
                    return Admission::Closing;
                }
            }
        }
        self.admit(
            &mut state,
            Outgoing::Frame {
                frame,
                from_hub: true,
            },
        );
        drop(state);
        self.writer.wake();
        admission
    }

    /// Drop the fewest oldest hub messages after which `len` bytes fit; how many, or
    /// `None` (and nothing dropped) when even dropping them all would not make room.
    fn displace_oldest(&self, state: &mut State, len: usize) -> Option<usize> {
        let (mut messages, mut bytes) = (state.queue.len(), state.bytes);
        let mut victims = Vec::new();
        for (index, queued) in state.queue.iter().enumerate() {
            if let Outgoing::Frame { from_hub: true, .. } = queued.item {
                victims.push(index);
                messages -= 1;
                bytes -= queued.item.wire_len();
                if messages < self.capacity && (bytes == 0 || bytes + len <= self.max_bytes) {
                    break;
                }
            }
        }
        let fits = messages < self.capacity && (bytes == 0 || bytes + len <= self.max_bytes);
        if !fits || victims.is_empty() {
            return None;
        }
        let freed = state.bytes - bytes;
        for &index in victims.iter().rev() {
            if let Some(Queued { seq, item }) = state.queue.remove(index) {
                state.hub_bytes -= item.wire_len();
                state.hub_unwritten.retain(|(s, _)| *s != seq);
            }
        }
        self.forget_bytes(state, freed);
        self.len.store(state.queue.len(), Ordering::Release);
        Some(victims.len())
    }

    /// Whether anything is queued.
    pub(crate) fn has_queued(&self) -> bool {
        self.len.load(Ordering::Acquire) > 0
    }

    /// Ready when something is queued (or a close must be sent at once).
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.len.load(Ordering::Acquire) > 0 {
            return Poll::Ready(());
        }
        self.writer.register(cx.waker());
        if self.len.load(Ordering::Acquire) > 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Ready when a slow-consumer close must preempt what the driver is writing.
    pub(crate) fn poll_close_pending(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.close_pending.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.writer.register(cx.waker());
        if self.close_pending.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Move up to `max` queued items into `batch`; returns a close that must be sent
    /// ahead of the queue, if the slow-consumer policy asked for one. The items' bytes
    /// stay counted until [`handed`](Outbox::handed) reports them.
    pub(crate) fn drain(
        &self,
        batch: &mut VecDeque<Queued>,
        max: usize,
    ) -> Option<(CloseCode, String)> {
        let mut state = self.lock();
        if let Some(close) = state.close_now.take() {
            self.len.store(0, Ordering::Release);
            self.close_pending.store(false, Ordering::Release);
            return Some(close);
        }
        let n = state.queue.len().min(max);
        batch.extend(state.queue.drain(..n));
        self.len.store(state.queue.len(), Ordering::Release);
        let admitted = n > 0 && self.admit_waiting(&mut state);
        drop(state);
        if admitted {
            self.space.notify_waiters();
        }
        None
    }

    /// The driver compressed drained items (a dedicated permessage-deflate connection):
    /// each `(seq, saved)` item is `saved` bytes shorter on the wire than admitted. The
    /// savings leave the byte count, and a hub message's share of it, at once.
    pub(crate) fn shrunk(&self, savings: impl IntoIterator<Item = (u64, usize)>) {
        let mut state = self.lock();
        let mut total = 0;
        for (seq, saved) in savings {
            total += saved;
            if let Some(entry) = state.hub_unwritten.iter_mut().find(|(s, _)| *s == seq) {
                entry.1 -= saved;
                state.hub_bytes -= saved;
            }
        }
        if total > 0 {
            self.forget_bytes(&mut state, total);
        }
        let admitted = total > 0 && self.admit_waiting(&mut state);
        drop(state);
        if admitted {
            self.space.notify_waiters();
        }
    }

    /// The driver is done with `bytes` of drained frames (written or discarded), and
    /// has handed everything up to item `through` to the socket.
    pub(crate) fn handed(&self, bytes: usize, through: Option<u64>) {
        let mut state = self.lock();
        if bytes > 0 {
            self.forget_bytes(&mut state, bytes);
        }
        if let Some(seq) = through {
            self.handed.fetch_max(seq, Ordering::AcqRel);
            while let Some(&(hub_seq, len)) = state.hub_unwritten.front() {
                if hub_seq > seq {
                    break;
                }
                state.hub_unwritten.pop_front();
                state.hub_bytes -= len;
            }
        }
        let admitted = bytes > 0 && self.admit_waiting(&mut state);
        let flush_waiters = state.flush_waiters > 0;
        drop(state);
        if admitted {
            self.space.notify_waiters();
        }
        if flush_waiters && through.is_some() {
            self.written.notify_waiters();
        }
    }

    /// Whether everything up to item `seq` has been handed to the socket.
    pub(crate) fn flushed(&self, seq: u64) -> Flushed {
        if self.handed.load(Ordering::Acquire) >= seq {
            Flushed::Yes
        } else if self.finished.load(Ordering::Acquire) {
            Flushed::Lost
        } else {
            Flushed::Pending
        }
    }

    /// Wait until [`flushed`](Outbox::flushed) is no longer pending for `seq`.
    pub(crate) async fn wait_flushed(&self, seq: u64) {
        /// Counts this waiter, also if the wait is dropped.
        struct Waiter<'a>(&'a Outbox);
        impl Drop for Waiter<'_> {
            fn drop(&mut self) {
                self.0.lock().flush_waiters -= 1;
            }
        }
        self.lock().flush_waiters += 1;
        let _waiter = Waiter(self);
        loop {
            let notified = self.written.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.flushed(seq) != Flushed::Pending {
                return;
            }
            notified.await;
        }
    }

    /// Accept nothing more; waiting senders fail. What is queued may still be written.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        Self::fail_waiting(&mut state);
        drop(state);
        self.space.notify_waiters();
    }

    /// The connection closed: the sends still waiting fail.
    fn fail_waiting(state: &mut State) {
        state.waiting.clear();
        state.waiting_bytes = 0;
    }

    /// The hub messages' share of the byte count (for tests).
    #[cfg(test)]
    pub(crate) fn hub_bytes(&self) -> usize {
        self.lock().hub_bytes
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The driver ended: discard what is left and give its bytes back to the gauge;
    /// waiting flushes fail.
    pub(crate) fn finish(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.queue.clear();
        Self::fail_waiting(&mut state);
        state.hub_unwritten.clear();
        state.hub_bytes = 0;
        let left = state.bytes;
        self.forget_bytes(&mut state, left);
        self.len.store(0, Ordering::Release);
        self.finished.store(true, Ordering::Release);
        drop(state);
        self.space.notify_waiters();
        self.written.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Frame {
        Frame::encode(&crate::Message::text(s))
    }

    /// A frame of `len` bytes on the wire, header included.
    fn sized(len: usize) -> Frame {
        let header = if len <= 127 { 2 } else { 4 };
        let frame = Frame::encode(&crate::Message::binary(vec![0u8; len - header]));
        assert_eq!(frame.wire_len(), len);
        frame
    }

    fn mine(frame: Frame) -> Outgoing {
        Outgoing::Frame {
            frame,
            from_hub: false,
        }
    }

    fn outbox(capacity: usize, max_bytes: usize) -> (Outbox, Arc<Counters>) {
        let counters = Arc::new(Counters::default());
        (Outbox::new(capacity, max_bytes, counters.clone()), counters)
    }

    /// Drain everything, as the driver would, and report it written.
    fn queued(outbox: &Outbox) -> Vec<String> {
        let mut batch = VecDeque::new();
        outbox.drain(&mut batch, usize::MAX);
        let bytes = batch.iter().map(|q| q.item.wire_len()).sum();
        outbox.handed(bytes, batch.back().map(|q| q.seq));
        batch
            .into_iter()
            .map(|queued| match queued.item {
                Outgoing::Frame { frame, .. } => String::from_utf8_lossy(frame.payload()).into(),
                Outgoing::Close(code, _) => format!("close {code}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn policies_apply_to_hub_messages_only() {
        let (outbox, _) = outbox(2, usize::MAX);
        outbox.push(mine(text("mine"))).await.ok().unwrap();
        assert_eq!(
            outbox.offer(text("a"), SlowConsumer::DropOldest),
            Admission::Queued
        );
        assert_eq!(
            outbox.offer(text("b"), SlowConsumer::DropNewest),
            Admission::Dropped
        );
        assert_eq!(
            outbox.offer(text("c"), SlowConsumer::DropOldest),
            Admission::DisplacedOldest(1)
        );
        // The handler's message survives; the oldest hub message made room.
        assert_eq!(queued(&outbox), ["mine", "c"]);

        outbox.offer(text("d"), SlowConsumer::Close);
        outbox.offer(text("e"), SlowConsumer::Close);
        assert_eq!(
            outbox.offer(text("f"), SlowConsumer::Close),
            Admission::Closing
        );
        let mut batch = VecDeque::new();
        assert_eq!(
            outbox.drain(&mut batch, 10).map(|c| c.0),
            Some(CloseCode::TRY_AGAIN_LATER)
        );
        assert!(batch.is_empty(), "the close skips the queue");
        assert_eq!(
            outbox.offer(text("g"), SlowConsumer::Close),
            Admission::Gone
        );
    }

    #[tokio::test]
    async fn a_waiting_handler_send_gets_the_room_before_hub_messages() {
        let outbox = Arc::new(outbox(2, usize::MAX).0);
        outbox.offer(text("a"), SlowConsumer::DropNewest);
        outbox.offer(text("b"), SlowConsumer::DropNewest);
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.push(mine(text("mine"))).await.is_ok() })
        };
        tokio::task::yield_now().await;
        // The driver frees room: the waiting send takes it at once, so a hub offer
        // right after finds none.
        let mut batch = VecDeque::new();
        outbox.drain(&mut batch, 1);
        assert_eq!(
            outbox.offer(text("hub"), SlowConsumer::DropNewest),
            Admission::Dropped
        );
        assert!(waiting.await.unwrap(), "the handler send got in");
        assert!(queued(&outbox).contains(&"mine".to_string()));
    }

    #[tokio::test]
    async fn handler_sends_wait_for_room() {
        let outbox = Arc::new(outbox(1, usize::MAX).0);
        outbox
            .push(Outgoing::Close(CloseCode::NORMAL, String::new()))
            .await
            .ok()
            .unwrap();
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.push(mine(text("later"))).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(queued(&outbox), ["close 1000"]);
        assert!(waiting.await.unwrap());
        assert_eq!(queued(&outbox), ["later"]);
    }

    #[tokio::test]
    async fn hub_messages_meet_the_policy_at_the_byte_bound() {
        let (outbox, counters) = outbox(100, 100);
        for _ in 0..2 {
            assert_eq!(
                outbox.offer(sized(40), SlowConsumer::DropNewest),
                Admission::Queued
            );
        }
        assert_eq!(counters.queued_bytes.get(), 80);
        // 80 + 40 > 100, though the message count is far from its bound.
        assert_eq!(
            outbox.offer(sized(40), SlowConsumer::DropNewest),
            Admission::Dropped
        );
        assert_eq!(
            outbox.offer(sized(20), SlowConsumer::DropNewest),
            Admission::Queued
        );
        assert_eq!(counters.queued_bytes.get(), 100);
        // Dropping the oldest makes as much room as the new message needs: 60 bytes
        // need both 40-byte messages gone.
        assert_eq!(
            outbox.offer(sized(60), SlowConsumer::DropOldest),
            Admission::DisplacedOldest(2)
        );
        assert_eq!(counters.queued_bytes.get(), 80);
        assert_eq!(
            outbox.offer(sized(40), SlowConsumer::Close),
            Admission::Closing
        );
        assert_eq!(counters.queued_bytes.get(), 0, "the queue was discarded");
    }

    #[tokio::test]
    async fn dropping_the_oldest_drops_nothing_when_it_cannot_make_room() {
        let (outbox, counters) = outbox(100, 100);
        outbox.push(mine(sized(60))).await.ok().unwrap();
        outbox.offer(sized(30), SlowConsumer::DropOldest);
        // Only the 30-byte hub message could go; 60 + 50 still exceeds 100.
        assert_eq!(
            outbox.offer(sized(50), SlowConsumer::DropOldest),
            Admission::Dropped
        );
        assert_eq!(counters.queued_bytes.get(), 90);
        assert_eq!(queued(&outbox).len(), 2);
    }

    #[tokio::test]
    async fn a_message_larger_than_the_bound_goes_only_into_an_empty_queue() {
        let (outbox, counters) = outbox(100, 100);
        assert_eq!(
            outbox.offer(sized(10), SlowConsumer::DropNewest),
            Admission::Queued
        );
        assert_eq!(
            outbox.offer(sized(300), SlowConsumer::DropNewest),
            Admission::Dropped
        );
        queued(&outbox);
        assert_eq!(counters.queued_bytes.get(), 0);
        assert_eq!(
            outbox.offer(sized(300), SlowConsumer::DropNewest),
            Admission::Queued
        );
        assert_eq!(
            outbox.offer(sized(10), SlowConsumer::DropNewest),
            Admission::Dropped,
            "nothing fits beside it"
        );
        assert_eq!(counters.queued_bytes.get(), 300);
    }

    #[tokio::test]
    async fn a_waiting_send_is_never_overtaken() {
        let (outbox, _) = outbox(100, 100);
        let outbox = Arc::new(outbox);
        outbox.push(mine(sized(60))).await.ok().unwrap();
        // Larger than the bound: it needs an empty queue.
        let big = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.push(mine(sized(150))).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!big.is_finished());
        // 60 + 10 fits the bound, but a send waits ahead of it: small sends from other
        // clones (and the `Sink`) must queue behind it, or they could starve it forever.
        let Enqueued::Waiting(ticket) = outbox.enqueue(mine(sized(10))) else {
            panic!("a small send passed the one waiting ahead of it");
        };
        let small = {
            let outbox = outbox.clone();
            tokio::spawn(async move { InLine::new(&*outbox, ticket).admitted().await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!small.is_finished());
        let lens = |outbox: &Outbox| {
            let mut batch = VecDeque::new();
            outbox.drain(&mut batch, usize::MAX);
            let bytes = batch.iter().map(|q| q.item.wire_len()).sum();
            outbox.handed(bytes, batch.back().map(|q| q.seq));
            batch.iter().map(|q| q.item.wire_len()).collect::<Vec<_>>()
        };
        assert_eq!(lens(&outbox), [60]);
        // The room went to the oldest waiter, even before it was polled again.
        assert_eq!(lens(&outbox), [150]);
        assert_eq!(lens(&outbox), [10]);
        assert!(big.await.unwrap() && small.await.unwrap());
    }

    #[tokio::test]
    async fn the_handlers_own_sends_never_make_its_client_look_slow() {
        let (outbox, counters) = outbox(100, 100);
        let outbox = Arc::new(outbox);
        // The handler keeps the queue at its bound: one send queued, one in the
        // driver's batch being written, one waiting for room.
        outbox.push(mine(sized(50))).await.ok().unwrap();
        let mut batch = VecDeque::new();
        outbox.drain(&mut batch, usize::MAX);
        outbox.push(mine(sized(50))).await.ok().unwrap();
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.push(mine(sized(50))).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        // A hub message finds no room, but none of it is taken by hub messages: the
        // client is not behind on them, so it is not closed; this message is dropped.
        assert_eq!(
            outbox.offer(sized(30), SlowConsumer::Close),
            Admission::Dropped
        );
        assert!(!outbox.is_closed());
        outbox.handed(50, batch.back().map(|q| q.seq));
        assert!(waiting.await.unwrap());
        assert_eq!(counters.queued_bytes.get(), 100);
        assert_eq!(queued(&outbox).len(), 2);

        // Hub messages the client has not taken fill the bound: that client is slow.
        outbox.push(mine(sized(40))).await.ok().unwrap();
        assert_eq!(
            outbox.offer(sized(40), SlowConsumer::Close),
            Admission::Queued
        );
        outbox.drain(&mut batch, usize::MAX); // in the driver's batch, still unwritten
        assert_eq!(
            outbox.offer(sized(20), SlowConsumer::Close),
            Admission::Queued
        );
        assert_eq!(
            outbox.offer(sized(50), SlowConsumer::Close),
            Admission::Closing,
            "40 + 20 bytes of hub messages unwritten, and 50 more do not fit"
        );
    }

    #[tokio::test]
    async fn bytes_count_until_handed_to_the_socket_and_handler_sends_wait_for_them() {
        let (outbox, counters) = outbox(100, 100);
        let outbox = Arc::new(outbox);
        outbox.push(mine(sized(60))).await.ok().unwrap();
        let mut batch = VecDeque::new();
        outbox.drain(&mut batch, usize::MAX);
        // Drained into the driver's batch but not written: still counted.
        assert_eq!(counters.queued_bytes.get(), 60);
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move { outbox.push(mine(sized(60))).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "60 + 60 bytes exceed the bound");
        // A hub message may not take the room the waiting send needs.
        assert_eq!(
            outbox.offer(sized(30), SlowConsumer::DropNewest),
            Admission::Dropped
        );
        let seq = batch.back().map(|q| q.seq);
        assert_eq!(outbox.flushed(1), Flushed::Pending);
        outbox.handed(60, seq);
        assert_eq!(outbox.flushed(1), Flushed::Yes);
        assert!(waiting.await.unwrap());
        assert_eq!(counters.queued_bytes.get(), 60);
        assert_eq!(outbox.flushed(2), Flushed::Pending);
        outbox.finish();
        assert_eq!(
            counters.queued_bytes.get(),
            0,
            "the gauge forgets a closed queue"
        );
        assert_eq!(outbox.flushed(2), Flushed::Lost);
    }
}
