//! Poll a future only after it asked to be woken.
//!
//! `select!` polls every enabled branch each time its task wakes, and some futures cost
//! a lock or a waker registration per poll even when nothing happened to them (a
//! cancellation future, a `JoinHandle`, a timer, the socket's readiness). A connection's
//! driver wakes for every message, so it keeps such branches behind gates: each gated
//! future is polled with its gate's own waker (a [`Bell`]), and polled again only once
//! that waker rang.
//!
//! A bell wakes the driver through its [`Waking`], which wakes the task only when the
//! driver is not already running: nothing is registered per turn, and a closed gate
//! costs a bit test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::self_wake::Waking;

/// The driver's gated branches.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Bell {
    /// The handler's end.
    Handler,
    /// Shutdown and termination.
    Lifecycle,
    /// The socket's read side.
    Read,
    /// The keep-alive and close timer.
    Timer,
}

const BELLS: usize = 4;

impl Bell {
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// What the bells and the driver share: the driver to wake, and which bells rang.
struct Shared {
    driver: Arc<Waking>,
    rang: AtomicU8,
}

/// One bell's waker.
struct Ringer {
    shared: Arc<Shared>,
    bit: u8,
}

impl Wake for Ringer {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.shared.rang.fetch_or(self.bit, Ordering::AcqRel);
        self.shared.driver.notify();
    }
}

/// A driver's gates.
pub(crate) struct Gates {
    shared: Arc<Shared>,
    /// Built once: a gated poll clones nothing. Boxed: the driver's future, which
    /// holds the gates, is memory per idle connection.
    bells: Box<[Waker; BELLS]>,
}

impl Gates {
    /// Gates that are all open for their first poll, ringing `driver`.
    pub(crate) fn new(driver: Arc<Waking>) -> Gates {
        let shared = Arc::new(Shared {
            driver,
            rang: AtomicU8::new(u8::MAX),
        });
        let bell = |bell: Bell| {
            Waker::from(Arc::new(Ringer {
                shared: shared.clone(),
                bit: bell.bit(),
            }))
        };
        let bells = Box::new([
            bell(Bell::Handler),
            bell(Bell::Lifecycle),
            bell(Bell::Read),
            bell(Bell::Timer),
        ]);
        Gates { shared, bells }
    }

    /// A pass over every branch of the driver begins (the first branch of its biased
    /// `select!`): the wakes before it are answered by it. Always `Pending`.
    pub(crate) fn pass(&self) -> Poll<()> {
        self.shared.driver.pass_begins();
        Poll::Pending
    }

    /// Run `poll` (which polls the gated future with the context it is given) if the
    /// future's bell rang since its last poll; else `Pending`.
    pub(crate) fn poll<T>(
        &self,
        bell: Bell,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let bit = bell.bit();
        if self.shared.rang.load(Ordering::Acquire) & bit == 0 {
            return Poll::Pending;
        }
        self.shared.rang.fetch_and(!bit, Ordering::AcqRel);
        poll(&mut Context::from_waker(&self.bells[bell as usize]))
    }

    /// Poll the gated future at its next turn too (it was reset, or stays ready).
    pub(crate) fn reopen(&self, bell: Bell) {
        self.shared.rang.fetch_or(bell.bit(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[tokio::test]
    async fn the_future_is_polled_again_only_after_its_wake() {
        let gates = Gates::new(Waking::new());
        let (tx, mut rx) = tokio::sync::oneshot::channel::<u8>();
        let (other_tx, mut other_rx) = tokio::sync::oneshot::channel::<u8>();
        let mut polls = 0;
        let mut poll = |polls: &mut u32| {
            assert!(gates.pass().is_pending());
            let _ = gates.poll(Bell::Timer, |inner| {
                std::pin::Pin::new(&mut other_rx).poll(inner)
            });
            gates.poll(Bell::Read, |inner| {
                *polls += 1;
                std::pin::Pin::new(&mut rx).poll(inner)
            })
        };
        assert!(poll(&mut polls).is_pending());
        assert!(poll(&mut polls).is_pending());
        assert_eq!(polls, 1, "not woken: not polled");
        other_tx.send(1).unwrap();
        assert!(poll(&mut polls).is_pending());
        assert_eq!(polls, 1, "another bell rang: not polled");
        tx.send(7).unwrap();
        assert_eq!(poll(&mut polls), Poll::Ready(Ok(7)));
        assert_eq!(polls, 2);
    }

    #[test]
    fn a_bell_wakes_the_registered_task() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let driver = Waking::new();
        driver.register(&waker);
        let gates = Gates::new(driver);
        gates.bells[Bell::Handler as usize].wake_by_ref();
        assert!(flag.0.load(Ordering::SeqCst));
    }
}
