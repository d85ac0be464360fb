//! This node's publication numbers.

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::MAX_NUMBERED;
use super::writer::Command;
use crate::backplane::{Envelope, Target};
use crate::{ConnectionId, Message, NodeId};

/// This node's publication numbers: per channel, in an epoch.
pub(super) struct Numbering {
    pub(super) epoch: u64,
    pub(super) last: HashMap<String, u64>,
    pub(super) queue: mpsc::UnboundedSender<Command>,
}

impl Numbering {
    /// Number `envelope` for `channel`.
    pub(super) fn number(&mut self, channel: &str, envelope: &mut Envelope) {
        let seq = match self.last.get_mut(channel) {
            Some(seq) => seq,
            None => {
                if self.last.len() >= MAX_NUMBERED {
                    // Receivers start afresh at a new epoch: no gap is counted.
                    self.epoch = new_epoch();
                    self.last.clear();
                }
                self.last.entry(channel.to_owned()).or_insert(0)
            }
        };
        *seq += 1;
        envelope.epoch = self.epoch;
        envelope.seq = *seq;
    }

    /// A presence event of `origin`'s connection `id` in `room`, numbered for `channel`
    /// (the room's).
    pub(super) fn presence(
        &mut self,
        origin: NodeId,
        channel: &str,
        room: &str,
        joined: bool,
        id: ConnectionId,
        key: Option<String>,
    ) -> Envelope {
        let mut envelope = Envelope {
            origin,
            epoch: 0,
            seq: 0,
            target: Target::Presence {
                room: room.to_owned(),
                joined,
                id,
                key,
            },
            message: Message::binary(Vec::new()),
        };
        self.number(channel, &mut envelope);
        envelope
    }
}

/// A random epoch (never 0): `RandomState` is seeded from the OS once per thread and
/// differs at every call.
pub(super) fn new_epoch() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(now);
    hasher.finish() | 1
}
