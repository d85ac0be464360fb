//! A connection's incoming queue: data messages the driver read, waiting for the handler.
//!
//! Bounded, so that a handler that does not keep up stops the driver from reading (TCP
//! then pushes back on the peer). It lives inside the connection's shared state and
//! allocates nothing until a message arrives: an idle connection costs it a few words.
//! One writer (the driver) and one reader (the [`Receiver`](super::Receiver)).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use crate::Message;

/// Capacity kept after the queue empties: a burst's larger buffer is given back.
const KEEP: usize = 4;

struct State {
    queue: VecDeque<Message>,
    /// The driver delivers nothing more (peer closed, connection over).
    done: bool,
    /// The reader is gone: whatever arrives has nobody to go to.
    unread: bool,
    /// The reader was told the end (after everything queued before it).
    end_seen: bool,
    reader: Option<Waker>,
    driver: Option<Waker>,
}

pub(crate) struct Inbox {
    state: Mutex<State>,
    capacity: usize,
    /// [`can_deliver`](Inbox::can_deliver) as of the last change, read by the driver
    /// without the lock at every turn.
    room: AtomicBool,
}

impl Inbox {
    pub(crate) fn new(capacity: usize) -> Inbox {
        Inbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                done: false,
                unread: false,
                end_seen: false,
                reader: None,
                driver: None,
            }),
            capacity: capacity.max(1),
            room: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the driver may read a frame now: there is room, or a message would be
    /// dropped anyway (nobody reads, or delivery is over) while control frames still
    /// need handling.
    pub(crate) fn can_deliver(&self) -> bool {
        self.room.load(Ordering::Acquire)
    }

    /// Whether there is room, as `state` stands; kept in `room` for the driver.
    fn update_room(&self, state: &State) -> bool {
        let room = state.unread || state.done || state.queue.len() < self.capacity;
        self.room.store(room, Ordering::Release);
        room
    }

    /// Ready once [`can_deliver`](Self::can_deliver) holds.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if self.update_room(&state) {
            return Poll::Ready(());
        }
        store(&mut state.driver, cx.waker());
        Poll::Pending
    }

    /// Hand a message to the reader (dropped when nobody reads or delivery is over).
    pub(crate) fn deliver(&self, message: Message) {
        let mut state = self.lock();
        if state.unread || state.done {
            return;
        }
        state.queue.push_back(message);
        self.update_room(&state);
        let reader = state.reader.take();
        drop(state);
        if let Some(waker) = reader {
            waker.wake();
        }
    }

    /// Deliver nothing more: the reader gets what is queued, then the end.
    pub(crate) fn finish(&self) {
        let mut state = self.lock();
        state.done = true;
        self.update_room(&state);
        let reader = state.reader.take();
        drop(state);
        if let Some(waker) = reader {
            waker.wake();
        }
    }

    /// Whether delivery is over (the reader may still have queued messages).
    pub(crate) fn is_finished(&self) -> bool {
        self.lock().done
    }

    /// The next message; `None` once delivery is over and the queue is empty.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let mut state = self.lock();
        if let Some(message) = state.queue.pop_front() {
            let was_full = state.queue.len() + 1 == self.capacity;
            self.update_room(&state);
            if state.queue.is_empty() && state.queue.capacity() > KEEP {
                state.queue.shrink_to(KEEP);
            }
            let driver = if was_full { state.driver.take() } else { None };
            drop(state);
            if let Some(waker) = driver {
                waker.wake();
            }
            return Poll::Ready(Some(message));
        }
        if state.done {
            if !state.end_seen {
                state.end_seen = true;
                let driver = state.driver.take();
                drop(state);
                if let Some(waker) = driver {
                    waker.wake();
                }
            }
            return Poll::Ready(None);
        }
        store(&mut state.reader, cx.waker());
        Poll::Pending
    }

    /// Ready once the reader has taken everything delivered and was told the end (or is
    /// gone): whatever it did about those messages, it did before asking for more.
    pub(crate) fn poll_read_out(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.unread || (state.done && state.end_seen) {
            return Poll::Ready(());
        }
        store(&mut state.driver, cx.waker());
        Poll::Pending
    }

    /// The reader is gone: drop what is queued and let the driver read on.
    pub(crate) fn close_reader(&self) {
        let mut state = self.lock();
        state.unread = true;
        state.queue = VecDeque::new();
        self.update_room(&state);
        let driver = state.driver.take();
        drop(state);
        if let Some(waker) = driver {
            waker.wake();
        }
    }
}

fn store(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(stored) if stored.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn bounded_in_order_then_ends_after_the_queue() {
        let inbox = Inbox::new(2);
        assert!(inbox.can_deliver());
        inbox.deliver(Message::text("a"));
        inbox.deliver(Message::text("b"));
        assert!(!inbox.can_deliver());
        assert!(inbox.poll_room(&mut cx()).is_pending());
        inbox.finish();
        assert!(
            inbox.can_deliver(),
            "after finish nothing is delivered, so reading goes on"
        );
        let got: Vec<_> = std::iter::from_fn(|| match inbox.poll_recv(&mut cx()) {
            Poll::Ready(Some(m)) => Some(m.as_text().unwrap().to_owned()),
            _ => None,
        })
        .collect();
        assert_eq!(got, ["a", "b"]);
        assert_eq!(inbox.poll_recv(&mut cx()), Poll::Ready(None));
    }

    #[test]
    fn a_gone_reader_frees_the_queue_and_the_driver() {
        let inbox = Inbox::new(1);
        inbox.deliver(Message::text("a"));
        assert!(!inbox.can_deliver());
        inbox.close_reader();
        assert!(inbox.poll_room(&mut cx()).is_ready());
        inbox.deliver(Message::text("dropped"));
        assert!(inbox.lock().queue.is_empty());
    }

    #[test]
    fn read_out_once_the_reader_saw_the_end_after_the_queue() {
        let inbox = Inbox::new(4);
        inbox.deliver(Message::text("a"));
        inbox.finish();
        assert!(
            inbox.poll_read_out(&mut cx()).is_pending(),
            "nothing read yet"
        );
        assert!(inbox.poll_recv(&mut cx()).is_ready());
        assert!(
            inbox.poll_read_out(&mut cx()).is_pending(),
            "the end not seen yet"
        );
        assert_eq!(inbox.poll_recv(&mut cx()), Poll::Ready(None));
        assert!(inbox.poll_read_out(&mut cx()).is_ready());

        let gone = Inbox::new(4);
        gone.deliver(Message::text("a"));
        gone.close_reader();
        assert!(gone.poll_read_out(&mut cx()).is_ready());
    }

    #[test]
    fn a_burst_gives_its_buffer_back() {
        let inbox = Inbox::new(64);
        for n in 0..64 {
            inbox.deliver(Message::text(n.to_string()));
        }
        while let Poll::Ready(Some(_)) = inbox.poll_recv(&mut cx()) {}
        assert!(inbox.lock().queue.capacity() <= KEEP);
    }
}
