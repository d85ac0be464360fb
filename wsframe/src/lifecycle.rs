//! Server lifecycle shared by every connection: "shutting down" (send 1001 and
//! finish), "terminated" (the grace period is over; drop everything now), and the
//! tracker of every connection task, so that shutdown can wait for them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tokio_util::task::TaskTracker;

#[derive(Clone, Debug, Default)]
pub(crate) struct Lifecycle {
    shutdown: CancellationToken,
    terminate: CancellationToken,
    tasks: TaskTracker,
}

impl Lifecycle {
    pub(crate) fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    pub(crate) fn terminate(&self) {
        self.shutdown.cancel();
        self.terminate.cancel();
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_cancelled()
    }

    pub(crate) async fn shutting_down(&self) {
        self.shutdown.cancelled().await
    }

    pub(crate) async fn terminated(&self) {
        self.terminate.cancelled().await
    }

    /// The lifecycle as one connection's driver watches it (see [`Watch`]).
    pub(crate) fn watch(&self) -> Watch {
        Watch {
            shutdown: Some(Box::pin(self.shutdown.clone().cancelled_owned())),
            terminate: Box::pin(self.terminate.clone().cancelled_owned()),
        }
    }

    /// Spawn a connection task that shutdown waits for.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.spawn(task);
    }

    /// Wait for every connection task (after accepting has stopped).
    pub(crate) async fn wait(&self) {
        self.tasks.close();
        self.tasks.wait().await
    }
}

/// A lifecycle event, as a connection's driver sees it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    ShuttingDown,
    Terminated,
}

/// Shutdown and termination as one event source for a driver's `select!`. The driver
/// keeps it behind a gate ([`Bell::Lifecycle`](crate::connection::gate::Bell)): polling
/// a cancellation future takes a lock, and a profile of the echo benchmark put the two
/// of them at 12% of the server's instructions.
pub(crate) struct Watch {
    shutdown: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    terminate: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl Watch {
    /// Ready with the next event: `ShuttingDown` once, then `Terminated` (which may also
    /// come first).
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        if self.terminate.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Terminated);
        }
        match self.shutdown.as_mut().map(|s| s.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => {
                self.shutdown = None;
                Poll::Ready(Event::ShuttingDown)
            }
            _ => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;
    use std::task::Waker;

    #[tokio::test]
    async fn a_watch_sees_shutdown_once_then_termination() {
        let lifecycle = Lifecycle::default();
        let mut watch = lifecycle.watch();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(watch.poll_event(&mut cx).is_pending());

        let waiter = tokio::spawn(async move {
            let first = poll_fn(|cx| watch.poll_event(cx)).await;
            let second = poll_fn(|cx| watch.poll_event(cx)).await;
            (first, second)
        });
        lifecycle.begin_shutdown();
        tokio::task::yield_now().await;
        lifecycle.terminate();
        let (first, second) = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the watch wakes its task")
            .unwrap();
        assert_eq!((first, second), (Event::ShuttingDown, Event::Terminated));
    }

    #[tokio::test]
    async fn termination_alone_is_seen() {
        let lifecycle = Lifecycle::default();
        let mut watch = lifecycle.watch();
        lifecycle.terminate();
        let event = poll_fn(|cx| watch.poll_event(cx)).await;
        assert_eq!(event, Event::Terminated);
        assert_eq!(
            poll_fn(|cx| watch.poll_event(cx)).await,
            Event::Terminated,
            "it stays ready"
        );
    }
}
