//! [`TestClient`]: drive an app in-process, through the real handshake, guards and
//! handler, over an in-memory stream instead of a TCP port (Starlette's
//! `websocket_connect`).
//!
//! Every wait has a timeout (default 5 s), so a test never hangs. A client can stand
//! test doubles in for dependencies and guards (FastAPI's `dependency_overrides`), for
//! its own connections only, and choose the peer address and `Host` its requests carry.
//!
//! ```
//! use wsframe::{App, WebSocket};
//! use wsframe::testing::TestClient;
//!
//! async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
//!     while let Ok(text) = ws.receive_text().await {
//!         ws.send_text(format!("Message received: {text}")).await?;
//!     }
//!     Ok(())
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> wsframe::Result<()> {
//! let client = TestClient::new(App::new().websocket("/ws", echo))?;
//! let mut ws = client.connect("/ws").await?;
//! ws.send_text("hello").await?;
//! assert_eq!(ws.receive_text().await?, "Message received: hello");
//!
//! let err = client.connect("/nope").await.unwrap_err();
//! assert_eq!(err.status(), Some(http::StatusCode::NOT_FOUND));
//! # Ok(()) }
//! ```

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

mod deflate_link;

use self::deflate_link::DeflateLink;
use crate::app::AppInner;
use crate::metrics::Metrics;
use crate::{
    App, CloseCode, Dependency, Disconnect, Error, FromHandshake, HandshakeRequest, Message,
    ProtocolError, Rejection, Result, Utf8Bytes,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The `Host` the test client sends; a same-origin `Origin` is `http://testserver`
/// (`https://testserver` with [`TestClient::https`]).
pub const TEST_HOST: &str = "testserver";

/// An in-process client for an [`App`]; see the module docs.
///
/// ```
/// use std::time::Duration;
/// use wsframe::testing::TestClient;
/// use wsframe::{App, Error, WebSocket};
///
/// async fn silent(mut ws: WebSocket) -> wsframe::Result<()> {
///     while ws.receive().await.is_ok() {} // never answers
///     Ok(())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new().websocket("/ws", silent).get("/health", |_req| async { "ok" });
/// let client = TestClient::new(app)?.timeout(Duration::from_millis(100));
///
/// assert_eq!(client.get("/health").await?.text(), "ok");
/// let mut ws = client.connect("/ws").await?;
/// assert!(matches!(ws.receive().await, Err(Error::Timeout(_)))); // no hang
/// assert_eq!(client.metrics().snapshot().connections_open, 1);
///
/// // Route errors surface when the client is made.
/// let clash = App::new().websocket("/a/<x>", silent).websocket("/a/<y>", silent);
/// assert!(matches!(TestClient::new(clash), Err(Error::Route(_))));
/// # Ok(()) }
/// ```
pub struct TestClient {
    app: Arc<AppInner>,
    timeout: Duration,
    https: bool,
    host: String,
    peer: Option<SocketAddr>,
}

impl TestClient {
    /// Build the app (reporting route errors and missing state) for in-process requests.
    pub fn new(app: App) -> Result<TestClient> {
        Ok(TestClient {
            app: app.build()?,
            timeout: DEFAULT_TIMEOUT,
            https: false,
            host: TEST_HOST.to_string(),
            peer: None,
        })
    }

    /// Connect as a `wss://` client of a server that terminates TLS itself
    /// ([`Config::tls`](crate::Config)): the requests' scheme is `https`, so a
    /// same-origin `Origin` is `https://testserver`. The bytes are not encrypted.
    ///
    /// ```
    /// use wsframe::testing::TestClient;
    /// use wsframe::{App, WebSocket};
    ///
    /// async fn hello(ws: WebSocket) -> wsframe::Result<()> { ws.send_text("hi").await }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().websocket("/ws", hello))?.https();
    /// assert!(client.connect("/ws").header("origin", "https://testserver").await.is_ok());
    /// assert!(client.connect("/ws").header("origin", "http://testserver").await.is_err());
    /// # Ok(()) }
    /// ```
    pub fn https(mut self) -> TestClient {
        self.https = true;
        self
    }

    /// Resolve `replacement` wherever this client's handshakes ask for the dependency
    /// `original` (FastAPI's `app.dependency_overrides[original] = replacement`): in
    /// `#[depends(..)]` arguments, in other dependencies and in `guards(..)`. The
    /// replacement is a `#[dependency]` with the same output; it runs once per
    /// handshake, like the original, which never runs.
    ///
    /// ```
    /// use wsframe::prelude::*;
    /// use wsframe::testing::TestClient;
    ///
    /// #[dependency]
    /// async fn current_user(#[cookie] session: Option<String>) -> Result<String, Rejection> {
    ///     session.ok_or_else(|| Rejection::unauthorized("log in first")) // stands for a lookup
    /// }
    ///
    /// #[dependency]
    /// async fn fake_user() -> String {
    ///     "test-user".to_owned()
    /// }
    ///
    /// #[websocket("/me")]
    /// async fn me(ws: WebSocket, #[depends(current_user)] user: String) -> wsframe::Result<()> {
    ///     ws.send_text(user).await
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().route(me))?.override_dependency(current_user, fake_user);
    /// assert_eq!(client.connect("/me").await?.receive_text().await?, "test-user");
    ///
    /// let plain = TestClient::new(App::new().route(me))?; // another client: no double
    /// assert_eq!(plain.connect("/me").await.unwrap_err().status().map(|s| s.as_u16()), Some(401));
    /// # Ok(()) }
    /// ```
    ///
    /// The start-up check of [`State<T>`](crate::State) sees the original dependencies:
    /// register their state in the test too.
    pub fn override_dependency<D, F>(self, original: D, replacement: F) -> TestClient
    where
        D: Dependency,
        F: Dependency<Output = D::Output>,
    {
        let _ = original;
        self.app
            .set_overrides(|o| o.dependency::<D, F>(replacement));
        self
    }

    /// Call `double` instead of the extractor wherever this client's handshakes extract
    /// an argument (or a `guards(..)` entry) of exactly type `G`; its `Err` answers the
    /// handshake like the guard's rejection would. `Option<G>` and `Result<G, _>` are
    /// types of their own: override them by their own type.
    ///
    /// ```
    /// use wsframe::prelude::*;
    /// use wsframe::testing::TestClient;
    ///
    /// struct Admin(String);
    ///
    /// impl FromHandshake for Admin {
    ///     type Rejection = Rejection;
    ///     async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
    ///         Err(Rejection::forbidden("the directory is unreachable from tests"))
    ///     }
    /// }
    ///
    /// #[websocket("/admin")]
    /// async fn admin(ws: WebSocket, Admin(name): Admin) -> wsframe::Result<()> {
    ///     ws.send_text(format!("hello {name}")).await
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().route(admin))?.override_guard(|req| {
    ///     match req.header("x-test-admin") {
    ///         Some(name) => Ok(Admin(name.to_owned())),
    ///         None => Err(Rejection::unauthorized("no test admin")),
    ///     }
    /// });
    /// let mut ws = client.connect("/admin").header("x-test-admin", "ada").await?;
    /// assert_eq!(ws.receive_text().await?, "hello ada");
    /// let err = client.connect("/admin").await.unwrap_err();
    /// assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    /// # Ok(()) }
    /// ```
    pub fn override_guard<G: FromHandshake + 'static>(
        self,
        double: impl Fn(&HandshakeRequest) -> Result<G, Rejection> + Send + Sync + 'static,
    ) -> TestClient {
        self.app.set_overrides(|o| o.guard(double));
        self
    }

    /// The peer address of this client's connections (by default each connection gets
    /// its own loopback port); [`Connect::peer_addr`] sets one connection's.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use wsframe::testing::TestClient;
    /// use wsframe::{App, PeerAddr, WebSocket};
    ///
    /// async fn peer(ws: WebSocket, PeerAddr(addr): PeerAddr) -> wsframe::Result<()> {
    ///     ws.send_text(addr.to_string()).await
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let addr: SocketAddr = "203.0.113.9:5000".parse().unwrap();
    /// let client = TestClient::new(App::new().websocket("/peer", peer))?.peer_addr(addr);
    /// assert_eq!(client.connect("/peer").await?.receive_text().await?, "203.0.113.9:5000");
    /// # Ok(()) }
    /// ```
    pub fn peer_addr(mut self, addr: SocketAddr) -> TestClient {
        self.peer = Some(addr);
        self
    }

    /// The `Host` header of this client's requests (default [`TEST_HOST`]);
    /// [`Connect::host`] sets one connection's. The default Origin check compares an
    /// `Origin` with it.
    pub fn host(mut self, host: &str) -> TestClient {
        self.host = host.to_string();
        self
    }

    /// Change the timeout of every wait (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> TestClient {
        self.timeout = timeout;
        self
    }

    /// Start a WebSocket handshake for `uri` (path and query); add headers, cookies or
    /// subprotocols, then `.await` it.
    pub fn connect(&self, uri: &str) -> Connect<'_> {
        Connect {
            client: self,
            uri: uri.to_string(),
            headers: Vec::new(),
            protocols: Vec::new(),
            host: None,
            peer: None,
            deflate: false,
        }
    }

    /// A plain HTTP GET.
    pub async fn get(&self, uri: &str) -> Result<TestResponse> {
        let request = Request::get(uri)
            .header(header::HOST, &self.host)
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::custom(format!("invalid request: {e}")))?;
        let response = self.send(request, None).await?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = collect(response, self.timeout).await?;
        Ok(TestResponse {
            status,
            headers,
            body,
        })
    }

    /// The app's counters.
    pub fn metrics(&self) -> Metrics {
        Metrics(self.app.counters.clone())
    }

    /// Begin a graceful shutdown of the app's connections (every client gets 1001).
    pub fn shutdown(&self) {
        self.app.lifecycle.begin_shutdown();
    }

    async fn send(
        &self,
        request: Request<Empty<Bytes>>,
        peer: Option<SocketAddr>,
    ) -> Result<http::Response<hyper::body::Incoming>> {
        let (client_io, server_io) = tokio::io::duplex(64 << 10);
        let app = self.app.clone();
        let peer = peer.or(self.peer).unwrap_or_else(next_peer);
        self.app.lifecycle.spawn(crate::server::serve_connection(
            app,
            server_io,
            peer,
            None,
            tokio::time::Instant::now(),
            self.https,
        ));
        let exchange = async {
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(client_io))
                .await
                .map_err(http_error)?;
            tokio::spawn(conn.with_upgrades());
            sender.send_request(request).await.map_err(http_error)
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| Error::Timeout("the handshake response"))?
    }
}

fn http_error(e: hyper::Error) -> Error {
    Error::custom(format!("HTTP error: {e}"))
}

fn next_peer() -> SocketAddr {
    static PORT: AtomicU16 = AtomicU16::new(40000);
    SocketAddr::from(([127, 0, 0, 1], PORT.fetch_add(1, Ordering::Relaxed)))
}

async fn collect(
    response: http::Response<hyper::body::Incoming>,
    timeout: Duration,
) -> Result<Bytes> {
    tokio::time::timeout(timeout, response.into_body().collect())
        .await
        .map_err(|_| Error::Timeout("the response body"))?
        .map(|b| b.to_bytes())
        .map_err(http_error)
}

/// A pending handshake; `.await` it.
///
/// ```
/// use wsframe::http::HeaderMap;
/// use wsframe::testing::TestClient;
/// use wsframe::{App, Cookies, Route, WebSocket};
///
/// async fn whoami(ws: WebSocket, headers: HeaderMap, cookies: Cookies) -> wsframe::Result<()> {
///     let agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("?");
///     let session = cookies.get("session").unwrap_or("none");
///     ws.send_text(format!("{agent} {session}")).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let route = Route::websocket("/ws", whoami).protocols(["chat.v1"]);
/// let client = TestClient::new(App::new().route(route))?;
/// let mut ws = client
///     .connect("/ws")
///     .header("user-agent", "test-suite")
///     .cookie("session", "s1")
///     .protocols(["chat.v2", "chat.v1"])
///     .await?;
/// assert_eq!(ws.protocol(), Some("chat.v1"));
/// assert_eq!(ws.receive_text().await?, "test-suite s1");
/// # Ok(()) }
/// ```
pub struct Connect<'a> {
    client: &'a TestClient,
    uri: String,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    host: Option<String>,
    peer: Option<SocketAddr>,
    deflate: bool,
}

impl Connect<'_> {
    /// Offer permessage-deflate as a browser does
    /// (`permessage-deflate; client_max_window_bits`). When the server accepts it, every
    /// message this connection sends is compressed and what the server compresses is
    /// inflated; [`TestWebSocket::extensions`] tells what was agreed.
    ///
    /// ```
    /// use wsframe::testing::TestClient;
    /// use wsframe::{App, WebSocket};
    ///
    /// async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    ///     while let Ok(message) = ws.receive().await {
    ///         ws.send(message).await?;
    ///     }
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().websocket("/ws", echo))?;
    /// let mut ws = client.connect("/ws").deflate().await?;
    /// assert_eq!(
    ///     ws.extensions(),
    ///     Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=11")
    /// );
    /// let json = r#"{"type":"chat","text":"compressed both ways"}"#.repeat(10);
    /// ws.send_text(json.clone()).await?;
    /// assert_eq!(ws.receive_text().await?, json);
    /// assert_eq!(client.metrics().snapshot().messages_compressed, 1);
    /// # Ok(()) }
    /// ```
    pub fn deflate(mut self) -> Self {
        self.deflate = true;
        self
    }

    /// Add a request header (`Host` replaces the client's, as [`Connect::host`] does).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if name.eq_ignore_ascii_case("host") {
            return self.host(value);
        }
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// This connection's `Host` header, over the client's.
    ///
    /// ```
    /// use wsframe::testing::TestClient;
    /// use wsframe::{App, WebSocket};
    ///
    /// async fn hello(ws: WebSocket) -> wsframe::Result<()> {
    ///     ws.send_text("hello").await
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().websocket("/ws", hello))?;
    /// // The default Origin check: a page of chat.example.com may open a socket there...
    /// let ws = client.connect("/ws").host("chat.example.com").header("origin", "http://chat.example.com");
    /// assert_eq!(ws.await?.receive_text().await?, "hello");
    /// // ...and a page of another site may not.
    /// let err = client.connect("/ws").header("origin", "http://chat.example.com").await.unwrap_err();
    /// assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    /// # Ok(()) }
    /// ```
    pub fn host(mut self, host: &str) -> Self {
        self.host = Some(host.to_string());
        self
    }

    /// This connection's peer address, over the client's
    /// ([`TestClient::peer_addr`]), e.g. a trusted proxy's.
    pub fn peer_addr(mut self, addr: SocketAddr) -> Self {
        self.peer = Some(addr);
        self
    }

    /// Add a cookie.
    pub fn cookie(self, name: &str, value: &str) -> Self {
        self.header("cookie", &format!("{name}={value}"))
    }

    /// Offer these subprotocols.
    pub fn protocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    async fn run(self) -> Result<TestWebSocket> {
        let key = generate_key();
        let host = self.host.as_deref().unwrap_or(&self.client.host);
        let mut builder = Request::get(&self.uri)
            .header(header::HOST, host)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_VERSION, "13")
            .header(header::SEC_WEBSOCKET_KEY, &key);
        if !self.protocols.is_empty() {
            builder = builder.header(header::SEC_WEBSOCKET_PROTOCOL, self.protocols.join(", "));
        }
        if self.deflate {
            builder = builder.header(
                header::SEC_WEBSOCKET_EXTENSIONS,
                crate::deflate::offer::CLIENT_OFFER,
            );
        }
        for (name, value) in &self.headers {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::custom(format!("invalid request: {e}")))?;
        let timeout = self.client.timeout;
        let mut response = self.client.send(request, self.peer).await?;
        let status = response.status();
        if status != StatusCode::SWITCHING_PROTOCOLS {
            let body = collect(response, timeout).await?;
            return Err(Error::Handshake { status, body });
        }
        let expected = derive_accept_key(key.as_bytes());
        if response
            .headers()
            .get(header::SEC_WEBSOCKET_ACCEPT)
            .map(|v| v.as_bytes())
            != Some(expected.as_bytes())
        {
            return Err(Error::custom(
                "server answered a wrong Sec-WebSocket-Accept",
            ));
        }
        let headers = response.headers().clone();
        let upgraded = tokio::time::timeout(timeout, hyper::upgrade::on(&mut response))
            .await
            .map_err(|_| Error::Timeout("the upgrade"))?
            .map_err(http_error)?;
        let extension = headers.get(header::SEC_WEBSOCKET_EXTENSIONS);
        let link = match extension.map(|value| crate::deflate::offer::agreed(value.as_bytes())) {
            None => Link::Plain(Box::new(
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, None).await,
            )),
            Some(Some(agreed)) if self.deflate => {
                Link::Deflate(Box::new(DeflateLink::new(TokioIo::new(upgraded), &agreed)))
            }
            Some(_) => {
                return Err(Error::custom(
                    "the server answered an extension the client did not offer",
                ));
            }
        };
        Ok(TestWebSocket {
            link,
            timeout,
            headers,
        })
    }
}

impl<'a> IntoFuture for Connect<'a> {
    type Output = Result<TestWebSocket>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<TestWebSocket>> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// A plain HTTP answer.
///
/// ```
/// use wsframe::http::StatusCode;
/// use wsframe::testing::TestClient;
/// use wsframe::{App, Json, WebSocket};
///
/// async fn chat(_ws: WebSocket) {}
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new()
///     .websocket("/ws", chat)
///     .get("/version", |_req| async { Json(serde_json::json!({ "version": 1 })) });
/// let client = TestClient::new(app)?;
///
/// let answer = client.get("/version").await?;
/// assert_eq!(answer.status, StatusCode::OK);
/// assert_eq!(answer.headers["content-type"], "application/json");
/// assert_eq!(answer.text(), r#"{"version":1}"#);
///
/// // A plain GET on a WebSocket route.
/// assert_eq!(client.get("/ws").await?.status, StatusCode::UPGRADE_REQUIRED);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Bytes,
}

impl TestResponse {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The client side of an accepted in-process WebSocket.
///
/// ```
/// use serde_json::{Value, json};
/// use wsframe::testing::TestClient;
/// use wsframe::{App, CloseCode, Error, WebSocket};
///
/// async fn count(mut ws: WebSocket) -> wsframe::Result<()> {
///     let mut n = 0;
///     while let Ok(Value::Object(_)) = ws.receive_json().await {
///         n += 1;
///         ws.send_json(&json!({ "received": n })).await?;
///     }
///     ws.close(CloseCode(4000), "objects only").await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().websocket("/count", count))?;
/// let mut ws = client.connect("/count").await?;
/// ws.send_json(&json!({ "op": "add" })).await?;
/// assert_eq!(ws.receive_json::<Value>().await?, json!({ "received": 1 }));
///
/// ws.send_json(&[1, 2]).await?;
/// let close = ws.receive_close().await?;
/// assert_eq!((close.code, close.reason.as_str()), (Some(CloseCode(4000)), "objects only"));
/// assert!(matches!(ws.receive().await, Err(Error::Disconnected(_))));
/// # Ok(()) }
/// ```
pub struct TestWebSocket {
    link: Link,
    timeout: Duration,
    headers: HeaderMap,
}

/// The client side of the connection: tungstenite's, or wsframe's own when
/// permessage-deflate was agreed (tungstenite refuses compressed frames).
enum Link {
    Plain(Box<WebSocketStream<TokioIo<Upgraded>>>),
    Deflate(Box<DeflateLink>),
}

impl std::fmt::Debug for TestWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestWebSocket")
            .field("protocol", &self.protocol())
            .finish_non_exhaustive()
    }
}

impl TestWebSocket {
    /// The subprotocol the server selected.
    pub fn protocol(&self) -> Option<&str> {
        self.headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
    }

    /// Headers of the `101` response.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The extensions the server agreed to (`Sec-WebSocket-Extensions` of the `101`),
    /// if any; see [`Connect::deflate`].
    pub fn extensions(&self) -> Option<&str> {
        self.headers
            .get(header::SEC_WEBSOCKET_EXTENSIONS)
            .and_then(|v| v.to_str().ok())
    }

    async fn write(&mut self, message: Message) -> Result<()> {
        let sent = async {
            match &mut self.link {
                Link::Plain(socket) => socket
                    .send(message.into_tungstenite())
                    .await
                    .map_err(|e| Error::Protocol(ProtocolError::new(e))),
                Link::Deflate(link) => link.send(message).await,
            }
        };
        tokio::time::timeout(self.timeout, sent)
            .await
            .map_err(|_| Error::Timeout("a send"))?
    }

    /// Send a message.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<()> {
        self.write(message.into()).await
    }

    /// Send a text message.
    pub async fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<()> {
        self.write(Message::Text(text.into())).await
    }

    /// Send a binary message.
    pub async fn send_bytes(&mut self, bytes: impl Into<Bytes>) -> Result<()> {
        self.write(Message::Binary(bytes.into())).await
    }

    /// Send `value` as JSON text.
    pub async fn send_json<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let text = serde_json::to_string(value)?;
        self.send_text(text).await
    }

    /// Receive the next data message; a close frame is [`Error::Disconnected`] with the
    /// server's code and reason.
    pub async fn receive(&mut self) -> Result<Message> {
        let timeout = self.timeout;
        let socket = match &mut self.link {
            Link::Plain(socket) => socket,
            Link::Deflate(link) => {
                return tokio::time::timeout(timeout, link.receive())
                    .await
                    .map_err(|_| Error::Timeout("a message"))?;
            }
        };
        tokio::time::timeout(timeout, async {
            loop {
                match socket.next().await {
                    Some(Ok(WsMessage::Text(t))) => {
                        return Ok(Message::Text(Utf8Bytes::from_tungstenite(t)));
                    }
                    Some(Ok(WsMessage::Binary(b))) => return Ok(Message::Binary(b)),
                    Some(Ok(WsMessage::Close(frame))) => {
                        return Err(Error::Disconnected(disconnect(frame)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(
                        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                    ))
                    | None => return Err(Error::Disconnected(Disconnect::default())),
                    Some(Err(e)) => return Err(Error::Protocol(ProtocolError::new(e))),
                }
            }
        })
        .await
        .map_err(|_| Error::Timeout("a message"))?
    }

    /// Receive a text message.
    pub async fn receive_text(&mut self) -> Result<String> {
        match self.receive().await? {
            Message::Text(t) => Ok(t.as_str().to_owned()),
            other => Err(Error::UnexpectedMessage {
                expected: "text",
                received: other.kind(),
            }),
        }
    }

    /// Receive a binary message.
    pub async fn receive_bytes(&mut self) -> Result<Bytes> {
        match self.receive().await? {
            Message::Binary(b) => Ok(b),
            other => Err(Error::UnexpectedMessage {
                expected: "binary",
                received: other.kind(),
            }),
        }
    }

    /// Receive a JSON message as `T`.
    pub async fn receive_json<T: DeserializeOwned>(&mut self) -> Result<T> {
        let message = self.receive().await?;
        Ok(serde_json::from_slice(message.as_bytes())?)
    }

    /// Wait for the server's close frame and return its code and reason; a data
    /// message on the way is an error.
    pub async fn receive_close(&mut self) -> Result<Disconnect> {
        match self.receive().await {
            Err(Error::Disconnected(d)) => Ok(d),
            Ok(message) => Err(Error::UnexpectedMessage {
                expected: "close",
                received: message.kind(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Close from the client side with `code` and `reason`.
    pub async fn close(&mut self, code: impl Into<CloseCode>, reason: &str) -> Result<()> {
        let code = code.into();
        let closed = async {
            match &mut self.link {
                Link::Plain(socket) => {
                    let frame = CloseFrame {
                        code: code.0.into(),
                        reason: reason.into(),
                    };
                    WebSocketStream::close(socket, Some(frame))
                        .await
                        .map_err(|e| Error::Protocol(ProtocolError::new(e)))
                }
                Link::Deflate(link) => link.close(code, reason).await,
            }
        };
        tokio::time::timeout(self.timeout, closed)
            .await
            .map_err(|_| Error::Timeout("the close"))?
    }
}

fn disconnect(frame: Option<CloseFrame>) -> Disconnect {
    match frame {
        Some(f) => Disconnect {
            code: Some(CloseCode(f.code.into())),
            reason: f.reason.as_str().to_owned(),
        },
        None => Disconnect::default(),
    }
}
