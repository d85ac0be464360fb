//! Close codes (RFC 6455 §7.4) in the user's words.
//!
//! The framework itself sends a small, fixed set of codes; see the table on
//! [`CloseCode`]. Any other valid code may be sent by a handler.

use std::fmt;

/// `reason` cut to fit a close frame: at most 123 bytes (a control frame's 125 minus
/// the code), on a character boundary.
pub(crate) fn truncate_reason(reason: &str) -> &str {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason;
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// A WebSocket close code.
///
/// The constants name the codes wsframe uses:
///
/// | code | constant | sent by the framework when |
/// |------|----------|----------------------------|
/// | 1000 | [`CloseCode::NORMAL`] | the handler returns |
/// | 1001 | [`CloseCode::GOING_AWAY`] | the server shuts down, or the peer stayed idle too long |
/// | 1002 | [`CloseCode::PROTOCOL_ERROR`] | the peer broke the protocol (bad frame, bad close code) |
/// | 1003 | [`CloseCode::UNSUPPORTED_DATA`] | the handler returned [`Error::UnexpectedMessage`](crate::Error::UnexpectedMessage) (a binary message where it wanted text, or the reverse) |
/// | 1007 | [`CloseCode::INVALID_PAYLOAD`] | a text message or close reason is not UTF-8, or the handler returned [`Error::InvalidMessage`](crate::Error::InvalidMessage) (JSON that does not fit; the serde error is the reason) |
/// | 1008 | [`CloseCode::POLICY_VIOLATION`] | a guard chose accept-then-close, or the peer sent over its message rate |
/// | 1009 | [`CloseCode::MESSAGE_TOO_BIG`] | a frame or message exceeds the route's limit |
/// | 1011 | [`CloseCode::INTERNAL_ERROR`] | the handler panicked or returned another error |
/// | 1013 | [`CloseCode::TRY_AGAIN_LATER`] | a slow consumer's queue overflowed |
///
/// ```
/// use wsframe::CloseCode;
/// assert_eq!(CloseCode::from(1008), CloseCode::POLICY_VIOLATION);
/// assert_eq!(u16::from(CloseCode::NORMAL), 1000);
/// assert!(CloseCode::from(4000).is_sendable());
/// assert!(!CloseCode::from(1005).is_sendable());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, idle peer).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1007: data inconsistent with the message type (invalid UTF-8, or JSON that does
    /// not fit the expected type).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: the message violates the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1011: the server met an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1013: try again later (used for slow consumers).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);

    /// Whether this code may appear in a close frame on the wire (RFC 6455 §7.4.1–2).
    ///
    /// 1004, 1005, 1006 and 1015 are reserved, codes below 1000 are unused, and
    /// 1016–2999 are reserved for future versions of the protocol.
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_codes_are_not_sendable() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
            assert!(!CloseCode(code).is_sendable(), "{code}");
        }
        for code in [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013, 3000, 4999,
        ] {
            assert!(CloseCode(code).is_sendable(), "{code}");
        }
    }

    #[test]
    fn a_long_reason_is_cut_to_123_bytes_on_a_character_boundary() {
        assert_eq!(truncate_reason("short"), "short");
        let ascii = "x".repeat(200);
        assert_eq!(truncate_reason(&ascii).len(), 123);
        // "é" is two bytes: byte 123 falls inside the 62nd one.
        let accents = "é".repeat(100);
        let cut = truncate_reason(&accents);
        assert_eq!(cut.len(), 122);
        assert_eq!(cut, "é".repeat(61));
    }
}
