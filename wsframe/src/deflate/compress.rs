//! Compressing an outgoing message on its own (`server_no_context_takeover`), with a
//! compressor from a small pool per thread: a zlib compressor holds about 256 KiB at a
//! 15-bit window, far too much to keep per connection.

use std::cell::RefCell;

use bytes::Bytes;
use flate2::{Compress, FlushCompress};

use super::TRAILER;

/// Compressors kept per thread (each for one window and level).
const POOL: usize = 4;

thread_local! {
    static COMPRESSORS: RefCell<Vec<(u8, u32, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// `payload` compressed as one permessage-deflate message (a raw deflate stream ended
/// by a sync flush, without its 4-byte trailer), with at most a `window`-bit window;
/// `None` when that would not be smaller than `payload` (it then goes out as it is).
pub(crate) fn compress(payload: &[u8], window: u8, level: u32) -> Option<Bytes> {
    compress_after(payload, window, level, &[])
}

/// [`compress`], the stream going on after `dictionary` (the last bytes the peer
/// inflated): what a dedicated connection's compressor would make of it had it been
/// kept.
fn compress_after(payload: &[u8], window: u8, level: u32, dictionary: &[u8]) -> Option<Bytes> {
    let mut compressor = COMPRESSORS
        .with(|pool| {
            let mut pool = pool.borrow_mut();
            let at = pool
                .iter()
                .position(|(w, l, _)| (*w, *l) == (window, level))?;
            Some(pool.swap_remove(at).2)
        })
        .unwrap_or_else(|| {
            Compress::new_with_window_bits(flate2::Compression::new(level), false, window)
        });
    let primed = dictionary.is_empty() || compressor.set_dictionary(dictionary).is_ok();
    // Room for the compressed bytes and the trailer, and one byte more: a flush that
    // left room unused is complete, and output that fills it is not worth sending.
    let mut out = Vec::with_capacity(payload.len() + TRAILER.len() + 1);
    let done = compressor.compress_vec(payload, &mut out, FlushCompress::Sync);
    let complete = primed
        && done.is_ok()
        && compressor.total_in() == payload.len() as u64
        && out.len() < out.capacity()
        && out.ends_with(&TRAILER);
    compressor.reset();
    COMPRESSORS.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.len() < POOL {
            pool.push((window, level, compressor));
        }
    });
    if !complete {
        return None;
    }
    out.truncate(out.len() - TRAILER.len());
    (out.len() < payload.len()).then(|| Bytes::from(out))
}

/// A dedicated connection's outgoing context (server context takeover): the last
/// bytes it sent compressed, which the next message may refer back to.
#[derive(Debug)]
pub(crate) struct Dedicated {
    window_bits: u8,
    level: u32,
    threshold: usize,
    window: Vec<u8>,
}

impl Dedicated {
    pub(crate) fn new(window_bits: u8, level: u32, threshold: usize) -> Dedicated {
        Dedicated {
            window_bits,
            level,
            threshold,
            window: Vec::new(),
        }
    }

    /// `payload` compressed after the messages before it; `None` (sent as it is, the
    /// context unchanged) under the threshold or when it would not shrink.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        if payload.len() < self.threshold.max(1) {
            return None;
        }
        let compressed = compress_after(payload, self.window_bits, self.level, &self.window)?;
        // The peer's window now ends with this message.
        super::slide(&mut self.window, payload, self.window_bits);
        Some(compressed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Decompress, FlushDecompress};

    fn inflate(compressed: &[u8]) -> Vec<u8> {
        let mut input = compressed.to_vec();
        input.extend_from_slice(&TRAILER);
        let mut inflater = Decompress::new(false);
        let mut out = Vec::with_capacity(1 << 20);
        inflater
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn a_message_compresses_on_its_own_and_inflates_back() {
        let json =
            br#"{"user":"ada","text":"hello hello hello hello hello","room":"general"}"#.repeat(20);
        for window in 9..=15 {
            let compressed = compress(&json, window, 6).expect("repetitive JSON shrinks");
            assert!(compressed.len() < json.len() / 4, "window {window}");
            assert_eq!(inflate(&compressed), json);
            // Compressed again with a pooled compressor: the same bytes (no context kept).
            assert_eq!(compress(&json, window, 6).unwrap(), compressed);
        }
    }

    #[test]
    fn a_dedicated_context_refers_back_and_inflates_as_one_stream() {
        let first = br#"{"type":"quote","symbol":"ACME","bid":101.25,"ask":101.5}"#.repeat(3);
        let second = br#"{"type":"quote","symbol":"ACME","bid":101.5,"ask":101.75}"#.repeat(3);
        let mut dedicated = Dedicated::new(15, 6, 0);
        let a = dedicated.compress(&first).unwrap();
        let b = dedicated.compress(&second).unwrap();
        assert!(b.len() < a.len() / 2, "{} then {}", a.len(), b.len());
        assert!(dedicated.compress(b"x").is_none(), "too small to shrink");
        // One inflater over both, as a client that keeps the server's context.
        let mut inflater = Decompress::new(false);
        let mut out = Vec::with_capacity(4096);
        for part in [&a[..], &TRAILER, &b[..], &TRAILER] {
            inflater
                .decompress_vec(part, &mut out, FlushDecompress::Sync)
                .unwrap();
        }
        assert_eq!(out, [&first[..], &second[..]].concat());
        // The window is bounded by 2^w.
        let mut small = Dedicated::new(9, 6, 0);
        for _ in 0..10 {
            small.compress(&first);
        }
        assert!(small.window.len() <= 512);
    }

    #[test]
    fn what_would_not_shrink_is_left_as_it_is() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..2000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 32) as u8
            })
            .collect();
        assert_eq!(compress(&noise, 15, 6), None);
        assert_eq!(compress(b"", 15, 6), None);
        assert_eq!(compress(b"a", 15, 6), None);
    }
}
