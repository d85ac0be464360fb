//! A connection's outgoing queue, shared by its handler, its other senders and the hub,
//! and drained by its driver.
//!
//! One bounded queue keeps every recipient's messages in the order they were queued.
//! Two ways in: the handler's own sends wait for room (backpressure, never dropped);
//! hub messages never wait, and when the queue is full the slow-consumer policy decides
//! (drop the newest, drop the oldest hub message, or close with 1013 ahead of the
//! queue). The driver takes everything queued at once and writes it with one flush.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use tokio::sync::Notify;

use crate::CloseCode;
use crate::frame::Frame;

/// An item of the queue.
pub(crate) enum Outgoing {
    /// A data message, encoded; `from_hub` marks messages the slow-consumer policy may
    /// drop.
    Frame { frame: Frame, from_hub: bool },
    /// A close requested by the handler, after what is queued before it.
    Close(CloseCode, String),
}

/// What happens to a hub message when a recipient's queue is full.
///
/// ```
/// use wsframe::SlowConsumer;
/// assert_eq!(SlowConsumer::default(), SlowConsumer::Close);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowConsumer {
    /// Close the connection with 1013 (try again later), ahead of everything queued:
    /// the client learns it fell behind instead of silently missing messages.
    #[default]
    Close,
    /// Drop the message that does not fit.
    DropNewest,
    /// Drop the oldest hub message in the queue to make room (the handler's own
    /// messages are never dropped; with none to drop, the new message is dropped).
    DropOldest,
}

/// The result of offering a hub message to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    Queued,
    /// Queued after dropping the oldest hub message.
    DisplacedOldest,
    Dropped,
    /// The queue was full and the connection is now closing with 1013.
    Closing,
    /// The connection is closed.
    Gone,
}

enum Enqueue {
    Queued,
    Full(Outgoing),
    Closed(Outgoing),
}

struct State {
    queue: VecDeque<Outgoing>,
    closed: bool,
    close_now: Option<(CloseCode, String)>,
    /// Handler sends waiting for room: the room a drain frees goes to them first, so
    /// that a steady stream of hub messages cannot starve them.
    waiting: usize,
}

pub(crate) struct Outbox {
    state: Mutex<State>,
    /// Mirror of the queue length (plus one for a pending close) for lock-free checks.
    len: AtomicUsize,
    /// A slow-consumer close is waiting (checked while the driver is busy writing).
    close_pending: AtomicBool,
    capacity: usize,
    writer: AtomicWaker,
    space: Notify,
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                closed: false,
                close_now: None,
                waiting: 0,
            }),
            len: AtomicUsize::new(0),
            close_pending: AtomicBool::new(false),
            capacity: capacity.max(1),
            writer: AtomicWaker::new(),
            space: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue `item`, waiting while the queue is full; `Err` once the connection closed.
    pub(crate) async fn push(&self, item: Outgoing) -> Result<(), Outgoing> {
        /// Holds a reserved place among the waiting senders, also if the send is dropped.
        struct Waiting<'a>(&'a Outbox, bool);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.lock().waiting -= 1;
                }
            }
        }
        // Usually there is room: queue without arming a wait (which takes a lock).
        let item = match self.enqueue(item, true) {
            Enqueue::Queued => return Ok(()),
            Enqueue::Closed(item) => return Err(item),
            Enqueue::Full(item) => item,
        };
        let mut waiting = Waiting(self, false);
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return Err(item);
                }
                if state.queue.len() < self.capacity {
                    if waiting.1 {
                        state.waiting -= 1;
                        waiting.1 = false;
                    }
                    state.queue.push_back(item);
                    self.len.store(state.queue.len(), Ordering::Release);
                    drop(state);
                    self.writer.wake();
                    return Ok(());
                }
                if !waiting.1 {
                    state.waiting += 1;
                    waiting.1 = true;
                }
            }
            notified.await;
        }
    }

    /// Whether a `push` would queue at once (or fail at once: closed).
    pub(crate) fn has_room(&self) -> bool {
        self.len.load(Ordering::Acquire) < self.capacity || self.is_closed()
    }

    /// Wait until the queue has room or closes.
    pub(crate) async fn room(&self) {
        loop {
            let notified = self.space.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.has_room() {
                return;
            }
            notified.await;
        }
    }

    /// Queue `item` if there is room now (for the `Sink` half after `room`).
    pub(crate) fn try_push(&self, item: Outgoing) -> Result<(), Outgoing> {
        match self.enqueue(item, true) {
            Enqueue::Queued => Ok(()),
            Enqueue::Closed(item) | Enqueue::Full(item) => Err(item),
        }
    }

    /// Queue `item` even when full (rare races of the `Sink` half, and its close).
    pub(crate) fn push_over_bound(&self, item: Outgoing) -> Result<(), Outgoing> {
        match self.enqueue(item, false) {
            Enqueue::Queued => Ok(()),
            Enqueue::Closed(item) | Enqueue::Full(item) => Err(item),
        }
    }

    fn enqueue(&self, item: Outgoing, bounded: bool) -> Enqueue {
        let mut state = self.lock();
        if state.closed {
            return Enqueue::Closed(item);
        }
        if bounded && state.queue.len() >= self.capacity {
            return Enqueue::Full(item);
        }
        state.queue.push_back(item);
        self.len.store(state.queue.len(), Ordering::Release);
        drop(state);
        self.writer.wake();
        Enqueue::Queued
    }

    /// Offer a hub message; never waits.
    pub(crate) fn offer(&self, frame: Frame, policy: SlowConsumer) -> Admission {
        let mut state = self.lock();
        if state.closed || state.close_now.is_some() {
            return Admission::Gone;
        }
        let mut admission = Admission::Queued;
        let reserved = state.waiting;
        if state.queue.len() + reserved >= self.capacity {
            match policy {
                // Room is promised to a waiting handler send.
                SlowConsumer::DropNewest | SlowConsumer::DropOldest if reserved > 0 => {
                    return Admission::Dropped;
                }
                SlowConsumer::DropNewest => return Admission::Dropped,
                SlowConsumer::DropOldest => {
                    let oldest = state
                        .queue
                        .iter()
                        .position(|item| matches!(item, Outgoing::Frame { from_hub: true, .. }));
                    match oldest {
                        Some(index) => {
                            state.queue.remove(index);
                            admission = Admission::DisplacedOldest;
                        }
                        None => return Admission::Dropped,
                    }
                }
                SlowConsumer::Close => {
                    state.close_now = Some((CloseCode::TRY_AGAIN_LATER, "slow consumer".into()));
                    state.queue.clear();
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
        state.queue.push_back(Outgoing::Frame {
            frame,
            from_hub: true,
        });
        self.len.store(state.queue.len(), Ordering::Release);
        drop(state);
        self.writer.wake();
        admission
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
    /// ahead of the queue, if the slow-consumer policy asked for one.
    pub(crate) fn drain(
        &self,
        batch: &mut VecDeque<Outgoing>,
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
        drop(state);
        if n > 0 {
            self.space.notify_waiters();
        }
        None
    }

    /// Accept nothing more; waiting senders fail.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.space.notify_waiters();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Frame {
        Frame::encode(&crate::Message::text(s))
    }

    fn queued(outbox: &Outbox) -> Vec<String> {
        let mut batch = VecDeque::new();
        outbox.drain(&mut batch, usize::MAX);
        batch
            .into_iter()
            .map(|item| match item {
                Outgoing::Frame { frame, .. } => {
                    String::from_utf8(frame.payload().to_vec()).unwrap()
                }
                Outgoing::Close(code, _) => format!("close {code}"),
            })
            .collect()
    }

    #[tokio::test]
    async fn policies_apply_to_hub_messages_only() {
        let outbox = Outbox::new(2);
        let mine = Outgoing::Frame {
            frame: text("mine"),
            from_hub: false,
        };
        outbox.push(mine).await.ok().unwrap();
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
            Admission::DisplacedOldest
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
        let outbox = std::sync::Arc::new(Outbox::new(2));
        outbox.offer(text("a"), SlowConsumer::DropNewest);
        outbox.offer(text("b"), SlowConsumer::DropNewest);
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let item = Outgoing::Frame {
                    frame: text("mine"),
                    from_hub: false,
                };
                outbox.push(item).await.is_ok()
            })
        };
        tokio::task::yield_now().await;
        // The driver frees room; a hub offer right after must not take it.
        let mut batch = VecDeque::new();
        outbox.drain(&mut batch, 1);
        assert_eq!(
            outbox.offer(text("hub"), SlowConsumer::DropOldest),
            Admission::Dropped
        );
        assert!(waiting.await.unwrap(), "the handler send got in");
        assert!(queued(&outbox).contains(&"mine".to_string()));
    }

    #[tokio::test]
    async fn handler_sends_wait_for_room() {
        let outbox = std::sync::Arc::new(Outbox::new(1));
        outbox
            .push(Outgoing::Close(CloseCode::NORMAL, String::new()))
            .await
            .ok()
            .unwrap();
        let waiting = {
            let outbox = outbox.clone();
            tokio::spawn(async move {
                let item = Outgoing::Frame {
                    frame: text("later"),
                    from_hub: false,
                };
                outbox.push(item).await.is_ok()
            })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        assert_eq!(queued(&outbox), ["close 1000"]);
        assert!(waiting.await.unwrap());
        assert_eq!(queued(&outbox), ["later"]);
    }
}
