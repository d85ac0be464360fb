use super::*;

/// A masked client frame.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    crate::connection::frame::client_frame(first, payload, [0x37, 0xfa, 0x21, 0x3d])
}

fn reader(max: usize) -> Reader {
    reader_with(max, max)
}

fn reader_with(max_frame: usize, max_message: usize) -> Reader {
    Reader::new(
        ReadBuffer::new(4096, b""),
        ReadLimits {
            max_frame,
            max_message,
        },
    )
}

/// Everything the reader makes of `bytes` fed in pieces of `size`, and how it stopped.
fn read_all(bytes: &[u8], size: usize, max: usize) -> (Vec<Incoming>, Option<Fault>) {
    let mut reader = reader(max);
    let mut got = Vec::new();
    for piece in bytes.chunks(size.max(1)) {
        reader.push(piece);
        loop {
            match reader.next() {
                Ok(Some(incoming)) => got.push(incoming),
                Ok(None) => break,
                Err(fault) => return (got, Some(fault)),
            }
        }
    }
    (got, None)
}

fn text(s: &str) -> Incoming {
    Incoming::Message(Message::text(s.to_owned()))
}

#[test]
fn whole_and_fragmented_messages_with_control_frames_between_in_any_pieces() {
    let mut stream = frame(0x81, "héllo".as_bytes());
    stream.extend(frame(0x02, b"bin"));
    stream.extend(frame(0x89, b"ping"));
    stream.extend(frame(0x00, b"ary"));
    stream.extend(frame(0x8A, b""));
    stream.extend(frame(0x80, b"!"));
    let big = "x".repeat(70_000);
    stream.extend(frame(0x81, big.as_bytes()));
    stream.extend(frame(0x88, &[0x03, 0xe8, b'o', b'k']));
    let expected = vec![
        text("héllo"),
        Incoming::Ping(Bytes::from_static(b"ping")),
        Incoming::Pong,
        Incoming::Message(Message::binary(b"binary!".to_vec())),
        text(&big),
        Incoming::Close(Some((CloseCode::NORMAL, "ok".into()))),
    ];
    for size in [1, 2, 3, 7, 64, 4096, stream.len()] {
        assert_eq!(
            read_all(&stream, size, 1 << 20),
            (expected.clone_messages(), None),
            "pieces of {size}"
        );
    }
}

trait CloneMessages {
    fn clone_messages(&self) -> Vec<Incoming>;
}

impl CloneMessages for Vec<Incoming> {
    fn clone_messages(&self) -> Vec<Incoming> {
        self.iter()
            .map(|i| match i {
                Incoming::Message(m) => Incoming::Message(m.clone()),
                Incoming::Ping(p) => Incoming::Ping(p.clone()),
                Incoming::Pong => Incoming::Pong,
                Incoming::Close(c) => Incoming::Close(c.clone()),
            })
            .collect()
    }
}

#[test]
fn an_unfragmented_message_is_handed_over_without_a_copy() {
    let mut reader = reader(1 << 20);
    reader.push(&frame(0x82, &[9u8; 1000]));
    let at = reader.buffer.bytes().as_ptr() as usize;
    let Ok(Some(Incoming::Message(Message::Binary(bytes)))) = reader.next() else {
        panic!("a binary message");
    };
    let offset = bytes.as_ptr() as usize - at;
    assert_eq!(
        offset, 8,
        "the payload where it was read, after its 8-byte header"
    );
}

#[test]
fn invalid_utf8_fails_at_its_first_byte_while_the_frame_still_arrives() {
    // "κόσμε" then 0xF4 0x90: no character starts so, whatever follows.
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
    payload.extend_from_slice(b"-edited");
    let stream = frame(0x81, &payload);
    let bad_at = 6 + "κόσμε".len() + 2; // header, text, the two bytes
    let mut reader = reader(1 << 20);
    for (i, byte) in stream.iter().enumerate() {
        reader.push(&[*byte]);
        match reader.next() {
            Ok(None) => assert!(i + 1 < bad_at, "accepted byte {i}"),
            Err(fault) => {
                assert_eq!(fault.code, CloseCode::INVALID_PAYLOAD);
                assert_eq!(i + 1, bad_at, "refused at byte {i}");
                return;
            }
            Ok(Some(other)) => panic!("{other:?}"),
        }
    }
    panic!("never refused");
}

#[test]
fn invalid_utf8_across_fragments_and_a_character_cut_between_them() {
    // "€" (e2 82 ac) cut across two fragments is fine.
    let mut ok = frame(0x01, &[b'a', 0xe2]);
    ok.extend(frame(0x80, &[0x82, 0xac]));
    assert_eq!(read_all(&ok, 1, 1 << 20), (vec![text("a€")], None));
    // A second fragment that cannot continue the character is refused at once, before
    // the final fragment.
    let mut bad = frame(0x01, &[b'a', 0xe2]);
    bad.extend(frame(0x00, &[0x28]));
    let (got, fault) = read_all(&bad, 1, 1 << 20);
    assert!(got.is_empty());
    assert_eq!(fault.unwrap().code, CloseCode::INVALID_PAYLOAD);
    // A message that ends inside a character.
    let cut = frame(0x81, &[b'a', 0xe2, 0x82]);
    assert_eq!(
        read_all(&cut, 1, 1 << 20).1.unwrap().code,
        CloseCode::INVALID_PAYLOAD
    );
    assert_eq!(
        read_all(&cut, 100, 1 << 20).1.unwrap().code,
        CloseCode::INVALID_PAYLOAD
    );
}

#[test]
fn messages_before_a_bad_frame_are_read_first() {
    let mut stream = frame(0x81, b"first");
    stream.extend(frame(0xC1, b"rsv1"));
    let (got, fault) = read_all(&stream, stream.len(), 1 << 20);
    assert_eq!(got, vec![text("first")]);
    assert_eq!(fault.unwrap().code, CloseCode::PROTOCOL_ERROR);
}

#[test]
fn sizes_are_refused_from_the_header_before_the_payload() {
    // The header of a 2 MiB message, no payload: refused at once.
    let header = &frame(0x82, &vec![0u8; 2 << 20])[..14];
    let (_, fault) = read_all(header, header.len(), 1 << 20);
    assert_eq!(fault.unwrap(), Fault::too_big("message too big"));
    // A first fragment over the frame limit, under the message limit.
    let mut reader = reader_with(100, 1000);
    reader.push(&frame(0x02, &[1; 101])[..8]);
    assert_eq!(reader.next(), Err(Fault::too_big("frame too big")));
    // Fragments each under the frame limit, together over the message limit.
    let mut reader = reader_with(100, 150);
    reader.push(&frame(0x02, &[1; 100]));
    assert_eq!(reader.next(), Ok(None));
    reader.push(&frame(0x80, &[1; 60])[..8]);
    assert_eq!(reader.next(), Err(Fault::too_big("message too big")));
}

#[test]
fn sequencing_and_close_frames_are_checked() {
    let protocol = |stream: Vec<u8>| {
        let (_, fault) = read_all(&stream, stream.len(), 1 << 20);
        assert_eq!(
            fault.map(|f| f.code),
            Some(CloseCode::PROTOCOL_ERROR),
            "{stream:x?}"
        );
    };
    protocol(frame(0x80, b"continuation of nothing"));
    let mut nested = frame(0x01, b"a");
    nested.extend(frame(0x81, b"b"));
    protocol(nested);
    protocol(frame(0x88, &[0x03]));
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        protocol(frame(0x88, &code.to_be_bytes()));
    }
    let (_, fault) = read_all(&frame(0x88, &[0x03, 0xe8, 0xff]), 100, 1 << 20);
    assert_eq!(fault.unwrap().code, CloseCode::INVALID_PAYLOAD);
    assert_eq!(
        read_all(&frame(0x88, b""), 100, 1 << 20),
        (vec![Incoming::Close(None)], None)
    );
}

#[test]
fn after_a_fault_the_reader_stays_refused() {
    let mut reader = reader(1 << 20);
    let mut bad = frame(0x81, &[b'a', 0xff, b'b']);
    bad.extend(frame(0x81, b"next"));
    reader.push(&bad[..8]); // the header and 'a', 0xff
    let fault = reader.next().unwrap_err();
    assert_eq!(fault.code, CloseCode::INVALID_PAYLOAD);
    reader.push(&bad[8..]);
    assert_eq!(
        reader.next(),
        Err(fault),
        "the rest is never parsed as frames"
    );
}

#[test]
fn a_small_message_is_copied_out_so_that_the_read_buffer_stays_free() {
    let mut reader = reader(1 << 20);
    reader.push(&frame(0x82, &[5u8; 64]));
    let at = reader.buffer.bytes().as_ptr() as usize;
    let buffer = at..at + reader.buffer.held();
    let Ok(Some(Incoming::Message(Message::Binary(bytes)))) = reader.next() else {
        panic!("a binary message");
    };
    let inside = buffer.contains(&(bytes.as_ptr() as usize));
    assert!(
        !inside,
        "a 64-byte message does not point into the read buffer"
    );
    assert_eq!(&bytes[..], &[5u8; 64]);
}

#[tokio::test]
async fn a_header_alone_does_not_make_the_server_hold_the_length_it_declares() {
    let mut reader = reader_with(64 << 20, 64 << 20);
    let (mut peer, mut io) = tokio::io::duplex(1 << 20);
    let header = &frame(0x82, &vec![0u8; 16 << 20])[..14];
    tokio::io::AsyncWriteExt::write_all(&mut peer, header)
        .await
        .unwrap();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(reader.poll_next(&mut io, &mut cx).is_pending());
    let held = reader.buffer.held();
    assert!(
        held <= FRAME_ROOM + 4096,
        "a 16 MiB header made the reader hold {held} bytes"
    );
    // As the payload arrives, the room grows with it, and the frame completes.
    let payload: Vec<u8> = frame(0x82, &vec![3u8; 16 << 20])[14..].to_vec();
    let writer = tokio::spawn(async move {
        tokio::io::AsyncWriteExt::write_all(&mut peer, &payload)
            .await
            .unwrap();
        peer
    });
    let message = std::future::poll_fn(|cx| reader.poll_next(&mut io, cx))
        .await
        .unwrap();
    let Incoming::Message(Message::Binary(bytes)) = message else {
        panic!("a binary message");
    };
    assert_eq!(bytes.len(), 16 << 20);
    assert!(bytes.iter().all(|b| *b == 3));
    drop(writer.await.unwrap());
}
