//! UTF-8 validated as it arrives, a piece at a time.
//!
//! A text message may arrive in many reads and many fragments, and a character may be
//! cut between two of them. [`Utf8Stream`] validates each piece as it arrives, carrying
//! at most the three bytes of a character cut at the end of a piece, and fails at the
//! first byte that can begin no valid continuation: a peer sending invalid text is
//! refused before the rest of its message arrives (RFC 6455 §8.1, "fail fast"). The
//! whole message is validated once more when it becomes a [`Utf8Bytes`](crate::Utf8Bytes)
//! (the price of a `&str` view without `unsafe`); a message that arrives whole in one
//! read skips the stream and is validated only then.

use std::str;

/// The state between pieces: the start of a character cut at the end of the last one.
#[derive(Debug, Default)]
pub(crate) struct Utf8Stream {
    partial: [u8; 4],
    partial_len: u8,
}

/// The bytes are not UTF-8, whatever may follow them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidUtf8;

impl Utf8Stream {
    /// Validate the next piece.
    pub(crate) fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            let have = usize::from(self.partial_len);
            let need = width(self.partial[0]);
            let take = (need - have).min(piece.len());
            self.partial[have..have + take].copy_from_slice(&piece[..take]);
            piece = &piece[take..];
            let filled = have + take;
            match str::from_utf8(&self.partial[..filled]) {
                Ok(_) => self.partial_len = 0,
                Err(e) if e.error_len().is_some() => return Err(InvalidUtf8),
                // Still the valid start of a character: the piece ended inside it.
                Err(_) => {
                    self.partial_len = filled as u8;
                    return Ok(());
                }
            }
        }
        match str::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(InvalidUtf8),
            Err(e) => {
                let tail = &piece[e.valid_up_to()..];
                self.partial[..tail.len()].copy_from_slice(tail);
                self.partial_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// The message ended: no character may be left cut.
    pub(crate) fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }
}

/// The length of the character a valid lead byte begins.
fn width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_pieces(bytes: &[u8], size: usize) -> Result<(), InvalidUtf8> {
        let mut stream = Utf8Stream::default();
        for piece in bytes.chunks(size.max(1)) {
            stream.feed(piece)?;
        }
        stream.finish()
    }

    #[test]
    fn agrees_with_the_standard_library_for_every_piece_size() {
        let samples: Vec<Vec<u8>> = vec![
            "κόσμε".into(),
            "a€𝄞z".into(),
            "Hello-µ@ßöäüàá-UTF-8!!".into(),
            vec![
                0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xf4, 0x90, 0x80,
                0x80,
            ],
            vec![0xed, 0xa0, 0x80],       // a surrogate
            vec![0xc0, 0xaf],             // overlong
            vec![0xf0, 0x9f, 0x98],       // cut at the end
            vec![0xe2, 0x82, 0xac, 0xff], // valid, then a byte that never is
            vec![0x80],
        ];
        for bytes in samples {
            let expected = str::from_utf8(&bytes).is_ok();
            for size in 1..=bytes.len().max(1) {
                assert_eq!(
                    in_pieces(&bytes, size).is_ok(),
                    expected,
                    "{bytes:x?} in pieces of {size}"
                );
            }
        }
    }

    #[test]
    fn fails_at_the_first_byte_that_no_continuation_can_save() {
        let mut stream = Utf8Stream::default();
        stream.feed("κόσμε".as_bytes()).unwrap();
        // 0xF4 0x90 is above U+10FFFF: wrong as soon as the second byte is seen.
        stream.feed(&[0xf4]).unwrap();
        assert_eq!(stream.feed(&[0x90]), Err(InvalidUtf8));
    }
}
