//! The frame reader with permessage-deflate negotiated (issue 15), through
//! `wsframe::fuzzing::read_deflate`: whatever a client's compressor makes of a run of
//! messages (its window, fragmentation, uncompressed messages between, the stream cut
//! anywhere) is read back exactly; arbitrary bytes never make it panic or deliver a
//! message over the limit; and a message that inflates past the limit is refused.

use flate2::{Compress, FlushCompress};
use proptest::prelude::*;
use wsframe::fuzzing::{Event, Outcome, read_deflate};

const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];

/// A masked client frame with `first` as its first byte (FIN, RSV, opcode).
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = wsframe_tests::client_frame(first & 0x0f, payload);
    frame[0] = first;
    frame
}

#[derive(Clone, Debug)]
struct Sent {
    text: bool,
    data: Vec<u8>,
    compressed: bool,
    /// Fragments (at least 1).
    pieces: usize,
}

fn message() -> impl Strategy<Value = Sent> {
    let data = prop_oneof![
        // Repetitive text, as JSON traffic is.
        (0usize..40, 0usize..8).prop_map(|(n, k)| {
            format!(r#"{{"id":{k},"text":"{}"}}"#, "chat ".repeat(n)).into_bytes()
        }),
        // Anything (often incompressible).
        proptest::collection::vec(any::<u8>(), 0..600),
    ];
    (data, any::<bool>(), any::<bool>(), 1usize..4).prop_map(|(data, text, compressed, pieces)| {
        let text = text && std::str::from_utf8(&data).is_ok();
        Sent {
            text,
            data,
            compressed,
            pieces,
        }
    })
}

/// The client's bytes for `messages`: its compressor keeps its context across the
/// compressed ones, as browsers' do.
fn stream(messages: &[Sent], window: u8) -> Vec<u8> {
    let mut compressor = Compress::new_with_window_bits(flate2::Compression::new(6), false, window);
    let mut out = Vec::new();
    for sent in messages {
        let payload = if sent.compressed && sent.data.is_empty() {
            // zlib writes nothing for a flush right after a flush; an empty message is
            // the one byte of an empty block (RFC 7692, 7.2.3.6).
            vec![0x00]
        } else if sent.compressed {
            let mut compressed = Vec::with_capacity(sent.data.len() + 64);
            compressor
                .compress_vec(&sent.data, &mut compressed, FlushCompress::Sync)
                .unwrap();
            assert!(compressed.ends_with(&TRAILER));
            compressed.truncate(compressed.len() - TRAILER.len());
            compressed
        } else {
            sent.data.clone()
        };
        let size = payload.len().div_ceil(sent.pieces).max(1);
        let chunks: Vec<&[u8]> = if payload.is_empty() {
            vec![&[]]
        } else {
            payload.chunks(size).collect()
        };
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = match (i, sent.text) {
                (0, true) => 0x1,
                (0, false) => 0x2,
                _ => 0x0,
            };
            let fin = if i + 1 == chunks.len() { 0x80 } else { 0 };
            let rsv1 = if i == 0 && sent.compressed { 0x40 } else { 0 };
            out.extend(frame(fin | rsv1 | opcode, chunk));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn what_a_clients_compressor_sends_is_read_back_exactly(
        messages in proptest::collection::vec(message(), 1..8),
        window in 9u8..=15,
        pieces in proptest::collection::vec(1usize..200, 0..4),
    ) {
        let input = stream(&messages, window);
        let offer = format!("permessage-deflate; client_max_window_bits={window}");
        let run = read_deflate(&input, &pieces, 1 << 20, 1 << 20, &offer);
        prop_assert_eq!(&run.outcome, &Outcome::Incomplete, "{}", run.detail);
        let expected: Vec<Event> = messages
            .iter()
            .map(|sent| match sent.text {
                true => Event::Text(sent.data.clone()),
                false => Event::Binary(sent.data.clone()),
            })
            .collect();
        prop_assert_eq!(run.events, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_pass_the_limit(
        input in proptest::collection::vec(any::<u8>(), 0..2000),
        rsv1_frames in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..4),
        pieces in proptest::collection::vec(1usize..64, 0..3),
        limit in 1usize..4096,
    ) {
        // Random bytes, then frames marked compressed whose payload is random.
        let mut stream = input;
        for (text, payload) in rsv1_frames {
            stream.extend(frame(0xc0 | if text { 1 } else { 2 }, &payload));
        }
        let run = read_deflate(&stream, &pieces, limit, limit, "permessage-deflate");
        for event in &run.events {
            if let Event::Text(data) | Event::Binary(data) = event {
                prop_assert!(data.len() <= limit);
            }
        }
    }
}

#[test]
fn a_message_that_inflates_past_the_limit_is_refused_with_1009() {
    let bomb = Sent {
        text: false,
        data: vec![0u8; 4 << 20],
        compressed: true,
        pieces: 3,
    };
    let input = stream(&[bomb], 15);
    assert!(input.len() < 8 << 10, "{} bytes", input.len());
    let run = read_deflate(&input, &[], 1 << 20, 1 << 20, "permessage-deflate");
    assert_eq!(run.outcome, Outcome::Failed(1009), "{}", run.detail);
    assert!(run.events.is_empty());
}

#[test]
fn without_the_extension_a_compressed_frame_is_a_protocol_error() {
    let sent = Sent {
        text: true,
        data: b"hello hello hello".to_vec(),
        compressed: true,
        pieces: 1,
    };
    let input = stream(&[sent], 15);
    let declined = "permessage-deflate; server_max_window_bits=99";
    let run = read_deflate(&input, &[], 1 << 20, 1 << 20, declined);
    assert_eq!(run.outcome, Outcome::Failed(1002), "{}", run.detail);
}
