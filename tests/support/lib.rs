//! Helpers shared by the end-to-end tests: a real server on a free loopback port, raw
//! HTTP over TCP, WebSocket clients, and waiting on a condition with a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use wsframe::{App, ServerHandle};

pub mod redis;

/// A server running on 127.0.0.1 with a free port.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub task: tokio::task::JoinHandle<wsframe::Result<()>>,
}

impl TestServer {
    pub async fn start(app: App) -> TestServer {
        let server = app.bind("127.0.0.1:0").await.expect("bind");
        let addr = server.local_addr();
        let handle = server.handle();
        let task = tokio::spawn(server.run());
        TestServer { addr, handle, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    pub fn metrics(&self) -> wsframe::MetricsSnapshot {
        self.handle.metrics().snapshot()
    }
}

pub type Client = WebSocketStream<TcpStream>;

/// Connect a tokio-tungstenite client over real TCP.
pub async fn connect(addr: SocketAddr, path: &str) -> Client {
    try_connect(addr, path, &[])
        .await
        .expect("WebSocket connect")
}

/// Connect with extra request headers; the error carries a refused handshake.
pub async fn try_connect(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    for (name, value) in headers {
        request.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let (ws, _response) = within(tokio_tungstenite::client_async(request, tcp)).await?;
    Ok(ws)
}

pub use wsframe::http;

/// A raw HTTP answer read off a TCP socket.
#[derive(Debug)]
pub struct RawResponse {
    pub status_line: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes that followed the head (for a 101, the first WebSocket frames).
    pub rest: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Send `request` bytes on a fresh TCP connection and read one response.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request).await.expect("write request");
    read_response(&mut tcp).await
}

/// Read one HTTP response head (and its body, by Content-Length) from `tcp`.
pub async fn read_response(tcp: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = within(tcp.read(&mut chunk)).await.expect("read response");
        assert!(
            n > 0,
            "connection closed before a full response head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_string();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut rest = buf[head_end..].to_vec();
    if status != 101 {
        while rest.len() < length {
            let mut chunk = [0u8; 4096];
            let n = within(tcp.read(&mut chunk)).await.expect("read body");
            if n == 0 {
                break;
            }
            rest.extend_from_slice(&chunk[..n]);
        }
    }
    let body = if status == 101 {
        Vec::new()
    } else {
        rest.drain(..length.min(rest.len())).collect()
    };
    RawResponse {
        status_line,
        status,
        headers,
        body,
        rest,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A valid upgrade request for `path` with extra header lines (each ending in CRLF),
/// dropping the default headers named in `without`.
pub fn upgrade_request(path: &str, extra: &str, without: &[&str]) -> Vec<u8> {
    let defaults = [
        ("Host", "localhost"),
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in defaults {
        if !without.iter().any(|w| w.eq_ignore_ascii_case(name)) {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str(extra);
    request.push_str("\r\n");
    request.into_bytes()
}

/// The default time limit of every wait in the tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// The next text message on `client`, skipping pings and pongs (waiting at most
/// [`WAIT`]); anything else fails the test.
pub async fn next_text(client: &mut Client) -> String {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match within(client.next()).await {
            Some(Ok(Message::Text(text))) => return text.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Await `fut`, failing the test after [`WAIT`].
pub async fn within<F: std::future::Future>(fut: F) -> F::Output {
    tokio::time::timeout(WAIT, fut)
        .await
        .expect("timed out waiting")
}

/// Wait until `condition` holds, checking every 10 ms, failing after [`WAIT`].
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Read frames until a close frame; returns its code and reason. Data frames before
/// it are returned too, so tests can check what came first.
pub async fn read_until_close(
    client: &mut Client,
) -> (
    Vec<tokio_tungstenite::tungstenite::Message>,
    Option<(u16, String)>,
) {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let mut before = Vec::new();
    loop {
        match within(client.next()).await {
            Some(Ok(Message::Close(frame))) => {
                // Keep reading: that sends our echo of the close and waits for the
                // server to end the connection, as a well-behaved client does.
                while let Some(Ok(_)) = within(client.next()).await {}
                return (
                    before,
                    frame.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
                );
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(m)) => before.push(m),
            Some(Err(_)) | None => return (before, None),
        }
    }
}

/// Whether the peer closed the TCP connection (read returns 0 or an error) within
/// [`WAIT`]; reading discards any bytes.
pub async fn closed_by_peer(tcp: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// A masked client frame (RFC 6455 §5.2) with FIN set, for hand-made protocol input.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Parse the first server frame in `bytes` as a close frame: `(code, reason)`.
pub fn parse_close(bytes: &[u8]) -> Option<(u16, String)> {
    let (&b0, rest) = bytes.split_first()?;
    if b0 & 0x0F != 0x8 {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let len = (len & 0x7F) as usize;
    let payload = rest.get(..len)?;
    if payload.len() < 2 {
        return Some((1005, String::new()));
    }
    Some((
        u16::from_be_bytes([payload[0], payload[1]]),
        String::from_utf8_lossy(&payload[2..]).into_owned(),
    ))
}

/// Open a raw TCP connection, complete the handshake for `path`, and return the stream
/// plus any bytes that followed the 101.
pub async fn raw_upgrade(addr: SocketAddr, path: &str) -> (TcpStream, Vec<u8>) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(&upgrade_request(path, "", &[]))
        .await
        .unwrap();
    let response = read_response(&mut tcp).await;
    assert_eq!(response.status, 101, "{response:?}");
    (tcp, response.rest)
}

/// Read from `tcp` until a complete close frame arrived (after any other frames), and
/// return its code and reason.
pub async fn raw_read_close(tcp: &mut TcpStream, mut buf: Vec<u8>) -> Option<(u16, String)> {
    loop {
        // Skip whole non-close frames at the front.
        while buf.len() >= 2 && buf[0] & 0x0F != 0x8 {
            let len = (buf[1] & 0x7F) as usize;
            let (header, len) = match len {
                126 if buf.len() >= 4 => (4, u16::from_be_bytes([buf[2], buf[3]]) as usize),
                127 if buf.len() >= 10 => (
                    10,
                    u64::from_be_bytes(buf[2..10].try_into().unwrap()) as usize,
                ),
                126 | 127 => break,
                n => (2, n),
            };
            if buf.len() < header + len {
                break;
            }
            buf.drain(..header + len);
        }
        if buf.len() >= 2 && buf[0] & 0x0F == 0x8 && buf.len() >= 2 + (buf[1] & 0x7F) as usize {
            return parse_close(&buf);
        }
        let mut chunk = [0u8; 4096];
        match within(tcp.read(&mut chunk)).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Install a tracing subscriber once (quiet unless RUST_LOG is set).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A directory of a test's own under the system's temporary directory (certificates,
/// reports), removed with everything in it when dropped.
pub struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    /// `wsframe-{name}-{process}-{n}`: unique among the tests of one process, which run
    /// in parallel.
    pub fn new(name: &str) -> ScratchDir {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wsframe-{name}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        ScratchDir(dir)
    }

    /// The path of `file` in this directory.
    pub fn join(&self, file: &str) -> std::path::PathBuf {
        self.0.join(file)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The workspace root.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// An outside program a test needs is missing: under CI (`CI=true`) that fails the
/// test; elsewhere the test says what to set up and returns `true` (skip).
pub fn skip_missing(what: &str, setup: &str) -> bool {
    let message = format!("{what} (run `{setup}`)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("SKIPPED outside CI: {message}");
    true
}

/// Every Rust snippet of the guide is compiled (and run, unless `no_run`) as a doctest.
#[cfg(doctest)]
pub mod book {
    #[doc = include_str!("../../book/src/getting-started.md")]
    pub struct GettingStarted;

    #[doc = include_str!("../../book/src/routes.md")]
    pub struct Routes;

    #[doc = include_str!("../../book/src/guards.md")]
    pub struct Guards;

    #[doc = include_str!("../../book/src/websocket.md")]
    pub struct TheWebSocketHandle;

    #[doc = include_str!("../../book/src/broadcasting.md")]
    pub struct Broadcasting;

    #[doc = include_str!("../../book/src/scaling-out.md")]
    pub struct ScalingOut;

    #[doc = include_str!("../../book/src/testing.md")]
    pub struct Testing;

    #[doc = include_str!("../../book/src/documenting.md")]
    pub struct Documenting;

    #[doc = include_str!("../../book/src/dashboard.md")]
    pub struct Dashboard;

    #[doc = include_str!("../../book/src/configuration.md")]
    pub struct Configuration;

    #[doc = include_str!("../../book/src/compression.md")]
    pub struct Compression;

    #[doc = include_str!("../../book/src/deployment.md")]
    pub struct Deployment;

    #[doc = include_str!("../../book/src/mounting.md")]
    pub struct Mounting;

    #[doc = include_str!("../../book/src/from-fastapi.md")]
    pub struct FromFastApi;

    #[doc = include_str!("../../book/src/benchmarks.md")]
    pub struct Benchmarks;

    #[doc = include_str!("../../book/src/compile-errors.md")]
    pub struct CompileErrors;

    #[doc = include_str!("../../README.md")]
    pub struct Readme;
}
