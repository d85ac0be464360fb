//! Hostile clients (issue 7): each gets a clear answer or close, and a well-behaved
//! client is served throughout.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::prelude::*;
use wsframe::{Config, Limits, ProxyHeader, ProxyNet};
use wsframe_tests::*;

#[websocket("/ws")]
async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

/// Tells the client the address the server believes it has.
#[websocket("/whoami")]
async fn whoami(ws: WebSocket, ClientAddr(ip): ClientAddr) -> wsframe::Result<()> {
    ws.send_text(ip.to_string()).await?;
    Ok(())
}

/// Told "bye", waits for what comes next, whatever it is, then closes with 4000.
#[websocket("/bye")]
async fn bye(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(text) = ws.receive_text().await {
        if text == "bye" {
            let _ = ws.receive().await;
            ws.close(4000, "bye").await?;
        }
    }
    Ok(())
}

async fn start(config: Config) -> TestServer {
    TestServer::start(App::new().config(config).routes(routes![echo, whoami, bye])).await
}

async fn assert_echoes(client: &mut Client, text: &str) {
    client.send(WsMessage::text(text)).await.unwrap();
    assert_eq!(
        within(client.next()).await.unwrap().unwrap(),
        WsMessage::text(text)
    );
}

/// A frame of `opcode` with the FIN bit as given (client frames are masked).
fn fragment(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut frame = client_frame(opcode, payload);
    if !fin {
        frame[0] &= 0x7f;
    }
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_handshakes_are_cut_at_the_handshake_timeout_while_others_are_served() {
    let timeout = Duration::from_secs(1);
    let server = start(Config::default().handshake_timeout(timeout)).await;
    let request = upgrade_request("/ws", "", &[]);
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..500 {
        let request = request.clone();
        let addr = server.addr;
        slow.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            // One byte every 100 ms: the handshake would take ~20 s.
            for byte in request {
                if tcp.write_all(&[byte]).await.is_err() {
                    break;
                }
                let mut buf = [0u8; 1];
                // The server closing (or answering, then closing) ends the wait.
                if tokio::time::timeout(Duration::from_millis(100), tcp.read(&mut buf))
                    .await
                    .is_ok()
                {
                    return Some(Instant::now());
                }
            }
            None
        }));
    }
    // Meanwhile a normal client connects and echoes.
    let mut client = connect(server.addr, "/ws").await;
    for n in 0..5 {
        assert_echoes(&mut client, &format!("alive {n}")).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in slow {
        let closed_at = within(task).await.unwrap().expect("closed by the server");
        let after = closed_at - started;
        assert!(
            after >= timeout - Duration::from_millis(100),
            "closed early: {after:?}"
        );
        assert!(after < timeout * 4, "closed late: {after:?}");
    }
    assert_echoes(&mut client, "still alive").await;
}

#[tokio::test]
async fn header_bombs_get_431_and_the_server_goes_on() {
    let server = start(Config::default()).await;
    // 100 KiB of one header.
    let big = format!(
        "GET /ws HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 << 10)
    );
    // 10,000 small headers.
    let mut many = String::from("GET /ws HTTP/1.1\r\nHost: t\r\n");
    for n in 0..10_000 {
        many.push_str(&format!("X-{n}: v\r\n"));
    }
    many.push_str("\r\n");
    for (name, request) in [("100 KiB header", big), ("10,000 headers", many)] {
        let response = raw_request(server.addr, request.as_bytes()).await;
        assert!(
            response.status == 431 || response.status == 400,
            "{name}: {}",
            response.status
        );
    }
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test]
async fn a_message_in_100000_fragments_arrives_whole() {
    let server = start(Config::default()).await;
    let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
    assert!(rest.is_empty());
    let mut frames = Vec::with_capacity(100_000 * 7);
    frames.extend(fragment(0x1, false, b"a"));
    for _ in 1..99_999 {
        frames.extend(fragment(0x0, false, b"a"));
    }
    frames.extend(fragment(0x0, true, b"a"));
    tcp.write_all(&frames).await.unwrap();
    // The echo: one text frame of 100,000 bytes (a 64-bit length: 10 header bytes).
    let mut head = [0u8; 10];
    within(tcp.read_exact(&mut head)).await.unwrap();
    assert_eq!(head[0], 0x81, "one final text frame");
    assert_eq!(head[1], 127);
    assert_eq!(u64::from_be_bytes(head[2..10].try_into().unwrap()), 100_000);
    let mut payload = vec![0u8; 100_000];
    within(tcp.read_exact(&mut payload)).await.unwrap();
    assert!(payload.iter().all(|b| *b == b'a'));
}

#[tokio::test]
async fn a_fragmented_message_over_the_limit_is_refused_before_it_is_whole() {
    let limit = 64 << 10;
    let server = start(Config::default().limits(Limits::default().max_message_size(limit))).await;
    let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
    // Fragments of 8 KiB: the server must close once the total passes 64 KiB, not wait
    // for the end of the message (which never comes).
    let chunk = vec![b'x'; 8 << 10];
    tcp.write_all(&fragment(0x2, false, &chunk)).await.unwrap();
    for _ in 0..(limit / chunk.len()) + 1 {
        if tcp.write_all(&fragment(0x0, false, &chunk)).await.is_err() {
            break;
        }
    }
    assert_eq!(
        raw_read_close(&mut tcp, rest).await.map(|c| c.0),
        Some(1009)
    );
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test]
async fn invalid_utf8_in_one_byte_chops_is_refused_with_1007_before_the_rest_arrives() {
    let server = start(Config::default()).await;
    let (mut tcp, mut buf) = raw_upgrade(server.addr, "/ws").await;
    // "κόσμε", then 0xF4 0x90 (no character starts so), then text that never comes.
    let mut payload = "κόσμε".as_bytes().to_vec();
    payload.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
    payload.extend_from_slice(&[b'x'; 64]);
    let frame = client_frame(0x1, &payload);
    let bad_at = 2 + 4 + "κόσμε".len() + 2; // header, mask, text, the two bytes
    for byte in &frame[..bad_at] {
        tcp.write_all(&[*byte]).await.unwrap();
        tcp.flush().await.unwrap();
    }
    // The close arrives while 66 bytes of the frame are still unsent.
    let mut chunk = [0u8; 256];
    while parse_close(&buf).is_none() {
        let n = within(tcp.read(&mut chunk)).await.unwrap();
        assert!(n > 0, "closed without a close frame");
        buf.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(parse_close(&buf).map(|c| c.0), Some(1007));
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test]
async fn a_valid_message_before_a_bad_frame_is_echoed_then_the_close_is_1002() {
    let server = start(Config::default()).await;
    for round in 0..20 {
        let (mut tcp, mut buf) = raw_upgrade(server.addr, "/ws").await;
        // One write: the message and, right behind it, a frame with RSV1 set.
        let mut bytes = client_frame(0x1, format!("hello {round}").as_bytes());
        let mut bad = client_frame(0x1, b"compressed?");
        bad[0] |= 0x40;
        bytes.extend(bad);
        tcp.write_all(&bytes).await.unwrap();
        let expected = format!("hello {round}");
        let mut chunk = [0u8; 256];
        while parse_close(&buf).is_none() && buf.len() < 2 + expected.len() {
            let n = within(tcp.read(&mut chunk)).await.unwrap();
            assert!(n > 0, "round {round}: closed without a close frame");
            buf.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(
            buf[0], 0x81,
            "round {round}: the echo comes first, not the close"
        );
        assert_eq!(
            &buf[2..2 + expected.len()],
            expected.as_bytes(),
            "round {round}"
        );
        buf.drain(..2 + expected.len());
        assert_eq!(
            raw_read_close(&mut tcp, buf).await.map(|c| c.0),
            Some(1002),
            "round {round}"
        );
    }
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test]
async fn a_close_the_handler_asks_for_after_a_fault_carries_the_faults_code() {
    let server = start(Config::default()).await;
    // "bye" makes the handler close with 4000 once it has seen what follows; what
    // follows is a bad frame: the peer learns what it did wrong (1002), not the
    // handler's code, and the server does not read on.
    let (mut tcp, buf) = raw_upgrade(server.addr, "/bye").await;
    let mut bytes = client_frame(0x1, b"bye");
    let mut bad = client_frame(0x1, b"compressed?");
    bad[0] |= 0x40;
    bytes.extend(bad);
    tcp.write_all(&bytes).await.unwrap();
    assert_eq!(raw_read_close(&mut tcp, buf).await.map(|c| c.0), Some(1002));
    assert!(closed_by_peer(&mut tcp).await);
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test]
async fn bad_close_frames_get_the_right_code() {
    let server = start(Config::default()).await;
    let mut invalid_utf8 = 1000u16.to_be_bytes().to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("close code 1004", 1004u16.to_be_bytes().to_vec(), 1002),
        ("close code 1006", 1006u16.to_be_bytes().to_vec(), 1002),
        ("close code 999", 999u16.to_be_bytes().to_vec(), 1002),
        ("close code 5000", 5000u16.to_be_bytes().to_vec(), 1002),
        ("close reason not UTF-8", invalid_utf8, 1007),
    ];
    for (name, payload, expected) in cases {
        let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
        tcp.write_all(&client_frame(0x8, &payload)).await.unwrap();
        assert_eq!(
            raw_read_close(&mut tcp, rest).await.map(|c| c.0),
            Some(expected),
            "{name}"
        );
    }
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    async fn whoami(server: &TestServer, headers: &str) -> String {
        let request = upgrade_request("/whoami", headers, &[]);
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(&request).await.unwrap();
        let response = read_response(&mut tcp).await;
        assert_eq!(response.status, 101);
        let mut client = tokio_tungstenite::WebSocketStream::from_partially_read(
            tcp,
            response.rest,
            tokio_tungstenite::tungstenite::protocol::Role::Client,
            None,
        )
        .await;
        match within(client.next()).await {
            Some(Ok(WsMessage::Text(text))) => text.as_str().to_owned(),
            other => panic!("{other:?}"),
        }
    }
    let xff = "X-Forwarded-For: 203.0.113.7\r\n";
    // What nginx appends to a client that sent its own X-Forwarded-For.
    let spoofed_xff = "X-Forwarded-For: 1.2.3.4, 198.51.100.9\r\n";
    let rfc = "Forwarded: for=\"[2001:db8::1]:4711\";proto=https\r\n";
    // A client's own `Forwarded`, passed on unchanged by an X-Forwarded-For proxy.
    let mixed = "Forwarded: for=1.2.3.4\r\nX-Forwarded-For: 203.0.113.7\r\n";
    // A client's own X-Forwarded-For, passed on unchanged by a `Forwarded` proxy.
    let mixed_rfc = "X-Forwarded-For: 1.2.3.4\r\nForwarded: for=203.0.113.7\r\n";
    let local = || "127.0.0.0/8".parse::<ProxyNet>().unwrap();

    // The test client connects from 127.0.0.1: not trusted by default, so a client
    // cannot make itself someone else.
    let plain = start(Config::default()).await;
    for headers in [xff, rfc, mixed, ""] {
        assert_eq!(whoami(&plain, headers).await, "127.0.0.1", "{headers}");
    }

    // Behind a trusted X-Forwarded-For proxy (nginx as the guide sets it up).
    let nginx = start(Config::default().trust_proxy(local(), ProxyHeader::XForwardedFor)).await;
    assert_eq!(whoami(&nginx, xff).await, "203.0.113.7");
    assert_eq!(
        whoami(&nginx, spoofed_xff).await,
        "198.51.100.9",
        "rightmost"
    );
    assert_eq!(
        whoami(&nginx, mixed).await,
        "203.0.113.7",
        "Forwarded ignored"
    );
    assert_eq!(whoami(&nginx, rfc).await, "127.0.0.1", "Forwarded ignored");
    assert_eq!(whoami(&nginx, "").await, "127.0.0.1");
    // A client's own value with bytes over 0x7f (obs-text, which httparse and nginx let
    // through), joined by nginx with the address it saw: only the bad item is unusable.
    let obs_text = "X-Forwarded-For: \u{ff}, 203.0.113.9\r\n";
    assert_eq!(whoami(&nginx, obs_text).await, "203.0.113.9", "obs-text");
    let obs_text_right = "X-Forwarded-For: 203.0.113.9, 10.0.0.\u{ff}\r\n";
    assert_eq!(whoami(&nginx, obs_text_right).await, "127.0.0.1", "bad hop");

    // Behind a trusted `Forwarded` proxy.
    let rfc_proxy = start(Config::default().trust_proxy(local(), ProxyHeader::Forwarded)).await;
    assert_eq!(whoami(&rfc_proxy, rfc).await, "2001:db8::1");
    assert_eq!(whoami(&rfc_proxy, mixed_rfc).await, "203.0.113.7");
    let obs_text_rfc = "Forwarded: for=\u{ff}, for=203.0.113.9\r\n";
    assert_eq!(
        whoami(&rfc_proxy, obs_text_rfc).await,
        "203.0.113.9",
        "obs-text"
    );
    assert_eq!(
        whoami(&rfc_proxy, xff).await,
        "127.0.0.1",
        "X-Forwarded-For ignored"
    );

    // A chain: a load balancer on 10.0.0.0/8 in front of the local proxy; the client
    // claimed 1.2.3.4 first.
    let chained = start(
        Config::default()
            .trust_proxy(local(), ProxyHeader::XForwardedFor)
            .trust_proxy(
                "10.0.0.0/8".parse::<ProxyNet>().unwrap(),
                ProxyHeader::XForwardedFor,
            ),
    )
    .await;
    let chain = "X-Forwarded-For: 1.2.3.4, 203.0.113.7, 10.1.2.3\r\n";
    assert_eq!(
        whoami(&chained, chain).await,
        "203.0.113.7",
        "past trusted hops"
    );
    let all_trusted = "X-Forwarded-For: 10.9.9.9, 10.1.2.3\r\n";
    assert_eq!(whoami(&chained, all_trusted).await, "10.9.9.9");
    assert_eq!(
        whoami(&nginx, chain).await,
        "10.1.2.3",
        "10/8 not trusted there"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_100000_pings_is_answered_without_a_backlog() {
    let server = start(Config::default()).await;
    let (mut tcp, mut rest) = raw_upgrade(server.addr, "/ws").await;
    let ping = client_frame(0x9, b"p");
    let mut flood = Vec::with_capacity(ping.len() * 100_000);
    for _ in 0..100_000 {
        flood.extend_from_slice(&ping);
    }
    // Write the flood while reading the pongs (the server writes as it reads), then a
    // text message: its echo proves the connection is still in order behind the flood.
    let (mut reader, mut writer) = tcp.split();
    let write = async {
        writer.write_all(&flood).await.unwrap();
        writer
            .write_all(&client_frame(0x1, b"after the flood"))
            .await
            .unwrap();
    };
    let read = async {
        let mut pongs = 0usize;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            // Server frames: 2-byte header (all short here), unmasked.
            while rest.len() >= 2 && rest.len() >= 2 + (rest[1] & 0x7f) as usize {
                let len = (rest[1] & 0x7f) as usize;
                match rest[0] & 0x0f {
                    0xA => pongs += 1,
                    0x1 => {
                        assert_eq!(&rest[2..2 + len], b"after the flood");
                        return pongs;
                    }
                    other => panic!("unexpected opcode {other:#x}"),
                }
                rest.drain(..2 + len);
            }
            let n = reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed during the flood");
            rest.extend_from_slice(&buf[..n]);
        }
    };
    let ((), pongs) = within(async { tokio::join!(write, read) }).await;
    // Answered, but never more pongs than pings (only the latest unanswered ping is
    // kept: a flood cannot grow a queue).
    assert!((1..=100_000).contains(&pongs), "{pongs} pongs");
    eprintln!("100,000 pings answered with {pongs} pongs");
    let mut client = connect(server.addr, "/ws").await;
    assert_echoes(&mut client, "fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_1000_clients_flushes_then_sends_1001_to_every_one() {
    let grace = Duration::from_secs(10);
    let app = App::new()
        .config(Config::default().shutdown_grace(grace))
        .routes(routes![echo, whoami]);
    let hub = app.hub();
    let server = TestServer::start(app).await;
    let mut clients = Vec::new();
    for _ in 0..1000 {
        clients.push(connect(server.addr, "/ws").await);
    }
    wait_until("all registered", || hub.connection_count() == 1000).await;
    // Queued for everyone right before the shutdown: it must arrive before the close.
    assert_eq!(hub.broadcast_text("last words"), 1000);
    let started = Instant::now();
    server.handle.shutdown();
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { read_until_close(&mut ws).await }))
        .collect();
    for reader in readers {
        let (before, close) = within(reader).await.unwrap();
        assert_eq!(before, vec![WsMessage::text("last words")]);
        assert_eq!(close, Some((1001, "server shutting down".into())));
    }
    within(server.task).await.unwrap().unwrap();
    let took = started.elapsed();
    eprintln!("1,000 clients closed with 1001 and the server stopped in {took:?}");
    assert!(took < grace, "took {took:?}");
}
