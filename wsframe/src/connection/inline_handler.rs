//! The handler's future, run inline: polled by the task that drives its connection
//! (by the HTTP task until the handler accepts or refuses, by the connection's driver
//! after), not spawned as a task of its own. An echo then costs one task wake-up, not
//! two, and the messages between the driver and the handler never cross threads.
//!
//! A panic in the handler is caught where it is polled and becomes the handler's
//! outcome, as a panicking task's `JoinError` was.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::Result;

/// A handler's future, boxed.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// How a handler's future ended: what it returned, or the payload of its panic.
pub(crate) type Outcome = std::result::Result<Result<()>, Box<dyn Any + Send>>;

/// A handler's future and, once it ended, its outcome until someone takes it.
pub(crate) enum InlineHandler {
    Running(HandlerFuture),
    /// It ended while polled aside; [`poll_end`](Self::poll_end) hands the outcome over.
    Ended(Outcome),
    /// Its outcome was taken (or it was handed to a task of its own).
    Gone,
}

impl InlineHandler {
    pub(crate) fn new(future: HandlerFuture) -> InlineHandler {
        InlineHandler::Running(future)
    }

    /// Poll the handler; `Ready` with its outcome once, when it ended. `Pending` ever
    /// after.
    pub(crate) fn poll_end(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let InlineHandler::Running(_) = self {
            self.poll_aside(cx);
        }
        match std::mem::replace(self, InlineHandler::Gone) {
            InlineHandler::Ended(outcome) => Poll::Ready(outcome),
            other => {
                *self = other;
                Poll::Pending
            }
        }
    }

    /// Poll the handler while the caller waits for something else (a write the socket
    /// cannot take at once): if it ends, its outcome waits for [`poll_end`](Self::poll_end).
    pub(crate) fn poll_aside(&mut self, cx: &mut Context<'_>) {
        let InlineHandler::Running(future) = self else {
            return;
        };
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => {}
            Ok(Poll::Ready(result)) => *self = InlineHandler::Ended(Ok(result)),
            Err(panic) => *self = InlineHandler::Ended(Err(panic)),
        }
    }

    /// Whether the handler's future is still to be polled.
    pub(crate) fn is_running(&self) -> bool {
        matches!(self, InlineHandler::Running(_))
    }

    /// The future, if still running, to be run elsewhere (a refused handshake's handler
    /// may go on, in a task of its own).
    pub(crate) fn into_future(self) -> Option<HandlerFuture> {
        match self {
            InlineHandler::Running(future) => Some(future),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::poll_fn;

    #[tokio::test]
    async fn a_returning_handler_ends_once_with_its_result() {
        let mut handler = InlineHandler::new(Box::pin(async { Ok(()) }));
        assert!(handler.is_running());
        let outcome = poll_fn(|cx| handler.poll_end(cx)).await;
        assert!(matches!(outcome, Ok(Ok(()))));
        assert!(!handler.is_running());
        let again = poll_fn(|cx| Poll::Ready(handler.poll_end(cx))).await;
        assert!(again.is_pending(), "the outcome is handed over once");
    }

    #[tokio::test]
    async fn a_panic_is_caught_and_becomes_the_outcome() {
        let mut handler = InlineHandler::new(Box::pin(async {
            tokio::task::yield_now().await;
            panic!("boom");
        }));
        let outcome = poll_fn(|cx| handler.poll_end(cx)).await;
        let payload = outcome.expect_err("a panic");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }

    #[tokio::test]
    async fn an_end_met_aside_waits_for_poll_end() {
        let mut handler = InlineHandler::new(Box::pin(async { Err(crate::Error::custom("no")) }));
        poll_fn(|cx| {
            handler.poll_aside(cx);
            Poll::Ready(())
        })
        .await;
        assert!(!handler.is_running());
        let outcome = poll_fn(|cx| handler.poll_end(cx)).await;
        assert!(matches!(outcome, Ok(Err(_))));
    }
}
