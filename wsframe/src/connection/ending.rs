//! How a handler ended, classified once: the close code it gives the connection, how it
//! is logged, and the panic counter. Both the handshake (a handler that ends before
//! deciding) and the driver (one that ends after accepting) use it.

use std::borrow::Cow;

use tracing::{debug, error};

use super::inline_handler::Outcome;
use crate::metrics::Counters;
use crate::{CloseCode, Error};

/// A handler's end.
#[derive(Debug)]
pub(crate) enum Ending {
    /// It returned `Ok(())`.
    Returned,
    /// It returned the error that says the connection closed.
    Disconnected,
    /// It returned an error about what the peer sent, and the close code and reason
    /// that say so (see [`Error::peer_fault`]).
    PeerFault(Error, (CloseCode, String)),
    /// It returned another error.
    Failed(Error),
    /// It panicked (counted when classified).
    Panicked(String),
}

/// When the handler ended, which changes what its end means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Before it accepted or refused: the handshake is answered 500.
    BeforeDecision,
    /// After it accepted: the connection is closed with [`Ending::close`].
    Connected,
}

impl Ending {
    /// Classify a handler's outcome, counting a panic.
    pub(crate) fn of(outcome: Outcome, counters: &Counters) -> Ending {
        match outcome {
            Ok(Ok(())) => Ending::Returned,
            Ok(Err(e)) if e.is_disconnect() => Ending::Disconnected,
            Ok(Err(e)) => match e.peer_fault() {
                Some(close) => Ending::PeerFault(e, close),
                None => Ending::Failed(e),
            },
            Err(panic) => {
                Counters::inc(&counters.handler_panics);
                Ending::Panicked(panic_message(panic))
            }
        }
    }

    /// Log the end: the server's failures as errors, the peer's at debug level, a
    /// normal end not at all (but any end before a decision is an error: the handshake
    /// gets a 500).
    pub(crate) fn log(&self, stage: Stage) {
        match (self, stage) {
            (Ending::Returned | Ending::Disconnected, Stage::BeforeDecision) => {
                error!("handler returned before accepting the connection")
            }
            (Ending::PeerFault(e, _) | Ending::Failed(e), Stage::BeforeDecision) => {
                error!(error = %e, "handler failed before accepting the connection")
            }
            (Ending::Panicked(panic), Stage::BeforeDecision) => {
                error!(panic, "handler panicked before accepting the connection")
            }
            (Ending::Returned | Ending::Disconnected, Stage::Connected) => {}
            (Ending::PeerFault(e, _), Stage::Connected) => {
                debug!(error = %e, "handler ended on a message the client got wrong")
            }
            (Ending::Failed(e), Stage::Connected) => {
                error!(error = %e, "handler returned an error")
            }
            (Ending::Panicked(panic), Stage::Connected) => error!(panic, "handler panicked"),
        }
    }

    /// The close code and reason for a connected handler's end. An error about what the
    /// peer sent is the peer's (1007, 1003, with the reason); the server's own failures
    /// are 1011, their details never sent.
    pub(crate) fn close(self) -> (CloseCode, Cow<'static, str>) {
        match self {
            Ending::Returned | Ending::Disconnected => (CloseCode::NORMAL, "".into()),
            Ending::PeerFault(_, (code, reason)) => (code, reason.into()),
            Ending::Failed(_) | Ending::Panicked(_) => {
                (CloseCode::INTERNAL_ERROR, "internal error".into())
            }
        }
    }
}

/// A panic's message, when it is text.
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".into())
}
