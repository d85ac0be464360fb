//! Handshake answers over raw TCP (status line read off the socket) and the same
//! cases through the in-process TestClient: same status, same body.

use futures_util::StreamExt;
use serde::Serialize;
use tokio_tungstenite::tungstenite::Message;
use wsframe::testing::TestClient;
use wsframe::{App, CloseCode, FromHandshake, HandshakeRequest, Query, Rejection, WebSocket};
use wsframe_tests::*;

struct NeedsToken;

impl FromHandshake for NeedsToken {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        match req.query_param("token").as_deref() {
            Some("good") => Ok(NeedsToken),
            _ => Err(Rejection::unauthorized("missing or wrong token")),
        }
    }
}

#[derive(Serialize)]
struct Problem {
    error: &'static str,
}

struct Banned;

impl FromHandshake for Banned {
    type Rejection = Rejection;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
        Err(Rejection::json(
            http::StatusCode::FORBIDDEN,
            &Problem { error: "banned" },
        ))
    }
}

struct PolicyClose;

impl FromHandshake for PolicyClose {
    type Rejection = Rejection;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
        Err(Rejection::close(
            CloseCode::POLICY_VIOLATION,
            "token expired",
        ))
    }
}

struct Num(u32);

impl FromHandshake for Num {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        req.params().parse("n").map(Num)
    }
}

#[derive(serde::Deserialize)]
struct Page {
    #[allow(dead_code)]
    page: u32,
}

async fn hello(ws: WebSocket) -> wsframe::Result<()> {
    ws.send_text("hello").await
}

fn app() -> App {
    App::new()
        .websocket("/ws", hello)
        .websocket("/guard", |ws: WebSocket, _: NeedsToken| hello(ws))
        .websocket("/json-guard", |ws: WebSocket, _: Banned| hello(ws))
        .websocket("/policy", |ws: WebSocket, _: PolicyClose| hello(ws))
        .websocket("/num/<n>", |ws: WebSocket, Num(n): Num| async move {
            ws.send_text(format!("n={n}")).await
        })
        .websocket("/page", |ws: WebSocket, _: Query<Page>| hello(ws))
        .websocket("/close-before-accept", |ws: WebSocket| async move {
            ws.close(CloseCode::POLICY_VIOLATION, "go away").await
        })
        .websocket("/return-before-accept", |_ws: WebSocket| async {})
        .websocket("/error-before-accept", |_ws: WebSocket| async {
            Err::<(), _>(wsframe::Error::custom("database down"))
        })
        .websocket("/panic-before-accept", |_ws: WebSocket| async {
            if true {
                panic!("boom before accept");
            }
        })
        .get("/health", |_req| async { "ok" })
}

/// (path, expected status, expected body) for handshakes that TestClient can send too.
const REJECTIONS: &[(&str, u16, &str)] = &[
    ("/nope", 404, "Not Found"),
    ("/guard", 401, "missing or wrong token"),
    ("/guard?token=bad", 401, "missing or wrong token"),
    ("/json-guard", 403, r#"{"error":"banned"}"#),
    (
        "/num/abc",
        400,
        "invalid path parameter `n`: `abc` is not an integer from 0 to 4294967295",
    ),
    (
        "/page?page=x",
        400,
        "invalid query string: invalid digit found in string",
    ),
    ("/close-before-accept", 403, "go away"),
    ("/return-before-accept", 500, "Internal Server Error"),
    ("/error-before-accept", 500, "Internal Server Error"),
    ("/panic-before-accept", 500, "Internal Server Error"),
];

#[tokio::test]
async fn rejections_over_tcp_and_through_test_client_agree() {
    init_tracing();
    let server = TestServer::start(app()).await;
    let client = TestClient::new(app()).unwrap();
    for &(path, status, body) in REJECTIONS {
        let raw = raw_request(server.addr, &upgrade_request(path, "", &[])).await;
        assert_eq!(raw.status, status, "{path} over TCP: {}", raw.status_line);
        assert!(
            raw.status_line.starts_with(&format!("HTTP/1.1 {status} ")),
            "{}",
            raw.status_line
        );
        assert_eq!(raw.body_text(), body, "{path} over TCP");

        let err = client.connect(path).await.expect_err(path);
        assert_eq!(
            err.status().map(|s| s.as_u16()),
            Some(status),
            "{path} via TestClient: {err}"
        );
        let wsframe::Error::Handshake {
            body: test_body, ..
        } = err
        else {
            unreachable!()
        };
        assert_eq!(test_body, body.as_bytes(), "{path} via TestClient");
    }
    assert_eq!(server.metrics().handler_panics, 1);
    assert!(server.metrics().handshakes_rejected >= REJECTIONS.len() as u64);
}

#[tokio::test]
async fn accepted_handshakes_over_tcp_and_through_test_client() {
    let server = TestServer::start(app()).await;
    let client = TestClient::new(app()).unwrap();
    for (path, first) in [("/guard?token=good", "hello"), ("/num/42", "n=42")] {
        let mut ws = connect(server.addr, path).await;
        let got = within(ws.next()).await.unwrap().unwrap();
        assert_eq!(got, Message::text(first));
        let mut ws = client.connect(path).await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), first);
    }
}

#[tokio::test]
async fn a_guard_may_accept_then_close_with_1008() {
    let server = TestServer::start(app()).await;
    let (mut tcp, rest) = raw_upgrade(server.addr, "/policy").await;
    assert_eq!(
        raw_read_close(&mut tcp, rest).await,
        Some((1008, "token expired".into()))
    );

    let client = TestClient::new(app()).unwrap();
    let mut ws = client.connect("/policy").await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(close.code, Some(CloseCode::POLICY_VIOLATION));
    assert_eq!(close.reason, "token expired");
}

#[tokio::test]
async fn malformed_handshakes_get_clear_http_answers() {
    let server = TestServer::start(app()).await;
    let addr = server.addr;

    // A plain GET on a WebSocket route: 426 with Upgrade: websocket.
    let r = raw_request(addr, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(r.status, 426);
    assert_eq!(r.header("upgrade"), Some("websocket"));

    // Wrong version: 426 naming the supported one.
    let r = raw_request(
        addr,
        &upgrade_request(
            "/ws",
            "Sec-WebSocket-Version: 8\r\n",
            &["Sec-WebSocket-Version"],
        ),
    )
    .await;
    assert_eq!(r.status, 426);
    assert_eq!(r.header("sec-websocket-version"), Some("13"));

    // Missing or invalid key: 400.
    let r = raw_request(addr, &upgrade_request("/ws", "", &["Sec-WebSocket-Key"])).await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (400, "missing Sec-WebSocket-Key header")
    );
    let r = raw_request(
        addr,
        &upgrade_request(
            "/ws",
            "Sec-WebSocket-Key: not-base64\r\n",
            &["Sec-WebSocket-Key"],
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body_text().contains("Sec-WebSocket-Key"));

    // Missing Connection: Upgrade.
    let r = raw_request(addr, &upgrade_request("/ws", "", &["Connection"])).await;
    assert_eq!(r.status, 400);

    // Cross-origin browser handshake: 403; same-origin and no-Origin accepted.
    let r = raw_request(
        addr,
        &upgrade_request("/ws", "Origin: http://evil.example\r\n", &[]),
    )
    .await;
    assert_eq!(
        (r.status, r.body_text().as_str()),
        (403, "origin not allowed")
    );
    let r = raw_request(
        addr,
        &upgrade_request("/ws", "Origin: http://localhost\r\n", &[]),
    )
    .await;
    assert_eq!(r.status, 101);

    // Not HTTP at all: hyper answers 400 and the server keeps serving.
    let r = raw_request(addr, b"\x16\x03\x01garbage\r\n\r\n").await;
    assert_eq!(r.status, 400, "{}", r.status_line);

    // A POST to a WebSocket route.
    let r = raw_request(
        addr,
        b"POST /ws HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(r.status, 405);

    // Plain HTTP routes are served beside WebSocket routes.
    let r = raw_request(addr, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!((r.status, r.body_text().as_str()), (200, "ok"));

    // And a normal client is still served.
    let mut ws = connect(addr, "/ws").await;
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        Message::text("hello")
    );
}

#[tokio::test]
async fn test_client_serves_plain_http_and_origin_checks() {
    let client = TestClient::new(app()).unwrap();
    let r = client.get("/health").await.unwrap();
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "ok"));
    let r = client.get("/ws").await.unwrap();
    assert_eq!(r.status.as_u16(), 426);
    let err = client
        .connect("/ws")
        .header("origin", "http://evil.example")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    let mut ws = client
        .connect("/ws")
        .header("origin", "http://testserver")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "hello");
}

#[tokio::test]
async fn conflicting_and_malformed_routes_fail_at_start_naming_them() {
    let err = App::new()
        .websocket("/ws/<id>", hello)
        .websocket("/ws/<name>", hello)
        .bind("127.0.0.1:0")
        .await
        .err()
        .expect("conflict must fail");
    let message = err.to_string();
    assert!(
        message.contains("`/ws/<name>`") && message.contains("`/ws/<id>`"),
        "{message}"
    );

    let err = TestClient::new(
        App::new()
            .websocket("/ws/<id", hello)
            .websocket("/a", hello)
            .websocket("/a", hello),
    )
    .err()
    .expect("malformed route must fail");
    let message = err.to_string();
    assert!(message.contains("`/ws/<id`"), "{message}");
    assert!(message.contains("`/a` is registered twice"), "{message}");
}

#[tokio::test]
async fn an_origin_allow_list_replaces_the_same_origin_rule() {
    let config = wsframe::Config::default()
        .origins(wsframe::Origins::only().allow("https://app.example.com"));
    let server = TestServer::start(app().config(config)).await;
    let cases = [
        ("Origin: https://app.example.com\r\n", 101),
        ("Origin: https://APP.example.com/\r\n", 101),
        ("Origin: http://localhost\r\n", 403),
        ("Origin: https://evil.example\r\n", 403),
        ("", 101),
    ];
    for (origin, status) in cases {
        let r = raw_request(server.addr, &upgrade_request("/ws", origin, &[])).await;
        assert_eq!(r.status, status, "{origin:?}");
    }
    let any = TestServer::start(
        app().config(wsframe::Config::default().origins(wsframe::Origins::any())),
    )
    .await;
    let r = raw_request(
        any.addr,
        &upgrade_request("/ws", "Origin: https://evil.example\r\n", &[]),
    )
    .await;
    assert_eq!(r.status, 101);
}

/// An upgrade request to `/ws` with this `Host` and these extra header lines.
fn upgrade_with_host(host: &str, extra: &str) -> Vec<u8> {
    upgrade_request("/ws", &format!("Host: {host}\r\n{extra}"), &["host"])
}

/// Serve `app` and send it each (Host, other headers, expected status) upgrade case.
async fn expect_statuses(label: &str, app: wsframe::App, cases: &[(&str, &str, u16)]) {
    let server = TestServer::start(app).await;
    for (host, extra, status) in cases {
        let r = raw_request(server.addr, &upgrade_with_host(host, extra)).await;
        assert_eq!(r.status, *status, "{label}: Host {host}, {extra:?}");
    }
}

#[tokio::test]
async fn origins_compare_scheme_host_and_default_port_over_tcp() {
    use wsframe::{Config, ProxyHeader, ProxyNet};
    let local = || "127.0.0.0/8".parse::<ProxyNet>().unwrap();
    // (Host, other headers, expected status)
    let plain_cases: &[(&str, &str, u16)] = &[
        ("a.example", "Origin: http://a.example\r\n", 101),
        ("a.example:80", "Origin: http://A.example\r\n", 101),
        ("a.example", "Origin: http://a.example:80\r\n", 101),
        ("a.example", "Origin: https://a.example\r\n", 403),
        ("a.example:443", "Origin: https://a.example\r\n", 403),
        ("a.example:8080", "Origin: http://a.example\r\n", 403),
        ("a.example", "Origin: http://a.example/path\r\n", 403),
        ("a.example", "Origin: null\r\n", 403),
        // An untrusted peer's X-Forwarded-Proto is not believed.
        (
            "a.example",
            "X-Forwarded-Proto: https\r\nOrigin: https://a.example\r\n",
            403,
        ),
        // Nor its X-Forwarded-Host.
        (
            "backend:8080",
            "X-Forwarded-Host: a.example\r\nOrigin: http://a.example\r\n",
            403,
        ),
    ];
    expect_statuses("plain", app(), plain_cases).await;

    // TLS terminated by a trusted proxy that states the scheme.
    let proxied_cases: &[(&str, &str, u16)] = &[
        (
            "a.example",
            "X-Forwarded-Proto: https\r\nOrigin: https://a.example\r\n",
            101,
        ),
        (
            "a.example:443",
            "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nOrigin: https://a.example\r\n",
            101,
        ),
        (
            "a.example",
            "X-Forwarded-Proto: https\r\nOrigin: http://a.example\r\n",
            403,
        ),
        ("a.example", "Origin: https://a.example\r\n", 403),
        // Not the header this proxy writes.
        (
            "a.example",
            "Forwarded: for=203.0.113.7;proto=https\r\nOrigin: https://a.example\r\n",
            403,
        ),
        // The host a proxy states is believed only with `trust_forwarded_host`.
        (
            "backend:8080",
            "X-Forwarded-Proto: https\r\nX-Forwarded-Host: a.example\r\nOrigin: https://a.example\r\n",
            403,
        ),
    ];
    let nginx = app().config(Config::default().trust_proxy(local(), ProxyHeader::XForwardedFor));
    expect_statuses("X-Forwarded-For proxy", nginx, proxied_cases).await;
    // A proxy that rewrites Host for its upstream, and sets X-Forwarded-Host to the
    // original.
    let rewriting_cases: &[(&str, &str, u16)] = &[
        (
            "backend:8080",
            "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: a.example\r\nOrigin: https://a.example\r\n",
            101,
        ),
        (
            "backend:8080",
            "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: a.example\r\nOrigin: http://backend:8080\r\n",
            403,
        ),
        // The client's own claim lies left of the proxy's.
        (
            "backend:8080",
            "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: evil.example, a.example\r\nOrigin: http://evil.example\r\n",
            403,
        ),
        (
            "backend:8080",
            "X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: evil.example, a.example\r\nOrigin: http://a.example\r\n",
            101,
        ),
        // A host that is not one is ignored: Host stands.
        (
            "a.example",
            "X-Forwarded-Host: evil.example/x\r\nOrigin: http://a.example\r\n",
            101,
        ),
        (
            "a.example",
            "X-Forwarded-Host: evil.example:abc\r\nOrigin: http://a.example\r\n",
            101,
        ),
    ];
    let rewriting = app().config(
        Config::default()
            .trust_proxy(local(), ProxyHeader::XForwardedFor)
            .trust_forwarded_host(),
    );
    expect_statuses("proxy that rewrites Host", rewriting, rewriting_cases).await;
    let rfc_cases: &[(&str, &str, u16)] = &[
        (
            "a.example",
            "Forwarded: for=203.0.113.7;proto=https\r\nOrigin: https://a.example\r\n",
            101,
        ),
        (
            "a.example",
            "X-Forwarded-Proto: https\r\nOrigin: https://a.example\r\n",
            403,
        ),
        (
            "backend:8080",
            "Forwarded: for=203.0.113.7;proto=https;host=\"a.example\"\r\nOrigin: https://a.example\r\n",
            101,
        ),
        (
            "backend:8080",
            "X-Forwarded-Host: a.example\r\nOrigin: http://a.example\r\n",
            403,
        ),
    ];
    let rfc = app().config(
        Config::default()
            .trust_proxy(local(), ProxyHeader::Forwarded)
            .trust_forwarded_host(),
    );
    expect_statuses("Forwarded proxy", rfc, rfc_cases).await;
    // Without the opt-in, `host=` is not believed either.
    let host_ignored = app().config(Config::default().trust_proxy(local(), ProxyHeader::Forwarded));
    let host_ignored_cases: &[(&str, &str, u16)] = &[(
        "backend:8080",
        "Forwarded: for=203.0.113.7;proto=https;host=a.example\r\nOrigin: https://a.example\r\n",
        403,
    )];
    expect_statuses(
        "Forwarded proxy, hosts not believed",
        host_ignored,
        host_ignored_cases,
    )
    .await;
}

#[tokio::test]
async fn origins_compare_schemes_through_the_test_client() {
    use wsframe::{Config, ProxyHeader, ProxyNet};
    async fn status(connect: wsframe::testing::Connect<'_>) -> u16 {
        match connect.await {
            Ok(mut ws) => {
                assert_eq!(ws.receive_text().await.unwrap(), "hello");
                101
            }
            Err(e) => e.status().expect("an HTTP answer").as_u16(),
        }
    }
    let plain = TestClient::new(app()).unwrap();
    fn origin<'a>(client: &'a TestClient, origin: &str) -> wsframe::testing::Connect<'a> {
        client.connect("/ws").header("origin", origin)
    }
    assert_eq!(status(origin(&plain, "http://testserver")).await, 101);
    assert_eq!(status(origin(&plain, "http://testserver:80")).await, 101);
    assert_eq!(status(origin(&plain, "https://testserver")).await, 403);

    // TLS terminated by wsframe.
    let tls = TestClient::new(app()).unwrap().https();
    assert_eq!(status(origin(&tls, "https://testserver")).await, 101);
    assert_eq!(status(origin(&tls, "https://TESTSERVER:443/")).await, 101);
    assert_eq!(status(origin(&tls, "http://testserver")).await, 403);
    // A client's own X-Forwarded-Proto, with no proxy trusted, is not believed: on a
    // plain connection it cannot make the scheme https.
    let forged = origin(&plain, "https://testserver").header("x-forwarded-proto", "https");
    assert_eq!(status(forged).await, 403, "no proxy is trusted");

    // TLS terminated by a trusted proxy.
    let local = "127.0.0.0/8".parse::<ProxyNet>().unwrap();
    let config = Config::default().trust_proxy(local, ProxyHeader::XForwardedFor);
    let proxied = TestClient::new(app().config(config)).unwrap();
    let https = origin(&proxied, "https://testserver").header("x-forwarded-proto", "https");
    assert_eq!(status(https).await, 101);
    assert_eq!(status(origin(&proxied, "https://testserver")).await, 403);
    assert_eq!(status(origin(&proxied, "http://testserver")).await, 101);
}

#[tokio::test]
async fn an_allow_list_entry_is_a_full_origin_and_a_bad_one_fails_at_start() {
    use wsframe::{Config, Origins};
    let listed = Origins::only().allow("https://app.example.com:443");
    let client = TestClient::new(app().config(Config::default().origins(listed))).unwrap();
    let origin = |origin: &str| client.connect("/ws").header("origin", origin);
    assert!(origin("https://app.example.com").await.is_ok());
    assert!(origin("https://APP.example.com:443").await.is_ok());
    assert!(origin("http://app.example.com").await.is_err());
    assert!(origin("http://testserver").await.is_err(), "only the list");

    // Browsers send the page's origin (https://), never wss://: a WebSocket scheme in
    // the list stands for the page scheme it is used from.
    let ws_schemes = Origins::only()
        .allow("wss://app.example.com")
        .allow("ws://dev.example.com:8080");
    let client = TestClient::new(app().config(Config::default().origins(ws_schemes))).unwrap();
    let origin = |origin: &str| client.connect("/ws").header("origin", origin);
    assert!(origin("https://app.example.com").await.is_ok(), "wss entry");
    assert!(origin("https://app.example.com:443").await.is_ok());
    assert!(origin("http://app.example.com").await.is_err());
    assert!(
        origin("http://dev.example.com:8080").await.is_ok(),
        "ws entry"
    );

    let typo = Config::default().origins(Origins::same_origin().allow("app.example.com"));
    let err = app().config(typo).bind("127.0.0.1:0").await.err().unwrap();
    let message = err.to_string();
    assert!(
        message.contains("`app.example.com` is not an origin")
            && message.contains("scheme://host[:port]"),
        "{message}"
    );
}
