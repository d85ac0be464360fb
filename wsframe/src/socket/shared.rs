//! State shared between a connection's handle(s) and its driver task: the accept
//! decision, the selected subprotocol and the close details.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use http::HeaderMap;
use tokio::sync::oneshot;

use super::Outbox;
use super::inbox::Inbox;
use super::membership::Membership;
use crate::deflate::Negotiated;
use crate::metrics::Counters;
use crate::{ConnectionId, Disconnect, Error, Rejection, Result};

/// What the handler decided about the handshake.
pub(crate) enum Decision {
    Accept {
        protocol: Option<String>,
        headers: HeaderMap,
    },
    Reject(Rejection),
}

enum AcceptState {
    Pending {
        decision: oneshot::Sender<Decision>,
        ready: oneshot::Receiver<Result<()>>,
    },
    Accepted,
    Refused,
}

pub(crate) struct ConnShared {
    pub(crate) id: ConnectionId,
    pub(crate) route: Arc<str>,
    pub(crate) offered: Vec<String>,
    pub(crate) supported: Arc<[String]>,
    pub(crate) counters: Arc<Counters>,
    /// The outgoing queue, drained by the driver.
    pub(crate) outbox: Outbox,
    /// The incoming queue, filled by the driver.
    pub(crate) inbox: Inbox,
    /// Key and rooms in the hub.
    pub(crate) membership: Membership,
    /// permessage-deflate, when the client and the route agreed on it.
    pub(crate) deflate: Option<Negotiated>,
    accept: Mutex<AcceptState>,
    accepted: AtomicBool,
    protocol: OnceLock<Option<String>>,
    close: Mutex<Option<Disconnect>>,
}

impl ConnShared {
    pub(crate) fn new(
        id: ConnectionId,
        route: Arc<str>,
        (offered, supported): (Vec<String>, Arc<[String]>),
        counters: Arc<Counters>,
        (queue_capacity, queue_bytes, incoming_capacity): (usize, usize, usize),
        (decision, ready): (oneshot::Sender<Decision>, oneshot::Receiver<Result<()>>),
        deflate: Option<Negotiated>,
    ) -> ConnShared {
        ConnShared {
            id,
            route,
            offered,
            supported,
            outbox: Outbox::new(queue_capacity, queue_bytes, counters.clone()),
            counters,
            inbox: Inbox::new(incoming_capacity),
            membership: Membership::default(),
            deflate,
            accept: Mutex::new(AcceptState::Pending { decision, ready }),
            accepted: AtomicBool::new(false),
            protocol: OnceLock::new(),
            close: Mutex::new(None),
        }
    }

    /// A connection on route `/t` with small queues, for unit tests; the receiver
    /// gets its accept or reject decision.
    #[cfg(test)]
    pub(crate) fn for_test(counters: Arc<Counters>) -> (ConnShared, oneshot::Receiver<Decision>) {
        ConnShared::for_test_with(counters, None)
    }

    /// [`for_test`](Self::for_test), with permessage-deflate as `deflate` agreed.
    #[cfg(test)]
    pub(crate) fn for_test_with(
        counters: Arc<Counters>,
        deflate: Option<Negotiated>,
    ) -> (ConnShared, oneshot::Receiver<Decision>) {
        let (decision_tx, decision_rx) = oneshot::channel();
        let (_ready_tx, ready_rx) = oneshot::channel();
        let shared = ConnShared::new(
            ConnectionId::next(crate::NodeId(1)),
            Arc::from("/t"),
            (Vec::new(), Arc::from(Vec::new())),
            counters,
            (8, 4 << 20, 16),
            (decision_tx, ready_rx),
            deflate,
        );
        (shared, decision_rx)
    }

    /// Send the accept decision (synchronously); returns the receiver that reports the
    /// completed upgrade. `Ok(None)` when already accepted.
    pub(crate) fn decide_accept(
        &self,
        protocol: Option<String>,
        headers: HeaderMap,
    ) -> Result<Option<oneshot::Receiver<Result<()>>>> {
        if self.accepted.load(Ordering::Acquire) {
            return Ok(None);
        }
        let mut state = self.accept.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, AcceptState::Accepted) {
            AcceptState::Pending { decision, ready } => {
                let protocol = match protocol {
                    Some(p) if self.offered.contains(&p) => Some(p),
                    Some(p) => {
                        *state = AcceptState::Pending { decision, ready };
                        return Err(Error::Accept(format!(
                            "the client did not offer subprotocol `{p}` (offered: {:?})",
                            self.offered
                        )));
                    }
                    None => self
                        .offered
                        .iter()
                        .find(|o| self.supported.iter().any(|s| s == *o))
                        .cloned(),
                };
                let _ = self.protocol.set(protocol.clone());
                self.accepted.store(true, Ordering::Release);
                if decision
                    .send(Decision::Accept { protocol, headers })
                    .is_err()
                {
                    *state = AcceptState::Refused;
                    return Err(Error::Disconnected(self.disconnect()));
                }
                Ok(Some(ready))
            }
            AcceptState::Accepted => Ok(None),
            AcceptState::Refused => {
                *state = AcceptState::Refused;
                Err(Error::Disconnected(self.disconnect()))
            }
        }
    }

    /// Refuse the handshake; `false` when the decision was already made.
    pub(crate) fn decide_reject(&self, rejection: Rejection) -> bool {
        let mut state = self.accept.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *state, AcceptState::Refused) {
            AcceptState::Pending { decision, .. } => {
                self.set_disconnect(Disconnect {
                    code: None,
                    reason: format!("handshake refused with {}", rejection.status()),
                });
                // Refused: a later `join`/`set_key` answers false, as after a close.
                self.membership.take();
                let _ = decision.send(Decision::Reject(rejection));
                true
            }
            other => {
                *state = other;
                false
            }
        }
    }

    /// Whether the connection was accepted (it may have closed since).
    pub(crate) fn is_accepted(&self) -> bool {
        self.accepted.load(Ordering::Acquire)
    }

    /// Accept with the defaults unless already decided: what the first send or
    /// receive does. Every message asks, so an accepted connection is answered without
    /// building (and dropping) a header map.
    pub(crate) fn implicit_accept(&self) -> Result<()> {
        if self.is_accepted() {
            return Ok(());
        }
        self.decide_accept(None, HeaderMap::new()).map(|_| ())
    }

    pub(crate) fn is_pending(&self) -> bool {
        !self.accepted.load(Ordering::Acquire)
            && matches!(
                *self.accept.lock().unwrap_or_else(|e| e.into_inner()),
                AcceptState::Pending { .. }
            )
    }

    pub(crate) fn protocol(&self) -> Option<&str> {
        self.protocol.get().and_then(|p| p.as_deref())
    }

    /// Record why the connection ended (first writer wins).
    pub(crate) fn set_disconnect(&self, disconnect: Disconnect) {
        let mut close = self.close.lock().unwrap_or_else(|e| e.into_inner());
        if close.is_none() {
            *close = Some(disconnect);
        }
    }

    pub(crate) fn disconnect(&self) -> Disconnect {
        self.close
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default()
    }
}
