//! What the hub knows about one connection: its user key and the rooms it joined, so
//! that any end of the connection (close, error, panic, reset) removes it everywhere.

use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Membership {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    key: Option<String>,
    rooms: Vec<String>,
    /// The connection has left the hub: it joins nothing more.
    closed: bool,
}

impl Membership {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record a room; `false` when already a member or closed.
    pub(crate) fn join(&self, room: &str) -> bool {
        let mut state = self.lock();
        if state.closed || state.rooms.iter().any(|r| r == room) {
            return false;
        }
        state.rooms.push(room.to_string());
        true
    }

    /// Forget a room; `false` when not a member.
    pub(crate) fn leave(&self, room: &str) -> bool {
        let mut state = self.lock();
        let before = state.rooms.len();
        state.rooms.retain(|r| r != room);
        state.rooms.len() != before
    }

    /// Set the user key; returns the previous one. `None` and no change when closed.
    pub(crate) fn set_key(&self, key: String) -> Result<Option<String>, ()> {
        let mut state = self.lock();
        if state.closed {
            return Err(());
        }
        Ok(state.key.replace(key))
    }

    pub(crate) fn key(&self) -> Option<String> {
        self.lock().key.clone()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Close and return the key and rooms to clean up.
    pub(crate) fn take(&self) -> (Option<String>, Vec<String>) {
        let mut state = self.lock();
        state.closed = true;
        (state.key.take(), std::mem::take(&mut state.rooms))
    }
}
