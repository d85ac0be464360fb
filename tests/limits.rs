//! Bad input and limits: each case closes (or refuses) the offender with the right
//! code while a well-behaved client keeps being served.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::{App, Config, Limits, MessageRate, Route, RouteLimits, State, WebSocket};
use wsframe_tests::*;

async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

async fn panics_on_message(mut ws: WebSocket) -> wsframe::Result<()> {
    let text = ws.receive_text().await?;
    panic!("handler bug triggered by {text:?}");
}

/// Sends `n` numbered messages as soon as it is told to, then waits for the close.
async fn burst(
    mut ws: WebSocket,
    State(ready): State<mpsc::UnboundedSender<()>>,
) -> wsframe::Result<()> {
    let n: usize = ws
        .receive_text()
        .await?
        .parse()
        .map_err(wsframe::Error::custom)?;
    for i in 0..n {
        ws.send_text(format!("msg {i}")).await?;
    }
    let _ = ready.send(());
    while ws.receive().await.is_ok() {}
    Ok(())
}

fn app(config: Config) -> (App, mpsc::UnboundedReceiver<()>) {
    let (ready_tx, ready_rx) = mpsc::unbounded_channel();
    let app = App::new()
        .config(config)
        .state(ready_tx)
        .websocket("/ws", echo)
        .route(Route::websocket("/small", echo).limits(RouteLimits::new().max_message_size(1024)))
        .route(
            Route::websocket("/large", echo).limits(
                RouteLimits::new()
                    .max_message_size(8 << 20)
                    .max_frame_size(4 << 20),
            ),
        )
        .route(
            Route::websocket("/rated", echo)
                .limits(RouteLimits::new().max_message_rate(MessageRate::per_second(20).burst(10))),
        )
        .websocket("/panic", panics_on_message)
        .websocket("/burst", burst);
    (app, ready_rx)
}

async fn start() -> TestServer {
    TestServer::start(app(Config::default()).0).await
}

/// A well-behaved client still gets its echo.
async fn assert_still_serving(server: &TestServer) {
    let mut ws = connect(server.addr, "/ws").await;
    ws.send(WsMessage::text("still serving?")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("still serving?")
    );
}

#[tokio::test]
async fn oversized_message_and_frame_close_with_1009() {
    let server = start().await;
    // A whole message over the route's limit.
    let mut ws = connect(server.addr, "/small").await;
    ws.send(WsMessage::text("x".repeat(2048))).await.unwrap();
    assert_eq!(
        read_until_close(&mut ws).await.1,
        Some((1009, "message too big".into()))
    );

    // A fragmented message whose fragments each fit but whose sum does not: refused
    // before it is buffered whole.
    let (mut tcp, rest) = raw_upgrade(server.addr, "/small").await;
    let mut first = client_frame(0x1, &[b'a'; 600]);
    first[0] &= 0x7F; // not final
    tcp.write_all(&first).await.unwrap();
    let mut cont = client_frame(0x0, &[b'a'; 600]);
    cont[0] &= 0x7F;
    tcp.write_all(&cont).await.unwrap();
    assert_eq!(
        raw_read_close(&mut tcp, rest).await,
        Some((1009, "message too big".into()))
    );

    // One frame over the frame limit (4 MiB on /large) is refused from its header: only
    // the 10-byte header is sent, never the payload.
    let (mut tcp, rest) = raw_upgrade(server.addr, "/large").await;
    let mut header = vec![0x82u8, 0x80 | 127];
    header.extend_from_slice(&(5u64 << 20).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]); // mask key
    tcp.write_all(&header).await.unwrap();
    assert_eq!(
        raw_read_close(&mut tcp, rest).await.map(|c| c.0),
        Some(1009)
    );

    // The default limit is 1 MiB; /large raises it for its route only.
    let mut big = connect(server.addr, "/large").await;
    let payload = vec![7u8; 3 << 20];
    big.send(WsMessage::binary(payload.clone())).await.unwrap();
    assert_eq!(
        within(big.next()).await.unwrap().unwrap(),
        WsMessage::binary(payload.clone())
    );
    let mut default = connect(server.addr, "/ws").await;
    default.send(WsMessage::binary(payload)).await.unwrap();
    assert_eq!(
        read_until_close(&mut default).await.1.map(|c| c.0),
        Some(1009)
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn invalid_utf8_closes_with_1007() {
    let server = start().await;
    let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
    tcp.write_all(&client_frame(0x1, b"ok \xff\xfe"))
        .await
        .unwrap();
    assert_eq!(
        raw_read_close(&mut tcp, rest).await,
        Some((1007, "invalid UTF-8".into()))
    );
    assert!(
        closed_by_peer(&mut tcp).await,
        "server must close the TCP connection"
    );

    // Invalid UTF-8 in a close reason is also 1007.
    let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
    tcp.write_all(&client_frame(0x8, b"\x03\xe8\xff\xfe"))
        .await
        .unwrap();
    assert_eq!(
        raw_read_close(&mut tcp, rest).await.map(|c| c.0),
        Some(1007)
    );
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn protocol_violations_close_with_1002() {
    let server = start().await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("reserved bits", {
            let mut f = client_frame(0x1, b"hi");
            f[0] |= 0x40;
            f
        }),
        ("unknown opcode", client_frame(0x3, b"hi")),
        ("unmasked frame", vec![0x81, 0x02, b'h', b'i']),
        (
            "control frame over 125 bytes",
            client_frame(0x9, &[0u8; 126]),
        ),
        ("close code 999", client_frame(0x8, &999u16.to_be_bytes())),
        ("close code 1005", client_frame(0x8, &1005u16.to_be_bytes())),
        ("close code 5000", client_frame(0x8, &5000u16.to_be_bytes())),
    ];
    for (name, frame) in cases {
        let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
        tcp.write_all(&frame).await.unwrap();
        assert_eq!(
            raw_read_close(&mut tcp, rest).await.map(|c| c.0),
            Some(1002),
            "{name}"
        );
    }
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_panicking_handler_closes_its_connection_with_1011_only() {
    let server = start().await;
    let mut bystander = connect(server.addr, "/ws").await;
    let mut victim = connect(server.addr, "/panic").await;
    victim.send(WsMessage::text("trigger")).await.unwrap();
    assert_eq!(
        read_until_close(&mut victim).await.1,
        Some((1011, "internal error".into()))
    );
    bystander.send(WsMessage::text("unaffected")).await.unwrap();
    assert_eq!(
        within(bystander.next()).await.unwrap().unwrap(),
        WsMessage::text("unaffected")
    );
    assert_eq!(server.metrics().handler_panics, 1);
}

#[tokio::test]
async fn a_client_that_vanishes_mid_message_frees_its_connection() {
    let server = start().await;
    let (mut tcp, _) = raw_upgrade(server.addr, "/ws").await;
    wait_until("the connection is open", || {
        server.metrics().connections_open == 1
    })
    .await;
    // A frame header announcing 1000 bytes, 10 of them sent, then the client is gone.
    let frame = client_frame(0x2, &[1u8; 1000]);
    tcp.write_all(&frame[..18]).await.unwrap();
    drop(tcp);
    wait_until("the open-connection counter is back to zero", || {
        server.metrics().connections_open == 0
    })
    .await;
    assert_still_serving(&server).await;
}

#[tokio::test]
async fn a_handshake_that_never_completes_is_closed_after_the_timeout() {
    let config = Config::default().handshake_timeout(Duration::from_millis(300));
    let server = TestServer::start(app(config).0).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    // Others are served meanwhile.
    assert_still_serving(&server).await;
    assert!(
        closed_by_peer(&mut slow).await,
        "the slow handshake must be closed"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "closed too early"
    );
}

#[tokio::test]
async fn connections_over_the_limit_get_503_and_existing_ones_are_unaffected() {
    let server = TestServer::start(app(Config::default().max_connections(2)).0).await;
    let mut a = connect(server.addr, "/ws").await;
    let _b = connect(server.addr, "/ws").await;
    let r = raw_request(server.addr, &upgrade_request("/ws", "", &[])).await;
    assert_eq!(r.status, 503, "{}", r.status_line);
    assert_eq!(server.metrics().connections_refused, 1);
    a.send(WsMessage::text("a")).await.unwrap();
    assert_eq!(
        within(a.next()).await.unwrap().unwrap(),
        WsMessage::text("a")
    );
    // Once one leaves, a new client gets in.
    drop(a);
    wait_until("a slot is free", || server.metrics().connections_open == 1).await;
    // The slot is released when the connection task ends, just after the counter.
    let mut c = within(async {
        loop {
            match try_connect(server.addr, "/ws", &[]).await {
                Ok(c) => break c,
                Err(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await;
    c.send(WsMessage::text("c")).await.unwrap();
    assert_eq!(
        within(c.next()).await.unwrap().unwrap(),
        WsMessage::text("c")
    );
}

#[tokio::test]
async fn graceful_shutdown_flushes_queued_messages_then_sends_1001() {
    init_tracing();
    let (app, mut ready) = app(Config::default().shutdown_grace(Duration::from_secs(5)));
    let server = TestServer::start(app).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut ws = connect(server.addr, "/burst").await;
        ws.send(WsMessage::text("40")).await.unwrap();
        clients.push(ws);
    }
    for _ in 0..3 {
        within(ready.recv()).await.unwrap();
    }
    // Nothing has been read yet: the 40 messages sit in queues and socket buffers.
    server.handle.shutdown();
    for ws in &mut clients {
        let (before, close) = read_until_close(ws).await;
        let expected: Vec<_> = (0..40)
            .map(|i| WsMessage::text(format!("msg {i}")))
            .collect();
        assert_eq!(before, expected);
        assert_eq!(close, Some((1001, "server shutting down".into())));
    }
    let result = within(server.task).await.unwrap();
    assert!(result.is_ok());
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "listener must be closed"
    );
}

#[tokio::test]
async fn idle_limits_come_from_the_app_unless_a_route_overrides_them() {
    let limits = Limits::default()
        .idle_timeout(Duration::from_millis(200))
        .ping_interval(Duration::from_secs(60));
    let (app, _) = app(Config::default().limits(limits));
    let patient = RouteLimits::new().idle_timeout(Duration::from_secs(60));
    let app = app.route(Route::websocket("/patient", echo).limits(patient));
    let server = TestServer::start(app).await;
    let started = std::time::Instant::now();
    let (mut tcp, rest) = raw_upgrade(server.addr, "/ws").await;
    let (mut patient, _) = raw_upgrade(server.addr, "/patient").await;
    assert_eq!(
        raw_read_close(&mut tcp, rest).await,
        Some((1001, "idle timeout".into()))
    );
    // The route that overrides the idle timeout outlives the app-wide one by far.
    tokio::time::sleep_until((started + Duration::from_millis(800)).into()).await;
    patient
        .write_all(&client_frame(0x1, b"still here"))
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = within(tokio::io::AsyncReadExt::read(&mut patient, &mut buf))
        .await
        .unwrap();
    assert_eq!(&buf[..n], b"\x81\x0astill here");
}

#[tokio::test]
async fn a_client_over_its_message_rate_is_closed_with_1008_and_others_go_on() {
    let server = start().await;
    // Within the rate: a burst of 10, then one message per 100 ms (20/s allowed).
    let mut polite = connect(server.addr, "/rated").await;
    for n in 0..10 {
        polite.send(WsMessage::text(n.to_string())).await.unwrap();
    }
    for n in 0..10 {
        assert_eq!(
            within(polite.next()).await.unwrap().unwrap(),
            WsMessage::text(n.to_string())
        );
    }
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    ticker.tick().await; // the first tick is immediate; the burst used the tokens
    for n in 0..5 {
        ticker.tick().await;
        polite
            .send(WsMessage::text(format!("tick {n}")))
            .await
            .unwrap();
        assert_eq!(
            within(polite.next()).await.unwrap().unwrap(),
            WsMessage::text(format!("tick {n}"))
        );
    }

    // Over it: 100 messages at once.
    let mut flooder = connect(server.addr, "/rated").await;
    for n in 0..100 {
        if flooder.send(WsMessage::text(n.to_string())).await.is_err() {
            break;
        }
    }
    let (_, close) = read_until_close(&mut flooder).await;
    assert_eq!(close.map(|(code, _)| code), Some(1008));
    assert_eq!(server.metrics().rate_limited, 1);

    // The polite client and everyone else are unaffected.
    polite.send(WsMessage::text("still here")).await.unwrap();
    assert_eq!(
        within(polite.next()).await.unwrap().unwrap(),
        WsMessage::text("still here")
    );
    assert_still_serving(&server).await;
}

#[wsframe::websocket("/attributed", max_message_size = 1024)]
async fn attributed_echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

#[tokio::test]
async fn route_limits_added_to_an_attribute_route_keep_the_attributes_options() {
    use wsframe::IntoRoute;
    use wsframe::testing::TestClient;
    let rated = RouteLimits::new().max_message_rate(MessageRate::per_second(1).burst(2));
    let app = App::new().route(attributed_echo.into_route().limits(rated));
    let client = TestClient::new(app).unwrap();

    // The attribute's message size limit is still there ...
    let mut ws = client.connect("/attributed").await.unwrap();
    ws.send_text("x".repeat(2000)).await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(close.code, Some(wsframe::CloseCode::MESSAGE_TOO_BIG));

    // ... beside the rate added by `limits`: a burst of 2, the third message is over.
    let mut ws = client.connect("/attributed").await.unwrap();
    for text in ["one", "two"] {
        ws.send_text(text).await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), text);
    }
    ws.send_text("three").await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(close.code, Some(wsframe::CloseCode::POLICY_VIOLATION));
}

#[wsframe::websocket("/attribute-rated", max_message_rate = MessageRate::per_second(1).burst(1))]
async fn attribute_rated(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_attributes_max_message_rate_option_closes_a_flooder_with_1008() {
    use wsframe::testing::TestClient;
    let client = TestClient::new(App::new().route(attribute_rated)).unwrap();
    let mut ws = client.connect("/attribute-rated").await.unwrap();
    ws.send_text("one").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "one");
    ws.send_text("two").await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(close.code, Some(wsframe::CloseCode::POLICY_VIOLATION));
    assert_eq!(client.metrics().snapshot().rate_limited, 1);
}

/// A guard that takes its time (a slow database, say).
struct SlowGuard;

impl wsframe::FromHandshake for SlowGuard {
    type Rejection = std::convert::Infallible;
    async fn from_handshake(_: &wsframe::HandshakeRequest) -> Result<Self, Self::Rejection> {
        tokio::time::sleep(Duration::from_millis(700)).await;
        Ok(SlowGuard)
    }
}

async fn guarded(mut ws: WebSocket, _guard: SlowGuard) -> wsframe::Result<()> {
    ws.accept().await?;
    Ok(())
}

#[tokio::test]
async fn the_handshake_timeout_is_one_budget_from_accept_to_decision() {
    // 600 ms to send the request head plus 700 ms in the guard: each part is within the
    // 1 s timeout, the whole is not (DESIGN: "from accept of the TCP connection to the
    // upgrade decision").
    let config = Config::default().handshake_timeout(Duration::from_secs(1));
    let server = TestServer::start(App::new().config(config).websocket("/slow", guarded)).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let accepted = std::time::Instant::now();
    let request = upgrade_request("/slow", "", &[]);
    let (first, rest) = request.split_at(20);
    tcp.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await; // the slow client's pause
    tcp.write_all(rest).await.unwrap();
    let response = within(read_response(&mut tcp)).await;
    let elapsed = accepted.elapsed();
    assert_eq!(response.status, 503, "{}", response.body_text());
    assert_eq!(
        response.body_text(),
        "the handshake was not decided in time"
    );
    assert!(
        elapsed < Duration::from_millis(1500),
        "answered after {elapsed:?}: the budget did not start at the accept"
    );

    // A guard as slow on a prompt client is within the budget.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&request).await.unwrap();
    assert_eq!(within(read_response(&mut tcp)).await.status, 101);
}

/// The status and body of a handshake to `/ws` with these extra header lines; on 101
/// the WebSocket is returned, open.
async fn handshake(server: &TestServer, extra: &str) -> (RawResponse, Option<TcpStream>) {
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&upgrade_request("/ws", extra, &[]))
        .await
        .unwrap();
    let response = read_response(&mut tcp).await;
    let open = (response.status == 101).then_some(tcp);
    (response, open)
}

#[tokio::test]
async fn connections_per_client_over_the_limit_get_503_after_proxy_resolution() {
    use wsframe::{ProxyHeader, ProxyNet};
    let from = |ip: &str| format!("X-Forwarded-For: {ip}\r\n");

    // Off by default: one address opens as many as it likes.
    let server = start().await;
    let mut open = Vec::new();
    for _ in 0..5 {
        open.push(connect(server.addr, "/ws").await);
    }
    assert_eq!(server.metrics().client_connections_refused, 0);

    let config = Config::default().max_connections_per_client(2).trust_proxy(
        "127.0.0.1".parse::<ProxyNet>().unwrap(),
        ProxyHeader::XForwardedFor,
    );
    let server = TestServer::start(app(config).0).await;
    let (a1, a1_open) = handshake(&server, &from("203.0.113.1")).await;
    let (a2, _a2_open) = handshake(&server, &from("203.0.113.1")).await;
    assert_eq!((a1.status, a2.status), (101, 101));
    let (a3, _) = handshake(&server, &from("203.0.113.1")).await;
    assert_eq!(
        (a3.status, a3.body_text().as_str()),
        (503, "too many connections from this client")
    );
    // Another client behind the same proxy is another client.
    let (b1, _b1_open) = handshake(&server, &from("203.0.113.2")).await;
    assert_eq!(b1.status, 101);
    // A client's own claim left of the proxy's hop changes nothing.
    let spoofed = "X-Forwarded-For: 198.51.100.77, 203.0.113.1\r\n";
    assert_eq!(handshake(&server, spoofed).await.0.status, 503);
    let m = server.metrics();
    assert_eq!(
        (m.client_connections_refused, m.handshakes_rejected),
        (2, 2)
    );

    // A closed connection gives its share back.
    drop(a1_open);
    wait_until("the closed connection is gone", || {
        server.metrics().connections_open == 2
    })
    .await;
    assert_eq!(handshake(&server, &from("203.0.113.1")).await.0.status, 101);
    let page = server.metrics().to_prometheus();
    assert!(
        page.contains("wsframe_client_connections_refused_total 2\n"),
        "{page}"
    );
}

#[tokio::test]
async fn handshakes_per_client_over_the_rate_get_429_with_retry_after() {
    use wsframe::{HandshakeRate, ProxyHeader, ProxyNet};
    let from = |ip: &str| format!("X-Forwarded-For: {ip}\r\n");
    let config = Config::default()
        .max_handshakes_per_client(HandshakeRate::per_minute(2))
        .trust_proxy(
            "127.0.0.1".parse::<ProxyNet>().unwrap(),
            ProxyHeader::XForwardedFor,
        );
    let server = TestServer::start(app(config).0).await;
    for _ in 0..2 {
        assert_eq!(handshake(&server, &from("203.0.113.1")).await.0.status, 101);
    }
    let (throttled, _) = handshake(&server, &from("203.0.113.1")).await;
    assert_eq!(
        (throttled.status, throttled.body_text().as_str()),
        (429, "too many handshakes from this client; retry later")
    );
    let retry: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("whole seconds");
    assert!(
        (1..=30).contains(&retry),
        "one handshake back every 30 s: {retry}"
    );
    // Others behind the same proxy are not affected.
    assert_eq!(handshake(&server, &from("203.0.113.2")).await.0.status, 101);
    let m = server.metrics();
    assert_eq!((m.handshakes_throttled, m.handshakes_rejected), (1, 1));

    // The in-process client goes through the same limit (its address is 127.0.0.1).
    let config = Config::default().max_handshakes_per_client(HandshakeRate::per_minute(1));
    let client = wsframe::testing::TestClient::new(app(config).0).unwrap();
    assert!(client.connect("/ws").await.is_ok());
    let err = client.connect("/ws").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
    assert_eq!(client.metrics().snapshot().handshakes_throttled, 1);
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_64_and_v4_mapped_as_v4() {
    use wsframe::{ProxyHeader, ProxyNet};
    let from = |ip: &str| format!("X-Forwarded-For: {ip}\r\n");
    let config = Config::default().max_connections_per_client(1).trust_proxy(
        "127.0.0.1".parse::<ProxyNet>().unwrap(),
        ProxyHeader::XForwardedFor,
    );
    let server = TestServer::start(app(config).0).await;
    let (first, _first_open) = handshake(&server, &from("2001:db8:1:2::1")).await;
    assert_eq!(first.status, 101);
    // Another address of the same /64 (one host can hold 2^64 of them) is the same client.
    let (same_64, _) = handshake(&server, &from("2001:db8:1:2:ffff::9")).await;
    assert_eq!(same_64.status, 503, "same /64");
    let (other_64, _other_open) = handshake(&server, &from("2001:db8:1:3::1")).await;
    assert_eq!(other_64.status, 101, "another /64");
    // An IPv4 client written as a v4-mapped IPv6 address is that IPv4 client.
    let (v4, _v4_open) = handshake(&server, &from("203.0.113.1")).await;
    assert_eq!(v4.status, 101);
    let (mapped, _) = handshake(&server, &from("[::ffff:203.0.113.1]")).await;
    assert_eq!(mapped.status, 503, "v4-mapped");
    assert_eq!(server.metrics().client_connections_refused, 2);
}
