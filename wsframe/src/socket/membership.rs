//! What the hub knows about one connection: its user key and the rooms it joined, so
//! that any end of the connection (close, error, panic, reset) removes it everywhere.
//!
//! Lock order: a connection's membership lock is taken before the hub's maps (rooms,
//! a room's members, keys) and held while they are updated, so that a join, leave or
//! key change and the connection's own clean-up never interleave.

use std::sync::{Mutex, MutexGuard};

use crate::hub::Key;

#[derive(Default)]
pub(crate) struct Membership {
    state: Mutex<MembershipState>,
}

#[derive(Default)]
pub(crate) struct MembershipState {
    pub(crate) key: Option<Key>,
    /// Rooms joined; before `registered`, the ones to join at accept.
    pub(crate) rooms: Vec<String>,
    /// The hub has registered the (accepted) connection: the key and rooms above are in
    /// the hub's maps. Before, they are only remembered here.
    pub(crate) registered: bool,
    /// The connection has left the hub: it joins nothing more.
    pub(crate) closed: bool,
}

impl Membership {
    pub(crate) fn lock(&self) -> MutexGuard<'_, MembershipState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Close and return the key and rooms to clean up.
    pub(crate) fn take(&self) -> (Option<Key>, Vec<String>) {
        let mut state = self.lock();
        state.closed = true;
        (state.key.take(), std::mem::take(&mut state.rooms))
    }
}
