//! A client frame's header (RFC 6455 §5.2), parsed and checked before its payload is
//! buffered.

use super::Fault;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpCode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl OpCode {
    pub(crate) fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// The RSV bits a frame may set: none unless an extension negotiated them (the next
/// one, permessage-deflate, gives RSV1 to the first frame of a compressed message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rsv(pub(crate) u8);

impl Rsv {
    pub(crate) const NONE: Rsv = Rsv(0);
    /// The bit permessage-deflate uses (RFC 7692 §6).
    pub(crate) const RSV1: Rsv = Rsv(0x40);
}

/// Who sent the frames a reader reads: a client's frames are masked, a server's never
/// are (RFC 6455 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The server reads a client (every reader of the server itself).
    Client,
    /// A client reads the server (the `TestClient`).
    Server,
}

/// A parsed, checked frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) fin: bool,
    /// The RSV bits as they stand in the first byte (0x70 mask).
    pub(crate) rsv: Rsv,
    pub(crate) opcode: OpCode,
    pub(crate) key: [u8; 4],
    pub(crate) payload_len: u64,
    /// Bytes of header on the wire (2 to 14).
    pub(crate) len: usize,
}

/// Parse the header at the start of `bytes`: `Ok(None)` until all of it has arrived.
/// Checks what the header alone can tell: RSV bits beyond `allowed`, reserved opcodes,
/// fragmented or long control frames, unmasked frames, and a length with its top bit set.
/// A client's frames must be masked, a server's must not (`peer` sent them).
pub(crate) fn parse(bytes: &[u8], allowed: Rsv, peer: Peer) -> Result<Option<Header>, Fault> {
    let [first, second, ..] = *bytes else {
        return Ok(None);
    };
    let fin = first & 0x80 != 0;
    let rsv = first & 0x70;
    let opcode = match first & 0x0F {
        0x0 => OpCode::Continuation,
        0x1 => OpCode::Text,
        0x2 => OpCode::Binary,
        0x8 => OpCode::Close,
        0x9 => OpCode::Ping,
        0xA => OpCode::Pong,
        _ => return Err(Fault::protocol("reserved opcode")),
    };
    // An extension's bits belong to a message's first frame (RFC 7692 §6): never to a
    // continuation or a control frame.
    let allowed = match opcode {
        OpCode::Text | OpCode::Binary => allowed,
        _ => Rsv::NONE,
    };
    if rsv & !allowed.0 != 0 {
        return Err(Fault::protocol(
            "reserved bits set without a negotiated extension",
        ));
    }
    let masked = second & 0x80 != 0;
    let short = second & 0x7F;
    if opcode.is_control() {
        if !fin {
            return Err(Fault::protocol("fragmented control frame"));
        }
        // A control frame's length fits the 7-bit field (at most 125 bytes); the
        // extended forms are refused even for a short payload (they are never minimal).
        if short > 125 {
            return Err(Fault::protocol(
                "control frame over 125 bytes or with an extended length",
            ));
        }
    }
    match (peer, masked) {
        (Peer::Client, false) => return Err(Fault::protocol("client frame not masked")),
        (Peer::Server, true) => return Err(Fault::protocol("server frame masked")),
        _ => {}
    }
    let (payload_len, at) = match short {
        126 => match bytes.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match bytes.get(2..10) {
            Some(b) => {
                let mut word = [0u8; 8];
                word.copy_from_slice(b);
                let len = u64::from_be_bytes(word);
                if len >> 63 != 0 {
                    return Err(Fault::protocol("frame length with its top bit set"));
                }
                (len, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let (key, len) = if masked {
        let Some(key) = bytes.get(at..at + 4) else {
            return Ok(None);
        };
        ([key[0], key[1], key[2], key[3]], at + 4)
    } else {
        ([0; 4], at)
    };
    Ok(Some(Header {
        fin,
        rsv: Rsv(rsv),
        opcode,
        key,
        payload_len,
        len,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseCode;

    fn masked(first: u8, len_bytes: &[u8]) -> Vec<u8> {
        let mut v = vec![first];
        v.extend_from_slice(len_bytes);
        v[1] |= 0x80;
        v.extend_from_slice(&[1, 2, 3, 4]);
        v
    }

    #[test]
    fn reads_the_three_length_forms_and_waits_for_the_whole_header() {
        let cases: [(&[u8], u64, usize); 3] = [
            (&[5], 5, 6),
            (&[126, 0x01, 0x00], 256, 8),
            (&[127, 0, 0, 0, 0, 0, 1, 0, 0], 65_536, 14),
        ];
        for (len_bytes, payload_len, header_len) in cases {
            let bytes = masked(0x81, len_bytes);
            for cut in 0..bytes.len() {
                assert_eq!(
                    parse(&bytes[..cut], Rsv::NONE, Peer::Client),
                    Ok(None),
                    "cut at {cut}"
                );
            }
            let header = parse(&bytes, Rsv::NONE, Peer::Client).unwrap().unwrap();
            assert_eq!(header.payload_len, payload_len);
            assert_eq!(header.len, header_len);
            assert_eq!(header.key, [1, 2, 3, 4]);
            assert_eq!(header.opcode, OpCode::Text);
            assert!(header.fin);
        }
    }

    #[test]
    fn refuses_what_the_header_alone_shows_is_wrong() {
        let protocol = |bytes: &[u8], allowed| {
            let fault = parse(bytes, allowed, Peer::Client).unwrap_err();
            assert_eq!(
                fault.code,
                CloseCode::PROTOCOL_ERROR,
                "{bytes:x?}: {}",
                fault.reason
            );
        };
        protocol(&masked(0xC1, &[0]), Rsv::NONE); // RSV1 without an extension
        protocol(&masked(0xA1, &[0]), Rsv::RSV1); // RSV2 even with deflate
        protocol(&masked(0x40, &[0]), Rsv::RSV1); // RSV1 on a continuation
        protocol(&masked(0xC9, &[0]), Rsv::RSV1); // RSV1 on a ping
        protocol(&masked(0x83, &[0]), Rsv::NONE); // reserved data opcode
        protocol(&masked(0x8B, &[0]), Rsv::NONE); // reserved control opcode
        protocol(&masked(0x09, &[0]), Rsv::NONE); // fragmented ping
        protocol(&masked(0x89, &[126, 0, 126]), Rsv::NONE); // ping of 126 bytes
        protocol(&[0x81, 0x00], Rsv::NONE); // not masked
        protocol(&masked(0x82, &[127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Rsv::NONE);
        assert!(
            parse(&masked(0xC1, &[0]), Rsv::RSV1, Peer::Client)
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_server_frame_is_read_unmasked_and_refused_masked() {
        let header = parse(&[0xC1, 0x03, b'a', b'b', b'c'], Rsv::RSV1, Peer::Server)
            .unwrap()
            .unwrap();
        assert_eq!((header.len, header.payload_len, header.key), (2, 3, [0; 4]));
        assert_eq!(header.rsv, Rsv::RSV1);
        let fault = parse(&masked(0x81, &[0]), Rsv::NONE, Peer::Server).unwrap_err();
        assert_eq!(fault.reason, "server frame masked");
    }
}
