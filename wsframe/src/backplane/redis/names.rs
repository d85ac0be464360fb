//! The names of the channels and keys in Redis.

use crate::NodeId;
use crate::backplane::{Interest, Target};

#[derive(Clone)]
pub(super) struct Keys {
    pub(super) prefix: String,
    pub(super) node: NodeId,
}

impl Keys {
    pub(super) fn all_channel(&self) -> String {
        format!("{}:all", self.prefix)
    }

    pub(super) fn node_channel(&self, node: NodeId) -> String {
        format!("{}:{{n:{node}}}", self.prefix)
    }

    pub(super) fn room_channel(&self, room: &str) -> String {
        format!("{}:{{r:{room}}}", self.prefix)
    }

    pub(super) fn key_channel(&self, key: &str) -> String {
        format!("{}:{{k:{key}}}", self.prefix)
    }

    /// Where a publication for `target` goes.
    pub(super) fn target_channel(&self, target: &Target) -> String {
        match target {
            Target::All { .. } => self.all_channel(),
            Target::Room { name, .. } => self.room_channel(name),
            Target::Connection(id) => self.node_channel(id.node()),
            Target::Key(key) => self.key_channel(key),
            Target::Presence { room, .. } => self.room_channel(room),
        }
    }

    pub(super) fn interest_channel(&self, interest: &Interest) -> String {
        match interest {
            Interest::Room(room) => self.room_channel(room),
            Interest::Key(key) => self.key_channel(key),
            // Presence travels on the room's channel (its own interest).
            Interest::Presence(room) => self.room_channel(room),
        }
    }

    pub(super) fn node_key(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    /// A room's members: in the slot of the room's channel (the same hash tag), so
    /// that a membership and its presence event go to one node of a cluster, in order.
    pub(super) fn room_key(&self, room: &str) -> String {
        format!("{}:{{r:{room}}}:members", self.prefix)
    }
}
