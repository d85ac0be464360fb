//! Inflating incoming messages within the message size limit, holding nothing but the
//! last bytes inflated between messages.
//!
//! zlib-rs's inflate state is about 14 KiB plus a 32 KiB window: too much to keep in
//! every connection. An inflater comes from a small pool per thread when a compressed
//! message begins and goes back when it ends. When the client keeps its compression
//! context across messages, its next message may refer back to the bytes of the last
//! ones (up to its window, 2^w bytes): the connection keeps those bytes, and the next
//! inflater starts from them as its dictionary.

use std::cell::RefCell;

use flate2::{Decompress, FlushDecompress, Status};

use super::TRAILER;

/// Inflaters kept per thread.
const POOL: usize = 8;
/// Output room added at once while inflating (no more than the limit allows).
const STEP: usize = 16 << 10;

thread_local! {
    // Boxed: an inflater moves between the pool and a connection as a pointer, and a
    // connection holds it in 8 bytes (zlib-rs keeps its state inline).
    #[allow(clippy::vec_box)]
    static INFLATERS: RefCell<Vec<Box<Decompress>>> = const { RefCell::new(Vec::new()) };
}

/// Why a compressed message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates to more than the message size limit.
    TooBig,
    /// It is not valid deflate data.
    Corrupt,
}

/// A connection's incoming side of permessage-deflate.
#[derive(Debug)]
pub(crate) struct Inflate {
    /// The client's window, as a power of two.
    window_bits: u8,
    /// The client keeps its context: `window` carries over to the next message.
    takeover: bool,
    /// The last bytes inflated (at most 2^window_bits): the next message's dictionary.
    window: Vec<u8>,
    /// The inflater of the message under way.
    active: Option<Box<Decompress>>,
}

impl Inflate {
    /// For a peer that compresses with a `window_bits` window and (`takeover`) keeps
    /// its context from one message to the next.
    pub(crate) fn new(window_bits: u8, takeover: bool) -> Inflate {
        Inflate {
            window_bits,
            takeover,
            window: Vec::new(),
            active: None,
        }
    }

    /// Inflate the next piece of a compressed message, appending to `out` (the
    /// message's bytes inflated so far, at most `limit`); `fin`: the piece ends the
    /// message. On an error the message is lost and so is the connection.
    pub(crate) fn feed(
        &mut self,
        input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        let result = self.inflate_piece(input, fin, out, limit);
        if result.is_err() || fin {
            self.finish(out, result.is_ok());
        }
        result
    }

    fn inflate_piece(
        &mut self,
        mut input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), InflateError> {
        while !input.is_empty() {
            if self.active.is_none() {
                self.active = Some(self.checkout(out)?);
            }
            let inflater = self.active.as_mut().expect("set above");
            match inflate(inflater, input, out, limit)? {
                None => input = &[],
                // A block with BFINAL set ended the stream (RFC 7692, 7.2.3.4): what
                // follows in the message, if anything, is a new stream, inflated by a
                // new inflater that knows the bytes before it.
                Some(consumed) => {
                    self.release();
                    input = &input[consumed..];
                }
            }
        }
        // The flush's trailer, left off by the sender (7.2.2); not after a final block.
        if fin && let Some(inflater) = self.active.as_mut() {
            inflate(inflater, &TRAILER, out, limit)?;
        }
        Ok(())
    }

    /// An inflater from the pool, primed with the bytes the peer's compressor may refer
    /// back to: the last messages' (with context takeover) and this one's so far.
    fn checkout(&self, message: &[u8]) -> Result<Box<Decompress>, InflateError> {
        let mut inflater = INFLATERS
            .with(|pool| pool.borrow_mut().pop())
            .unwrap_or_else(|| Box::new(Decompress::new_with_window_bits(false, 15)));
        let joined;
        let dictionary: &[u8] = if message.is_empty() {
            &self.window
        } else {
            let mut window = self.window.clone();
            super::slide(&mut window, message, self.window_bits);
            joined = window;
            &joined
        };
        if !dictionary.is_empty() {
            inflater
                .set_dictionary(dictionary)
                .map_err(|_| InflateError::Corrupt)?;
        }
        Ok(inflater)
    }

    /// Give the inflater back to the pool.
    fn release(&mut self) {
        if let Some(mut inflater) = self.active.take() {
            inflater.reset(false);
            INFLATERS.with(|pool| {
                let mut pool = pool.borrow_mut();
                if pool.len() < POOL {
                    pool.push(inflater);
                }
            });
        }
    }

    /// The message ended (or failed): keep its last bytes if the client keeps its
    /// context, and give the inflater back.
    fn finish(&mut self, out: &[u8], ok: bool) {
        self.release();
        if !(ok && self.takeover) {
            self.window = Vec::new();
            return;
        }
        super::slide(&mut self.window, out, self.window_bits);
    }

    /// Bytes held between messages (the window kept for the next one).
    #[cfg(test)]
    pub(crate) fn held(&self) -> usize {
        self.window.capacity()
    }
}

/// Inflate `input` into `out`, growing it by steps, never past `limit` (plus the one
/// byte that tells the limit was passed): `None` when all of it was used, or how much
/// was used when a final block ended the stream before the rest.
fn inflate(
    inflater: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<Option<usize>, InflateError> {
    let start = inflater.total_in();
    loop {
        if out.len() == out.capacity() {
            let room = limit
                .saturating_add(1)
                .saturating_sub(out.len())
                .min(STEP.max(out.len()));
            if room == 0 {
                return Err(InflateError::TooBig);
            }
            out.reserve_exact(room);
        }
        let (before_in, before_out) = (inflater.total_in(), inflater.total_out());
        let used = (before_in - start) as usize;
        let status = inflater
            .decompress_vec(&input[used..], out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        if out.len() > limit {
            return Err(InflateError::TooBig);
        }
        let consumed = (inflater.total_in() - before_in) as usize;
        let produced = inflater.total_out() - before_out;
        let used = used + consumed;
        let room_left = out.len() < out.capacity();
        match status {
            Status::StreamEnd if used < input.len() => return Ok(Some(used)),
            Status::StreamEnd => return Ok(None),
            _ if used == input.len() && room_left => return Ok(None),
            // No progress with room to spare: the input is cut short or broken.
            _ if consumed == 0 && produced == 0 && room_left => {
                return Err(InflateError::Corrupt);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, FlushCompress};

    /// A client's compressor: messages compressed in one stream (context takeover).
    fn client_stream(messages: &[&[u8]], window: u8) -> Vec<Vec<u8>> {
        let mut compressor =
            Compress::new_with_window_bits(flate2::Compression::new(6), false, window);
        messages
            .iter()
            .map(|message| {
                let mut out = Vec::with_capacity(message.len() + 64);
                compressor
                    .compress_vec(message, &mut out, FlushCompress::Sync)
                    .unwrap();
                assert!(out.ends_with(&TRAILER));
                out.truncate(out.len() - 4);
                out
            })
            .collect()
    }

    #[test]
    fn messages_that_refer_to_earlier_ones_inflate_with_only_the_window_kept() {
        let first = br#"{"type":"chat","user":"ada","text":"the same words again"}"#;
        let second = br#"{"type":"chat","user":"ada","text":"the same words again!"}"#;
        let compressed = client_stream(&[first, second], 15);
        assert!(
            compressed[1].len() < 20,
            "the second refers back to the first"
        );
        let mut inflate = Inflate::new(15, true);
        for (message, original) in compressed.iter().zip([&first[..], &second[..]]) {
            let mut out = Vec::new();
            inflate.feed(message, true, &mut out, 1 << 20).unwrap();
            assert_eq!(out, original);
            assert!(
                inflate.active.is_none(),
                "the inflater went back to the pool"
            );
        }
        assert_eq!(inflate.window, [&first[..], &second[..]].concat());
    }

    #[test]
    fn a_message_in_pieces_inflates_across_them() {
        let text = b"piece by piece, piece by piece, piece by piece".repeat(50);
        let compressed = client_stream(&[&text], 12).remove(0);
        let mut inflate = Inflate::new(12, false);
        let mut out = Vec::new();
        let (a, b) = compressed.split_at(compressed.len() / 2);
        inflate.feed(a, false, &mut out, 1 << 20).unwrap();
        inflate.feed(b, true, &mut out, 1 << 20).unwrap();
        assert_eq!(out, text);
        assert_eq!(inflate.held(), 0, "no context takeover: nothing held");
    }

    #[test]
    fn a_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; 10 << 20];
        let compressed = client_stream(&[&zeros], 15).remove(0);
        assert!(compressed.len() < 20 << 10);
        let mut inflate = Inflate::new(15, true);
        let mut out = Vec::new();
        let limit = 64 << 10;
        assert_eq!(
            inflate.feed(&compressed, true, &mut out, limit),
            Err(InflateError::TooBig)
        );
        assert!(out.capacity() <= limit + 1 + STEP, "{}", out.capacity());
        assert_eq!(inflate.held(), 0);
    }

    #[test]
    fn a_message_ended_by_a_final_block_and_one_with_a_new_stream_after_it() {
        // A sender may end a message with a final block instead of a sync flush
        // (RFC 7692, 7.2.3.4); with context takeover the next message refers back.
        fn finished(data: &[u8], dictionary: &[u8]) -> Vec<u8> {
            let mut compressor =
                Compress::new_with_window_bits(flate2::Compression::new(6), false, 15);
            if !dictionary.is_empty() {
                compressor.set_dictionary(dictionary).unwrap();
            }
            let mut out = Vec::with_capacity(data.len() + 64);
            compressor
                .compress_vec(data, &mut out, FlushCompress::Finish)
                .unwrap();
            out
        }
        let first = b"final blocks end this message, final blocks".to_vec();
        let second = b"final blocks end the next one too, final blocks".to_vec();
        let mut inflate = Inflate::new(15, true);
        let mut out = Vec::new();
        inflate
            .feed(&finished(&first, b""), true, &mut out, 1 << 20)
            .unwrap();
        assert_eq!(out, first);
        let mut out = Vec::new();
        let compressed = finished(&second, &first);
        let (a, b) = compressed.split_at(compressed.len() / 2);
        inflate.feed(a, false, &mut out, 1 << 20).unwrap();
        inflate.feed(b, true, &mut out, 1 << 20).unwrap();
        assert_eq!(out, second);
        // Two streams in one message: the second starts where the first ended.
        let mut out = Vec::new();
        let mut both = finished(b"one stream, ", b"");
        both.extend(finished(b"one stream, then another", b"one stream, "));
        inflate.feed(&both, true, &mut out, 1 << 20).unwrap();
        assert_eq!(out, b"one stream, one stream, then another");
    }

    #[test]
    fn garbage_is_refused() {
        let mut inflate = Inflate::new(15, true);
        let mut out = Vec::new();
        let garbage = [0xffu8; 64];
        assert_eq!(
            inflate.feed(&garbage, true, &mut out, 1 << 20),
            Err(InflateError::Corrupt)
        );
    }
}
