//! Poll a future only after it asked to be woken.
//!
//! `select!` polls every enabled branch each time its task wakes, and some futures cost
//! a lock or a waker registration per poll even when nothing happened to them (a
//! cancellation future, a `JoinHandle`, a timer). A connection's driver wakes for every
//! message, so it keeps such branches behind a gate: the future is polled with the
//! gate's own waker, and polled again only once that waker fired. On other wake-ups
//! the branch costs a waker registration and an atomic swap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

pub(crate) struct Gate {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Gate {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl Gate {
    /// A gate that is open for the first poll.
    pub(crate) fn new() -> Arc<Gate> {
        Arc::new(Gate {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        })
    }

    /// Run `poll` (which polls the gated future with the context it is given) if the
    /// future was woken since its last poll; else `Pending`, the task registered.
    pub(crate) fn poll<T>(
        self: &Arc<Self>,
        cx: &mut Context<'_>,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        self.task.register(cx.waker());
        if !self.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        let waker = Waker::from(self.clone());
        poll(&mut Context::from_waker(&waker))
    }

    /// Poll the gated future at its next turn too (it was reset, or stays ready).
    pub(crate) fn reopen(&self) {
        self.woken.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[tokio::test]
    async fn the_future_is_polled_again_only_after_its_wake() {
        let gate = Gate::new();
        let (tx, mut rx) = tokio::sync::oneshot::channel::<u8>();
        let mut polls = 0;
        let mut cx = Context::from_waker(Waker::noop());
        let mut poll = |cx: &mut Context<'_>, polls: &mut u32| {
            gate.poll(cx, |inner| {
                *polls += 1;
                std::pin::Pin::new(&mut rx).poll(inner)
            })
        };
        assert!(poll(&mut cx, &mut polls).is_pending());
        assert!(poll(&mut cx, &mut polls).is_pending());
        assert_eq!(polls, 1, "not woken: not polled");
        tx.send(7).unwrap();
        assert_eq!(poll(&mut cx, &mut polls), Poll::Ready(Ok(7)));
        assert_eq!(polls, 2);
    }
}
