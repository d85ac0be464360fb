//! What one node publishes to the others, and its wire form.
//!
//! The wire form is small and versioned: a version byte, the origin node, its epoch and
//! the publication's number, the target, then the message (kind byte and payload).
//! Numbers are big-endian; strings are length-prefixed UTF-8.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{ConnectionId, Message, NodeId, Utf8Bytes};

/// 2: the epoch (version 1 had none, and numbered per origin rather than per channel).
const VERSION: u8 = 2;

/// Who a published message is for.
///
/// A backplane can route on it, for example to give each room a channel of its own:
///
/// ```
/// use wsframe::backplane::Target;
/// use wsframe::{ConnectionId, NodeId};
///
/// fn channel(target: &Target) -> String {
///     match target {
///         Target::All { .. } => "all".into(),
///         Target::Room { name, .. } => format!("room:{name}"),
///         // A connection lives on the node its id names.
///         Target::Connection(id) => format!("node:{}", id.node()),
///         Target::Key(key) => format!("user:{key}"),
///         // Presence travels with the room's messages.
///         Target::Presence { room, .. } => format!("room:{room}"),
///     }
/// }
///
/// let lobby = Target::Room { name: "lobby".into(), except: None };
/// assert_eq!(channel(&lobby), "room:lobby");
/// let one = Target::Connection(ConnectionId::next(NodeId(7)));
/// assert_eq!(channel(&one), "node:0000000000000007");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Every connection of every node, but `except`.
    All {
        /// A connection to skip (typically the sender).
        except: Option<ConnectionId>,
    },
    /// The members of a room on every node, but `except`.
    Room {
        /// The room's name.
        name: String,
        /// A member to skip (typically the sender).
        except: Option<ConnectionId>,
    },
    /// One connection (on the node its id names).
    Connection(ConnectionId),
    /// Every connection registered under a user key, on every node.
    Key(String),
    /// Not a message: a connection of the origin node joined or left `room`, for the
    /// room's presence listeners on every node (the envelope's message is empty).
    Presence {
        /// The room's name.
        room: String,
        /// Joined (`true`) or left.
        joined: bool,
        /// The connection.
        id: ConnectionId,
        /// Its user key, if it has one.
        key: Option<String>,
    },
}

/// A message one node's hub hands to the others through a
/// [`Backplane`](super::Backplane).
///
/// ```
/// use wsframe::backplane::{Envelope, Target};
/// use wsframe::{Message, NodeId};
///
/// let envelope = Envelope {
///     origin: NodeId(7),
///     epoch: 0x5eed,
///     seq: 1,
///     target: Target::Room { name: "lobby".into(), except: None },
///     message: Message::text("hello"),
/// };
/// let wire = envelope.encode();
/// assert_eq!(Envelope::decode(&wire).unwrap(), envelope);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The node that published it.
    pub origin: NodeId,
    /// The origin's incarnation: a node restarted with the same [`NodeId`] starts a new
    /// epoch (and a new numbering), so that receivers neither drop its publications as
    /// old nor count a gap.
    pub epoch: u64,
    /// The publication's number in its (origin, epoch, channel), from 1 and without
    /// gaps: a receiver that sees a gap knows how many it missed. Hubs hand envelopes
    /// over with 0; the backplane numbers them, per channel if it has several.
    pub seq: u64,
    /// Who it is for.
    pub target: Target,
    /// The message.
    pub message: Message,
}

/// Why bytes are not an [`Envelope`].
///
/// A backplane receives whatever is on its channel: it should log and skip what does
/// not decode rather than stop.
///
/// ```
/// use wsframe::backplane::{Envelope, Target};
/// use wsframe::{Message, NodeId};
///
/// let err = Envelope::decode(b"hello").unwrap_err();
/// assert_eq!(err.to_string(), "not a wsframe backplane envelope: unknown version");
///
/// let envelope = Envelope {
///     origin: NodeId(1),
///     epoch: 1,
///     seq: 1,
///     target: Target::All { except: None },
///     message: Message::text("hi"),
/// };
/// let wire = envelope.encode();
/// let err = Envelope::decode(&wire[..10]).unwrap_err();
/// assert_eq!(err.to_string(), "not a wsframe backplane envelope: truncated");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(&'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a wsframe backplane envelope: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn put_id(buf: &mut BytesMut, id: ConnectionId) {
    buf.put_u64(id.node().0);
    buf.put_u64(id.seq());
}

fn put_except(buf: &mut BytesMut, except: Option<ConnectionId>) {
    match except {
        Some(id) => {
            buf.put_u8(1);
            put_id(buf, id);
        }
        None => buf.put_u8(0),
    }
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_u32(s.len() as u32);
    buf.put_slice(s.as_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.0.remaining() < n {
            return Err(DecodeError("truncated"));
        }
        Ok(())
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }

    fn id(&mut self) -> Result<ConnectionId, DecodeError> {
        let node = NodeId(self.u64()?);
        Ok(ConnectionId::from_parts(node, self.u64()?))
    }

    fn except(&mut self) -> Result<Option<ConnectionId>, DecodeError> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.id()?)),
            _ => Err(DecodeError("bad flag")),
        }
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.need(4)?;
        let len = self.0.get_u32() as usize;
        self.need(len)?;
        let (s, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError("name is not UTF-8"))
    }
}

impl Envelope {
    /// The wire form.
    pub fn encode(&self) -> Bytes {
        let payload = self.message.as_bytes();
        let mut buf = BytesMut::with_capacity(64 + payload.len());
        buf.put_u8(VERSION);
        buf.put_u64(self.origin.0);
        buf.put_u64(self.epoch);
        buf.put_u64(self.seq);
        match &self.target {
            Target::All { except } => {
                buf.put_u8(0);
                put_except(&mut buf, *except);
            }
            Target::Room { name, except } => {
                buf.put_u8(1);
                put_str(&mut buf, name);
                put_except(&mut buf, *except);
            }
            Target::Connection(id) => {
                buf.put_u8(2);
                put_id(&mut buf, *id);
            }
            Target::Key(key) => {
                buf.put_u8(3);
                put_str(&mut buf, key);
            }
            Target::Presence {
                room,
                joined,
                id,
                key,
            } => {
                buf.put_u8(4);
                put_str(&mut buf, room);
                buf.put_u8(u8::from(*joined));
                put_id(&mut buf, *id);
                match key {
                    Some(key) => {
                        buf.put_u8(1);
                        put_str(&mut buf, key);
                    }
                    None => buf.put_u8(0),
                }
            }
        }
        buf.put_u8(match self.message {
            Message::Text(_) => 1,
            Message::Binary(_) => 2,
        });
        buf.put_slice(payload);
        buf.freeze()
    }

    /// Read the wire form back.
    pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
        let mut r = Reader(bytes);
        if r.u8()? != VERSION {
            return Err(DecodeError("unknown version"));
        }
        let origin = NodeId(r.u64()?);
        let epoch = r.u64()?;
        let seq = r.u64()?;
        let target = match r.u8()? {
            0 => Target::All {
                except: r.except()?,
            },
            1 => {
                let name = r.string()?;
                Target::Room {
                    name,
                    except: r.except()?,
                }
            }
            2 => Target::Connection(r.id()?),
            3 => Target::Key(r.string()?),
            4 => {
                let room = r.string()?;
                let joined = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(DecodeError("bad flag")),
                };
                let id = r.id()?;
                let key = match r.u8()? {
                    0 => None,
                    1 => Some(r.string()?),
                    _ => return Err(DecodeError("bad flag")),
                };
                Target::Presence {
                    room,
                    joined,
                    id,
                    key,
                }
            }
            _ => return Err(DecodeError("unknown target")),
        };
        let kind = r.u8()?;
        let payload = Bytes::copy_from_slice(r.0);
        let message = match kind {
            1 => Message::Text(
                Utf8Bytes::try_from(payload).map_err(|_| DecodeError("text is not UTF-8"))?,
            ),
            2 => Message::Binary(payload),
            _ => return Err(DecodeError("unknown message kind")),
        };
        Ok(Envelope {
            origin,
            epoch,
            seq,
            target,
            message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> ConnectionId {
        ConnectionId::from_parts(NodeId(0xabc), n)
    }

    #[test]
    fn every_target_and_kind_round_trips() {
        let targets = [
            Target::All { except: None },
            Target::All {
                except: Some(id(3)),
            },
            Target::Room {
                name: "lobby ünïcode".into(),
                except: Some(id(9)),
            },
            Target::Room {
                name: String::new(),
                except: None,
            },
            Target::Connection(id(42)),
            Target::Key("user-1".into()),
            Target::Presence {
                room: "lobby".into(),
                joined: true,
                id: id(5),
                key: Some("ada".into()),
            },
            Target::Presence {
                room: String::new(),
                joined: false,
                id: id(6),
                key: None,
            },
        ];
        for target in targets {
            for message in [
                Message::text("héllo"),
                Message::text(""),
                Message::binary(vec![0u8, 255, 1]),
            ] {
                let envelope = Envelope {
                    origin: NodeId(u64::MAX),
                    epoch: 77,
                    seq: 12345,
                    target: target.clone(),
                    message,
                };
                assert_eq!(Envelope::decode(&envelope.encode()).unwrap(), envelope);
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let good = Envelope {
            origin: NodeId(1),
            epoch: 1,
            seq: 1,
            target: Target::Room {
                name: "r".into(),
                except: None,
            },
            message: Message::text("x"),
        }
        .encode();
        for cut in 0..good.len() - 1 {
            assert!(Envelope::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = good.to_vec();
        bad[0] = 9;
        assert_eq!(Envelope::decode(&bad), Err(DecodeError("unknown version")));
        let mut bad_text = good.to_vec();
        *bad_text.last_mut().unwrap() = 0xff;
        assert!(Envelope::decode(&bad_text).is_err());
    }
}
