//! permessage-deflate (RFC 7692) through a real TCP socket, with a client made of
//! hand-built frames and flate2 as a browser would use zlib: negotiation, compressed
//! messages both ways, and hostile compressed input, each closing with its code while
//! the server goes on serving others.

use flate2::{Compress, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wsframe::prelude::*;
use wsframe_tests::*;

#[websocket("/ws")]
async fn echo(ws: WebSocket) -> wsframe::Result<()> {
    echo_loop(ws).await
}

/// The echo with the server's context kept from one message to the next.
#[websocket(
    "/dedicated",
    compression = wsframe::Compression::default().mode(wsframe::CompressionMode::Dedicated)
)]
async fn dedicated(ws: WebSocket) -> wsframe::Result<()> {
    echo_loop(ws).await
}

#[websocket("/plain", compression = wsframe::Compression::disabled())]
async fn plain(ws: WebSocket) -> wsframe::Result<()> {
    echo_loop(ws).await
}

async fn echo_loop(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

const TRAILER: [u8; 4] = [0, 0, 0xff, 0xff];
const BROWSER_OFFER: &str = "permessage-deflate; client_max_window_bits";

async fn server() -> TestServer {
    TestServer::start(App::new().routes(routes![echo, plain, dedicated])).await
}

/// Upgrade with `offer` in `Sec-WebSocket-Extensions`: the stream, bytes after the
/// 101, and the extension the server answered.
async fn upgrade(server: &TestServer, path: &str, offer: Option<&str>) -> Conn {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let extra = offer
        .map(|offer| format!("Sec-WebSocket-Extensions: {offer}\r\n"))
        .unwrap_or_default();
    tcp.write_all(&upgrade_request(path, &extra, &[]))
        .await
        .unwrap();
    let response = read_response(&mut tcp).await;
    assert_eq!(response.status, 101, "{response:?}");
    let extension = response
        .header("sec-websocket-extensions")
        .map(str::to_owned);
    // Without server_no_context_takeover one inflater reads the server's whole stream.
    let server_context = extension
        .as_deref()
        .is_some_and(|e| !e.contains("server_no_context_takeover"))
        .then(|| Decompress::new(false));
    Conn {
        tcp,
        buf: response.rest,
        extension,
        compressor: Compress::new(flate2::Compression::default(), false),
        server_context,
        last_wire_len: 0,
    }
}

struct Conn {
    tcp: TcpStream,
    buf: Vec<u8>,
    extension: Option<String>,
    /// The client's compressor, keeping its context across messages as browsers do.
    compressor: Compress,
    /// The inflater of a server that keeps its context.
    server_context: Option<Decompress>,
    /// The payload length of the last message as it came on the wire.
    last_wire_len: usize,
}

impl Conn {
    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 64);
        self.compressor
            .compress_vec(data, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&TRAILER));
        out.truncate(out.len() - TRAILER.len());
        // Asked to drop its context: the next message starts afresh.
        if self
            .extension
            .as_deref()
            .is_some_and(|e| e.contains("client_no_context_takeover"))
        {
            self.compressor.reset();
        }
        out
    }

    async fn send_raw(&mut self, frame: &[u8]) {
        self.tcp.write_all(frame).await.unwrap();
    }

    /// Send `data` as one compressed message of `opcode` in `pieces` frames.
    async fn send_compressed(&mut self, opcode: u8, data: &[u8], pieces: usize) {
        let compressed = self.compress(data);
        let size = compressed.len().div_ceil(pieces).max(1);
        let chunks: Vec<&[u8]> = compressed.chunks(size).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let op = if i == 0 { opcode } else { 0 };
            let frame = frame(op, chunk, i + 1 == chunks.len(), i == 0);
            self.send_raw(&frame).await;
        }
    }

    /// The next server frame: its first byte and payload.
    async fn next_frame(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buf.len() >= 2 {
                let (header, len) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (4, u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize)
                    }
                    127 if self.buf.len() >= 10 => (
                        10,
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (2, n as usize),
                };
                if header != usize::MAX && self.buf.len() >= header + len {
                    let first = self.buf[0];
                    let payload = self.buf[header..header + len].to_vec();
                    self.buf.drain(..header + len);
                    return (first, payload);
                }
            }
            let mut chunk = [0u8; 16384];
            let n = within(self.tcp.read(&mut chunk)).await.unwrap();
            assert!(n > 0, "connection closed while waiting for a frame");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next message, inflated if it came compressed: (compressed, bytes).
    async fn next_message(&mut self) -> (bool, Vec<u8>) {
        let (first, payload) = self.next_frame().await;
        assert_eq!(first & 0x80, 0x80, "the server sends whole messages");
        self.last_wire_len = payload.len();
        let compressed = first & 0x40 != 0;
        if !compressed {
            return (false, payload);
        }
        // server_no_context_takeover: each message inflates on its own.
        let mut fresh = Decompress::new(false);
        let inflater = self.server_context.as_mut().unwrap_or(&mut fresh);
        let mut input = payload;
        input.extend_from_slice(&TRAILER);
        let mut out = Vec::with_capacity(1 << 20);
        inflater
            .decompress_vec(&input, &mut out, FlushDecompress::Sync)
            .unwrap();
        (true, out)
    }

    async fn close_code(&mut self) -> Option<(u16, String)> {
        raw_read_close(&mut self.tcp, std::mem::take(&mut self.buf)).await
    }
}

/// A masked client frame with FIN and RSV1 as given.
fn frame(opcode: u8, payload: &[u8], fin: bool, rsv1: bool) -> Vec<u8> {
    let mut frame = client_frame(opcode, payload);
    if !fin {
        frame[0] &= 0x7f;
    }
    if rsv1 {
        frame[0] |= 0x40;
    }
    frame
}

fn chat_json(i: usize) -> String {
    format!(
        r#"{{"type":"message","room":"general","user":"user-{}","text":"message number {i} about the weather, the build and the release plan","sent_at":"2026-12-07T12:{:02}:00Z"}}"#,
        i % 7,
        i % 60
    )
}

#[tokio::test]
async fn a_browsers_offer_is_accepted_and_messages_are_compressed_both_ways() {
    let server = server().await;
    let mut conn = upgrade(&server, "/ws", Some(BROWSER_OFFER)).await;
    let extension = conn.extension.clone().expect("the extension is answered");
    assert!(
        extension.starts_with("permessage-deflate; server_no_context_takeover"),
        "{extension}"
    );
    for i in 0..5 {
        // The client keeps its context: later messages refer back to earlier ones.
        let text = chat_json(i);
        conn.send_compressed(0x1, text.as_bytes(), 1).await;
        let (compressed, echoed) = conn.next_message().await;
        assert!(compressed, "message {i} comes back compressed");
        assert_eq!(String::from_utf8(echoed).unwrap(), text);
    }
    // Below the threshold a message goes out as it is, whichever way it came.
    conn.send_compressed(0x1, b"hi", 1).await;
    assert_eq!(conn.next_message().await, (false, b"hi".to_vec()));
    conn.send_raw(&client_frame(0x2, b"raw")).await;
    assert_eq!(conn.next_message().await, (false, b"raw".to_vec()));
}

#[tokio::test]
async fn a_compressed_message_in_fragments_is_inflated_across_them() {
    let server = server().await;
    let mut conn = upgrade(&server, "/ws", Some("permessage-deflate")).await;
    let text = (0..40).map(chat_json).collect::<Vec<_>>().join("\n");
    conn.send_compressed(0x1, text.as_bytes(), 7).await;
    let (compressed, echoed) = conn.next_message().await;
    assert!(compressed);
    assert_eq!(echoed, text.as_bytes());
    // A ping between two fragments is answered, and the message still arrives whole.
    let binary: Vec<u8> = chat_json(1).into_bytes().repeat(30);
    let compressed = conn.compress(&binary);
    let (a, b) = compressed.split_at(compressed.len() / 2);
    conn.send_raw(&frame(0x2, a, false, true)).await;
    conn.send_raw(&client_frame(0x9, b"p")).await;
    conn.send_raw(&frame(0x0, b, true, false)).await;
    assert_eq!(conn.next_frame().await, (0x8A, b"p".to_vec()));
    assert_eq!(conn.next_message().await, (true, binary));
}

#[tokio::test]
async fn an_absurd_or_unknown_offer_is_declined_and_the_handshake_succeeds() {
    let server = server().await;
    for offer in [
        "permessage-deflate; server_max_window_bits=99",
        "permessage-deflate; no_such_param",
        "x-webkit-deflate-frame",
        "permessage-deflate; ;;=",
    ] {
        let mut conn = upgrade(&server, "/ws", Some(offer)).await;
        assert_eq!(conn.extension, None, "{offer}");
        conn.send_raw(&client_frame(0x1, chat_json(1).as_bytes()))
            .await;
        assert_eq!(
            conn.next_message().await,
            (false, chat_json(1).into_bytes())
        );
    }
    // The next acceptable offer is taken.
    let conn = upgrade(
        &server,
        "/ws",
        Some("permessage-deflate; server_max_window_bits=99, permessage-deflate; server_max_window_bits=10"),
    )
    .await;
    let extension = conn.extension.unwrap();
    assert!(
        extension.contains("server_max_window_bits=10"),
        "{extension}"
    );
    // A route with compression off never answers it.
    let conn = upgrade(&server, "/plain", Some(BROWSER_OFFER)).await;
    assert_eq!(conn.extension, None);
}

/// Each hostile input closes its connection with `code`; a well-behaved client on the
/// same server is served before and after.
#[tokio::test]
async fn hostile_compressed_input_closes_with_the_right_code() {
    let server = server().await;
    let mut bystander = upgrade(&server, "/ws", Some(BROWSER_OFFER)).await;

    type Attack = fn(&mut Conn) -> Vec<Vec<u8>>;
    let attacks: [(&str, Option<&str>, Attack, u16); 6] = [
        (
            "a decompression bomb",
            Some(BROWSER_OFFER),
            |conn| {
                // 100 MiB of zeros compress to about 100 KiB; the limit is 1 MiB.
                let bomb = conn.compress(&vec![0u8; 100 << 20]);
                assert!(bomb.len() < 200 << 10);
                vec![frame(0x2, &bomb, true, true)]
            },
            1009,
        ),
        (
            "a compressed control frame",
            Some(BROWSER_OFFER),
            |_| vec![frame(0x9, b"p", true, true)],
            1002,
        ),
        (
            "RSV1 on a continuation frame",
            Some(BROWSER_OFFER),
            |conn| {
                let data = conn.compress(chat_json(3).as_bytes());
                let (a, b) = data.split_at(data.len() / 2);
                vec![frame(0x1, a, false, true), frame(0x0, b, true, true)]
            },
            1002,
        ),
        (
            "RSV1 without the extension",
            None,
            |conn| {
                let data = conn.compress(chat_json(3).as_bytes());
                vec![frame(0x1, &data, true, true)]
            },
            1002,
        ),
        (
            "invalid UTF-8 inside compressed text",
            Some(BROWSER_OFFER),
            |conn| {
                let data = conn.compress(b"valid so far \xff\xfe then not");
                vec![frame(0x1, &data, true, true)]
            },
            1007,
        ),
        (
            "garbage deflate data",
            Some(BROWSER_OFFER),
            |_| vec![frame(0x2, &[0xff; 40], true, true)],
            1007,
        ),
    ];
    for (name, offer, attack, code) in attacks {
        let mut conn = upgrade(&server, "/ws", offer).await;
        for frame in attack(&mut conn) {
            // The server may close before taking all of it.
            let _ = conn.tcp.write_all(&frame).await;
        }
        let close = conn.close_code().await;
        assert_eq!(close.map(|(c, _)| c), Some(code), "{name}");
        let text = chat_json(code as usize);
        bystander.send_compressed(0x1, text.as_bytes(), 1).await;
        assert_eq!(
            bystander.next_message().await,
            (true, text.into_bytes()),
            "still serving others after {name}"
        );
    }
}

/// Joins room `r`, says "joined", then broadcasts to the room every text it receives;
/// "bye" closes with 4000.
#[websocket("/room")]
async fn room(ws: WebSocket, hub: wsframe::Hub) -> wsframe::Result<()> {
    room_loop(ws, hub).await
}

/// The same room, its members' contexts kept: a broadcast is compressed per recipient.
#[websocket(
    "/dedicated-room",
    compression = wsframe::Compression::default().mode(wsframe::CompressionMode::Dedicated)
)]
async fn dedicated_room(ws: WebSocket, hub: wsframe::Hub) -> wsframe::Result<()> {
    room_loop(ws, hub).await
}

async fn room_loop(mut ws: WebSocket, hub: wsframe::Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("r", &ws);
    ws.send_text("joined").await?;
    while let Ok(text) = ws.receive_text().await {
        if text == "bye" {
            return ws.close(4000, "bye").await;
        }
        hub.room("r").broadcast_text(text);
    }
    Ok(())
}

#[tokio::test]
async fn the_test_client_speaks_deflate_and_a_broadcast_is_compressed_once() {
    use wsframe::testing::TestClient;
    let client = TestClient::new(App::new().routes(routes![room])).unwrap();
    let mut members = Vec::new();
    for _ in 0..4 {
        let mut ws = client.connect("/room").deflate().await.unwrap();
        assert_eq!(
            ws.extensions(),
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=11")
        );
        assert_eq!(ws.receive_text().await.unwrap(), "joined");
        members.push(ws);
    }
    let mut uncompressed = client.connect("/room").await.unwrap();
    assert_eq!(uncompressed.extensions(), None);
    assert_eq!(uncompressed.receive_text().await.unwrap(), "joined");
    for n in 1..=3u64 {
        let text = chat_json(n as usize);
        members[0].send_text(text.clone()).await.unwrap();
        for ws in members.iter_mut().chain([&mut uncompressed]) {
            assert_eq!(ws.receive_text().await.unwrap(), text);
        }
        assert_eq!(
            client.metrics().snapshot().messages_compressed,
            n,
            "one compression per broadcast, not per recipient"
        );
    }
    // The close comes through the deflate client with its code and reason.
    members[1].send_text("bye").await.unwrap();
    let close = members[1].receive_close().await.unwrap();
    assert_eq!(
        (close.code.map(|c| c.0), close.reason.as_str()),
        (Some(4000), "bye")
    );
}

#[tokio::test]
async fn a_dedicated_route_keeps_the_servers_context_between_messages() {
    let server = server().await;
    let mut conn = upgrade(&server, "/dedicated", Some(BROWSER_OFFER)).await;
    assert_eq!(
        conn.extension.as_deref(),
        Some("permessage-deflate; client_max_window_bits=11")
    );
    let mut sizes = Vec::new();
    for i in 0..4 {
        let text = chat_json(i);
        conn.send_compressed(0x1, text.as_bytes(), 1).await;
        let (compressed, echoed) = conn.next_message().await;
        assert!(compressed);
        assert_eq!(String::from_utf8(echoed).unwrap(), text, "message {i}");
        sizes.push(conn.last_wire_len);
    }
    // Later messages refer back to the earlier ones.
    assert!(sizes[3] < sizes[0] / 2, "{sizes:?}");
    // Small ones go out as they are, leaving the context as it was.
    conn.send_compressed(0x1, b"hi", 1).await;
    assert_eq!(conn.next_message().await, (false, b"hi".to_vec()));
    let text = chat_json(9);
    conn.send_compressed(0x1, text.as_bytes(), 1).await;
    assert_eq!(conn.next_message().await, (true, text.into_bytes()));
    // A client that asks for server_no_context_takeover gets it on this route too.
    let conn = upgrade(
        &server,
        "/dedicated",
        Some("permessage-deflate; server_no_context_takeover"),
    )
    .await;
    assert_eq!(
        conn.extension.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
}

#[tokio::test]
async fn a_broadcast_to_dedicated_members_is_compressed_for_each_in_its_context() {
    use wsframe::testing::TestClient;
    let client = TestClient::new(App::new().routes(routes![dedicated_room])).unwrap();
    let mut members = Vec::new();
    for _ in 0..3 {
        let mut ws = client.connect("/dedicated-room").deflate().await.unwrap();
        assert_eq!(
            ws.extensions(),
            Some("permessage-deflate; client_max_window_bits=11")
        );
        assert_eq!(ws.receive_text().await.unwrap(), "joined");
        members.push(ws);
    }
    for n in 1..=3u64 {
        let text = chat_json(n as usize);
        members[0].send_text(text.clone()).await.unwrap();
        for ws in &mut members {
            assert_eq!(ws.receive_text().await.unwrap(), text);
        }
        assert_eq!(client.metrics().snapshot().messages_compressed, 3 * n);
    }
}

#[tokio::test]
async fn the_test_client_echoes_empty_messages_over_deflate() {
    use wsframe::testing::TestClient;
    let client = TestClient::new(App::new().routes(routes![echo])).unwrap();
    let mut ws = client.connect("/ws").deflate().await.unwrap();
    for text in ["x", "", "", "y"] {
        ws.send_text(text).await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), text);
    }
    ws.send_bytes(Vec::new()).await.unwrap();
    assert!(ws.receive_bytes().await.unwrap().is_empty());
}
