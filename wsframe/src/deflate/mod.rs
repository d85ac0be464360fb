//! permessage-deflate (RFC 7692): compression that costs almost nothing while a
//! connection is idle, and a broadcast compressed once for all its recipients.
//!
//! | module | owns |
//! | --- | --- |
//! | `mod.rs` | [`Compression`], the settings; [`Negotiated`], what a connection agreed |
//! | [`offer`] | parsing the client's offers and choosing the parameters |
//! | [`compress`] | compressing an outgoing message with a pooled compressor; a dedicated connection's context |
//! | [`inflate`] | inflating an incoming message with a pooled inflater, within the size limit |
//!
//! **Outgoing.** In the default [`CompressionMode::Shared`] the server answers
//! `server_no_context_takeover`: each message is compressed on its own, so its
//! compressed bytes suit every recipient that negotiated the same window, and a hub
//! broadcast is compressed once (see [`Prepared`](crate::connection::frame::Prepared)).
//! Compressors live in a small pool per thread, not in connections.
//!
//! **Incoming.** An inflater is needed only while a message is being inflated; it comes
//! from a pool per thread and goes back at the message's end. When the client keeps its
//! context between messages, the connection keeps only the last bytes it inflated (at
//! most its window, 2^w bytes) and gives them to the next inflater as its dictionary.

pub(crate) mod compress;
pub(crate) mod inflate;
pub(crate) mod offer;

/// How the server compresses what it sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressionMode {
    /// Every message is compressed on its own (`server_no_context_takeover`): a
    /// broadcast is compressed once for all its recipients, and nothing is held per
    /// connection between messages. The default.
    Shared,
    /// The server keeps each connection's compression context from one message to the
    /// next, so a conversation of similar messages compresses better: for apps that
    /// send mostly one-to-one. A connection holds the last bytes it sent (at most the
    /// server's window, 2^`server_max_window_bits`) between messages, and a pooled
    /// compressor starts from them. Every message, a broadcast's too, is compressed
    /// for its connection alone, as the connection writes it; the outgoing byte bound
    /// counts such a message at its full size until the connection takes it from the
    /// queue and compresses it. A client that asks for `server_no_context_takeover`
    /// gets it.
    Dedicated,
}

/// permessage-deflate settings (RFC 7692), app-wide through
/// [`Limits::compression`](crate::Limits::compression) and per route through
/// [`RouteLimits::compression`](crate::RouteLimits::compression) or the
/// `compression = ...` option of `#[websocket]`.
///
/// On by default: a client that offers the extension (every browser does) gets it.
///
/// ```
/// use wsframe::{Compression, CompressionMode, Limits};
///
/// let defaults = Compression::default();
/// assert!(defaults.is_enabled());
/// assert_eq!(defaults.get_mode(), CompressionMode::Shared);
///
/// // Smaller windows hold less memory per connection and compress a little worse.
/// let lean = Compression::default().client_max_window_bits(10).threshold(256);
/// let limits = Limits::default().compression(lean);
/// assert_eq!(limits.get_compression().get_client_max_window_bits(), 10);
///
/// assert!(!Compression::disabled().is_enabled());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compression {
    pub(crate) enabled: bool,
    pub(crate) mode: CompressionMode,
    pub(crate) threshold: usize,
    pub(crate) level: u32,
    pub(crate) server_max_window_bits: u8,
    pub(crate) client_max_window_bits: u8,
    pub(crate) client_no_context_takeover: bool,
}

impl Default for Compression {
    fn default() -> Self {
        Compression {
            enabled: true,
            mode: CompressionMode::Shared,
            threshold: 128,
            level: 6,
            server_max_window_bits: 15,
            client_max_window_bits: 11,
            client_no_context_takeover: false,
        }
    }
}

impl Compression {
    /// No compression: the extension is never negotiated.
    pub fn disabled() -> Self {
        Compression {
            enabled: false,
            ..Compression::default()
        }
    }

    /// How outgoing messages are compressed (default [`CompressionMode::Shared`]).
    pub fn mode(mut self, mode: CompressionMode) -> Self {
        self.mode = mode;
        self
    }

    /// Messages shorter than this many bytes go out uncompressed (default 128). Measured
    /// on chat-like JSON (`bench/corpus/`): messages under 100 bytes shrink by 3%, 128
    /// bytes by 12%, 256 by 23%, 1 KiB by 35%; below the threshold the CPU is not
    /// worth it.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// zlib's compression level, 1 (fastest) to 9 (smallest); default 6.
    pub fn level(mut self, level: u32) -> Self {
        self.level = level.clamp(1, 9);
        self
    }

    /// The largest window the server compresses with, as a power of two (8 to 15;
    /// default 15, 32 KiB).
    pub fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// The largest window the server lets the client compress with (8 to 15; default
    /// 11, 2 KiB). When the client keeps its context the server holds up to this
    /// window's bytes per connection between messages, so this is the memory lever.
    /// Browsers offer to be told a window; a client that does not is asked for
    /// `client_no_context_takeover` instead, unless this is 15.
    ///
    /// Measured on chat-like JSON (`bench/corpus/`, client to server): each message on
    /// its own 1.66x smaller; with the context kept, 2.22x at 11 bits (2 KiB held),
    /// 2.50x at 12 (4 KiB), 2.85x at 15 (32 KiB). 11 bits keeps an idle connection
    /// within 8 KiB.
    pub fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = bits.clamp(8, 15);
        self
    }

    /// Ask every client to compress each message on its own
    /// (`client_no_context_takeover`): the server then holds nothing of a connection's
    /// incoming stream between messages, and clients compress a little worse. Default
    /// off.
    pub fn client_no_context_takeover(mut self, on: bool) -> Self {
        self.client_no_context_takeover = on;
        self
    }

    /// Whether the extension is offered to clients.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// See [`mode`](Self::mode).
    pub fn get_mode(&self) -> CompressionMode {
        self.mode
    }

    /// See [`threshold`](Self::threshold).
    pub fn get_threshold(&self) -> usize {
        self.threshold
    }

    /// See [`level`](Self::level).
    pub fn get_level(&self) -> u32 {
        self.level
    }

    /// See [`server_max_window_bits`](Self::server_max_window_bits).
    pub fn get_server_max_window_bits(&self) -> u8 {
        self.server_max_window_bits
    }

    /// See [`client_max_window_bits`](Self::client_max_window_bits).
    pub fn get_client_max_window_bits(&self) -> u8 {
        self.client_max_window_bits
    }

    /// See [`client_no_context_takeover`](Self::client_no_context_takeover).
    pub fn get_client_no_context_takeover(&self) -> bool {
        self.client_no_context_takeover
    }
}

/// What a connection agreed on: the parameters in force on both sides. Windows are
/// the ones zlib works with (9 to 15; an agreed 8 is worked as 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Negotiated {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_window: u8,
    pub(crate) client_window: u8,
    pub(crate) threshold: usize,
    pub(crate) level: u32,
}

impl Negotiated {
    /// Whether a message of `len` bytes is compressed on its own when sent (the shared
    /// mode, at or above the threshold), so that its compressed bytes suit every
    /// recipient with the same window and level.
    pub(crate) fn compresses_on_its_own(&self, len: usize) -> bool {
        self.server_no_context_takeover && len >= self.threshold.max(1)
    }
}

/// Keep in `window` the last 2^`bits` bytes of `window` followed by `data`: what a
/// compressor with that window may refer back to next. In place; its capacity never
/// grows past 2^`bits`, since it is memory an idle connection holds.
pub(crate) fn slide(window: &mut Vec<u8>, data: &[u8], bits: u8) {
    let size = 1usize << bits;
    let from = (window.len() + data.len()).saturating_sub(size);
    let data = &data[from.saturating_sub(window.len())..];
    window.drain(..from.min(window.len()));
    window.reserve_exact(data.len());
    window.extend_from_slice(data);
}

/// What a sync flush ends with, left off every compressed message (RFC 7692, 7.2.1) and
/// added back before inflating one (7.2.2).
pub(crate) const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

#[cfg(test)]
mod tests {
    use super::slide;

    #[test]
    fn a_window_keeps_the_last_bytes_and_never_holds_more() {
        let mut window = Vec::new();
        slide(&mut window, b"abcdef", 3); // 8 bytes at most
        assert_eq!(window, b"abcdef");
        slide(&mut window, b"ghij", 3);
        assert_eq!(window, b"cdefghij");
        slide(&mut window, b"0123456789", 3);
        assert_eq!(window, b"23456789");
        slide(&mut window, b"", 3);
        assert_eq!(window, b"23456789");
        assert!(window.capacity() <= 8, "capacity {}", window.capacity());
    }
}
