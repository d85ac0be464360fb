//! Wakes that a connection's driver gives itself while it runs, absorbed.
//!
//! In an echo, the driver delivers a message to the inline handler (its waker rings),
//! and the handler queues the answer (the driver's waker rings again): each of these
//! wakes a task that is running. The runtime cannot tell, so after the turn it queues
//! the task once more and polls it for nothing. [`Absorbing`] polls the driver with a
//! waker of its own, which while the driver runs only notes the wake: the driver is
//! polled again at once, and the runtime hears only of wakes that come from outside
//! (the socket, another connection, a timer).
//!
//! A future inside the driver that yields by waking itself and returning `Pending`
//! (the `futures` way; tokio's `yield_now` defers its wake until the task's poll has
//! ended) is polled again up to `MAX_ROUNDS` times before the task yields.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The driver is being polled.
const POLLING: u8 = 1;
/// It was woken since its poll began.
const WOKEN: u8 = 2;

/// Polls in a row within one poll of the task: then the task yields, as if woken from
/// outside, so that a driver that keeps waking itself still lets others run.
const MAX_ROUNDS: usize = 8;

/// What the driver's wakers share: whether it is being polled, whether it was woken
/// meanwhile, and the runtime's waker of its task.
pub(crate) struct Waking {
    state: AtomicU8,
    task: AtomicWaker,
}

impl Waking {
    pub(crate) fn new() -> Arc<Waking> {
        Arc::new(Waking {
            state: AtomicU8::new(0),
            task: AtomicWaker::new(),
        })
    }

    /// Wake the driver: noted if it is being polled, else its task is woken.
    pub(crate) fn notify(&self) {
        if self.state.fetch_or(WOKEN, Ordering::AcqRel) & POLLING == 0 {
            self.task.wake();
        }
    }

    /// The driver is about to poll every source it waits on: a wake noted before now
    /// needs no pass of its own, since a pass follows it (this one, or, if this one
    /// stops at a ready branch, the next one, which the driver's loop always runs).
    pub(crate) fn pass_begins(&self) {
        self.state.fetch_and(!WOKEN, Ordering::AcqRel);
    }

    /// The task to wake from outside (what [`Absorbing`] registers at each poll).
    #[cfg(test)]
    pub(crate) fn register(&self, waker: &Waker) {
        self.task.register(waker);
    }
}

impl Wake for Waking {
    fn wake(self: Arc<Self>) {
        self.notify();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.notify();
    }
}

/// `future`, polled again at once when it woke itself during its own poll.
pub(crate) struct Absorbing<F> {
    future: F,
    waking: Arc<Waking>,
    /// Built once: the waker the future is polled with.
    waker: Waker,
}

impl<F: Future + Unpin> Absorbing<F> {
    /// `future`, which must be woken through `waking` (directly or as a waker).
    pub(crate) fn new(waking: Arc<Waking>, future: F) -> Absorbing<F> {
        let waker = Waker::from(waking.clone());
        Absorbing {
            future,
            waking,
            waker,
        }
    }
}

impl<F: Future + Unpin> Future for Absorbing<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let state = &this.waking.state;
        this.waking.task.register(cx.waker());
        let mut inner = Context::from_waker(&this.waker);
        state.store(POLLING, Ordering::Release);
        for _ in 0..MAX_ROUNDS {
            if let Poll::Ready(output) = Pin::new(&mut this.future).poll(&mut inner) {
                state.store(0, Ordering::Release);
                // Late wakes have no task to wake: let its waker go.
                drop(this.waking.task.take());
                return Poll::Ready(output);
            }
            // Not woken: done. A wake that comes after this sees the driver idle and
            // wakes the task.
            if state
                .compare_exchange(POLLING, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return Poll::Pending;
            }
            // Woken: poll again, still marked as polling (a wake meanwhile is noted).
            state.fetch_and(!WOKEN, Ordering::AcqRel);
            // The runtime's cooperative budget is spent: its resources would only
            // answer `Pending` (and wake us) until the task yields.
            if !tokio::task::coop::has_budget_remaining() {
                break;
            }
        }
        state.store(0, Ordering::Release);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::sync::atomic::AtomicUsize;

    /// Counts the wakes the task gets from the runtime's side.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Count {
        /// A counter and the task waker that counts into it.
        fn waker() -> (Arc<Count>, Waker) {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let waker = Waker::from(count.clone());
            (count, waker)
        }

        fn wakes(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn a_wake_during_the_poll_polls_again_without_waking_the_task() {
        let (count, waker) = Count::waker();
        let mut cx = Context::from_waker(&waker);
        let mut polls = 0;
        let mut future = Absorbing::new(
            Waking::new(),
            poll_fn(|cx| {
                polls += 1;
                if polls < 3 {
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Poll::Ready(polls)
            }),
        );
        assert_eq!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(3));
        assert_eq!(count.wakes(), 0);
    }

    #[test]
    fn a_wake_answered_by_a_later_pass_polls_no_more() {
        let (count, waker) = Count::waker();
        let mut cx = Context::from_waker(&waker);
        let driver = Waking::new();
        let mut polls = 0;
        let inner = driver.clone();
        let mut future = Absorbing::new(
            driver,
            poll_fn(|cx| {
                polls += 1;
                // Woken, then a pass over every source begins: the wake is answered.
                cx.waker().wake_by_ref();
                inner.pass_begins();
                Poll::<()>::Pending
            }),
        );
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        drop(future);
        assert_eq!(polls, 1);
        assert_eq!(count.wakes(), 0);
    }

    #[test]
    fn a_wake_from_outside_wakes_the_task() {
        let (count, waker) = Count::waker();
        let mut cx = Context::from_waker(&waker);
        let mut kept = None;
        let mut future = Absorbing::new(
            Waking::new(),
            poll_fn(|cx| {
                kept = Some(cx.waker().clone());
                Poll::<()>::Pending
            }),
        );
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        drop(future);
        kept.expect("registered").wake();
        assert_eq!(count.wakes(), 1);
    }

    #[test]
    fn a_future_that_keeps_waking_itself_yields_to_the_runtime() {
        let (count, waker) = Count::waker();
        let mut cx = Context::from_waker(&waker);
        let mut polls = 0;
        let mut future = Absorbing::new(
            Waking::new(),
            poll_fn(|cx| {
                polls += 1;
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            }),
        );
        assert!(Pin::new(&mut future).poll(&mut cx).is_pending());
        drop(future);
        assert_eq!(polls, MAX_ROUNDS);
        assert_eq!(count.wakes(), 1, "woken once, to run later");
    }
}
