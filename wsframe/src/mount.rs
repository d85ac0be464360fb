//! Serving an app's routes inside another server: an axum `Router` (feature `axum`) or a
//! hyper connection loop of the user's own.
//!
//! Owns [`AppService`], the built app as a tower and hyper `Service`, and its
//! [`ServiceHandle`] (graceful shutdown, metrics). Every request goes through the same
//! `dispatch` as the built-in server's: routing, the handshake checks, the Origin check,
//! guards, the handler's decision, and the driver of the upgraded connection, which
//! hyper hands over through `hyper::upgrade::on` on the request itself. It never owns a
//! listener or an HTTP connection: accepting, TLS, header limits and the connection's
//! life until its upgrade belong to the host server. (Which settings apply when mounted
//! is documented on [`AppService`], where users read it.)

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Request;
use tokio::sync::OnceCell;

#[cfg(doc)]
use crate::Config;
use crate::app::AppInner;
use crate::dispatch::{ConnState, detach_body, dispatch};
use crate::metrics::Metrics;
use crate::{App, Response, Result};

/// The peer address of a request whose host server did not say.
const UNKNOWN_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// The future of [`AppService`]'s `call`: the response, never an error (every failure
/// is an HTTP answer).
type ServiceFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl App {
    /// Build the app (reporting every malformed or conflicting route) as a
    /// [`Service`](AppService) for a server of your own: hyper's
    /// `serve_connection(..).with_upgrades()`, or any tower stack.
    ///
    /// ```
    /// use wsframe::{App, WebSocket};
    ///
    /// async fn hello(ws: WebSocket) -> wsframe::Result<()> { ws.send_text("hi").await }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let service = App::new().websocket("/ws", hello).into_service()?;
    /// let handle = service.handle();
    /// assert_eq!(handle.metrics().snapshot().connections_open, 0);
    ///
    /// let conflict = App::new().websocket("/ws/<a>", hello).websocket("/ws/<b>", hello);
    /// assert!(conflict.into_service().is_err());
    /// # Ok(()) }
    /// ```
    pub fn into_service(self) -> Result<AppService> {
        Ok(AppService {
            inner: self.build()?,
            peer: None,
            https: false,
            stopped: Arc::default(),
        })
    }

    /// Build the app (reporting every malformed or conflicting route) as an axum
    /// `Router` holding its routes, to [`merge`](axum::Router::merge) or
    /// [`nest`](axum::Router::nest) into yours. Shorthand for
    /// `app.into_service()?.into_axum()`; keep the [`AppService`] when you want its
    /// [`handle`](AppService::handle) for graceful shutdown.
    ///
    /// ```
    /// use axum::routing::get;
    /// use wsframe::{App, WebSocket};
    ///
    /// async fn hello(ws: WebSocket) -> wsframe::Result<()> { ws.send_text("hi").await }
    ///
    /// # fn main() -> wsframe::Result<()> {
    /// let router: axum::Router = axum::Router::new()
    ///     .route("/health", get(|| async { "ok" }))
    ///     .merge(App::new().websocket("/ws", hello).into_axum()?);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "axum")]
    pub fn into_axum<S>(self) -> Result<axum::Router<S>>
    where
        S: Clone + Send + Sync + 'static,
    {
        Ok(self.into_service()?.into_axum())
    }
}

/// An [`App`] built to be served by another server: a `Service` of HTTP requests
/// (`tower_service::Service` and `hyper::service::Service`, for any request body, which
/// is never read), answering exactly as [`App::serve`] would. Cheap to clone; every
/// clone serves the same app, hub and connections.
///
/// A WebSocket upgrade needs hyper's upgrade handle on the request, so the connection
/// must be served with upgrades (`serve_connection(..).with_upgrades()`; `axum::serve`
/// does).
///
/// # What applies when mounted
///
/// What belongs to a route or a connection applies, as with [`App::serve`]:
///
/// - routes, guards and `#[depends]`, app state, the [`Hub`](crate::Hub) (the app's
///   own: `app.hub()` taken before mounting reaches mounted connections) and its
///   backplane;
/// - the handshake checks, [`Config::origins`] (403; the scheme is `https` with
///   [`AppService::https`]) and subprotocols;
/// - [`Limits`](crate::Limits) and [`RouteLimits`](crate::RouteLimits): message and
///   frame size, message rate, idle timeout and pings;
/// - [`Config::handshake_timeout`], as the time guards and the handler take to decide
///   (503 after it);
/// - [`Config::outgoing_queue`], [`Config::incoming_queue`],
///   [`Config::read_buffer_size`], [`Config::close_timeout`], [`Config::node_id`];
/// - [`Config::shutdown_grace`], through [`ServiceHandle::stopped`];
/// - [`Config::trust_proxy`] and [`Config::trust_forwarded_host`], when the peer
///   address is known (below);
/// - [`Config::max_connections_per_client`] and
///   [`Config::max_handshakes_per_client`], when the peer address is known;
/// - the counters of [`Metrics`], except `connections_refused` and `accept_errors`,
///   which count the built-in listener.
///
/// What belongs to the listener or to the HTTP connection before its upgrade is the
/// host server's, and ignored here:
///
/// - [`Config::max_connections`] and its 503 (`axum::serve` accepts without limit);
/// - [`Config::max_header_bytes`] and its 431 (hyper's `http1::Builder::max_buf_size`);
/// - the handshake timeout's part from TCP accept to the request (slow clients, idle
///   keep-alive connections);
/// - TLS (`Config::tls`; say [`AppService::https`] when the host terminates it), `TCP_NODELAY`, and the descriptor limit raised by
///   [`App::listen`];
/// - `App::serve`'s Ctrl-C and SIGTERM handling: call [`ServiceHandle::shutdown`] from
///   your server's shutdown.
///
/// The peer address ([`PeerAddr`](crate::PeerAddr), the connection's log span, and the
/// address [`Config::trust_proxy`] compares) comes from [`AppService::with_peer`], else
/// from axum's `ConnectInfo<SocketAddr>` (serve with
/// `into_make_service_with_connect_info::<SocketAddr>()`); with neither it is
/// `0.0.0.0:0`, and no proxy is recognised as trusted.
///
/// # With your own hyper loop
///
/// ```no_run
/// use hyper::server::conn::http1;
/// use hyper_util::rt::TokioIo;
/// use tokio::net::TcpListener;
/// use wsframe::{App, WebSocket};
///
/// async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
///     while let Ok(message) = ws.receive().await {
///         ws.send(message).await?;
///     }
///     Ok(())
/// }
///
/// #[tokio::main]
/// async fn main() -> wsframe::Result<()> {
///     let service = App::new().websocket("/ws", echo).into_service()?;
///     let listener = TcpListener::bind("127.0.0.1:8080").await?;
///     loop {
///         let (stream, peer) = listener.accept().await?;
///         let service = service.with_peer(peer);
///         tokio::spawn(async move {
///             let connection = http1::Builder::new()
///                 .serve_connection(TokioIo::new(stream), service)
///                 .with_upgrades();
///             if let Err(e) = connection.await {
///                 eprintln!("connection failed: {e}");
///             }
///         });
///     }
/// }
/// ```
#[derive(Clone)]
pub struct AppService {
    inner: Arc<AppInner>,
    peer: Option<SocketAddr>,
    /// The host server terminates TLS: requests arrive as `https`.
    https: bool,
    /// Set once the end of a shutdown has run, shared by every handle.
    stopped: Arc<OnceCell<()>>,
}

impl fmt::Debug for AppService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppService")
            .field("peer", &self.peer)
            .field("https", &self.https)
            .finish_non_exhaustive()
    }
}

impl AppService {
    /// This service for requests from `peer` (the address your accept loop got): it
    /// becomes the requests' [`PeerAddr`](crate::PeerAddr), and the address compared
    /// with [`Config::trust_proxy`]. Without it, axum's `ConnectInfo<SocketAddr>` is
    /// used when present, else `0.0.0.0:0`.
    ///
    /// ```
    /// # fn main() -> wsframe::Result<()> {
    /// let service = wsframe::App::new().into_service()?;
    /// let for_one_client = service.with_peer("192.0.2.7:50000".parse().unwrap());
    /// # Ok(()) }
    /// ```
    pub fn with_peer(&self, peer: SocketAddr) -> AppService {
        AppService {
            peer: Some(peer),
            ..self.clone()
        }
    }

    /// This service behind a host server that terminates TLS: the requests' scheme,
    /// which the Origin check compares, is `https` (without it, `http` unless a trusted
    /// proxy says otherwise; the scheme of a request line in absolute form is ignored).
    ///
    /// ```
    /// # fn main() -> wsframe::Result<()> {
    /// let service = wsframe::App::new().into_service()?.https();
    /// # let _ = service;
    /// # Ok(()) }
    /// ```
    pub fn https(&self) -> AppService {
        AppService {
            https: true,
            ..self.clone()
        }
    }

    /// A handle to shut the mounted app down gracefully and read its metrics.
    pub fn handle(&self) -> ServiceHandle {
        ServiceHandle {
            inner: self.inner.clone(),
            stopped: self.stopped.clone(),
        }
    }

    /// The app's routes as an axum `Router`, to [`merge`](axum::Router::merge) into
    /// yours or [`nest`](axum::Router::nest) under a prefix (the handlers then see the
    /// path below the prefix, as axum hands it). Each route pattern is registered in
    /// axum's syntax (`/ws/<id>` as `/ws/{id}`, `<rest..>` as `{*rest}`), so paths the
    /// app does not route stay with your router and its fallback; a path routed in both
    /// makes axum panic at `merge`, as it does for its own overlapping routes (so does a
    /// literal segment starting with `:` or `*`, unless your router is built with
    /// `without_v07_checks()`).
    ///
    /// Serve with `into_make_service_with_connect_info::<SocketAddr>()` so that handlers
    /// see the client's address; see [`AppService`] for which settings apply.
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    ///
    /// use axum::routing::get;
    /// use wsframe::{App, WebSocket};
    ///
    /// async fn hello(ws: WebSocket) -> wsframe::Result<()> { ws.send_text("hi").await }
    ///
    /// #[tokio::main]
    /// async fn main() -> wsframe::Result<()> {
    ///     let service = App::new().websocket("/ws", hello).into_service()?;
    ///     let handle = service.handle();
    ///     let router = axum::Router::new()
    ///         .route("/health", get(|| async { "ok" }))
    ///         .merge(service.into_axum());
    ///
    ///     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    ///     let on_signal = handle.clone();
    ///     axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
    ///         .with_graceful_shutdown(async move {
    ///             wsframe::shutdown_signal().await;
    ///             on_signal.shutdown(); // every WebSocket gets 1001
    ///         })
    ///         .await?;
    ///     handle.stopped().await; // handlers finished, or the grace period is over
    ///     Ok(())
    /// }
    /// ```
    #[cfg(feature = "axum")]
    pub fn into_axum<S>(self) -> axum::Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        // Our patterns are checked already; axum's check for 0.7-style `:name` segments
        // would refuse a literal segment that starts with `:` or `*` here.
        let mut router = axum::Router::new().without_v07_checks();
        for pattern in self.inner.router.patterns() {
            router = router.route_service(pattern.matchit(), self.clone());
        }
        router
    }

    fn serve<B>(&self, req: Request<B>) -> ServiceFuture {
        let peer = self.peer_of(&req);
        let conn = ConnState {
            // Only the host server knows whether the connection is TLS (`https()`); a
            // request line in absolute form is the client's word, not a source.
            tls: self.https,
            ..ConnState::default()
        };
        let request = detach_body(req);
        let app = self.inner.clone();
        // The host server owns the connection: no watchdog reads this state.
        Box::pin(dispatch(app, request, peer, Arc::new(conn)))
    }

    fn peer_of<B>(&self, req: &Request<B>) -> SocketAddr {
        if let Some(peer) = self.peer {
            return peer;
        }
        #[cfg(feature = "axum")]
        if let Some(axum::extract::ConnectInfo(peer)) = req
            .extensions()
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
        {
            return *peer;
        }
        let _ = req;
        UNKNOWN_PEER
    }
}

impl<B> tower_service::Service<Request<B>> for AppService {
    type Response = Response;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ServiceFuture {
        self.serve(req)
    }
}

impl<B> hyper::service::Service<Request<B>> for AppService {
    type Response = Response;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<B>) -> ServiceFuture {
        self.serve(req)
    }
}

/// Controls a mounted app ([`AppService`]): graceful shutdown and metrics. The host
/// server's own shutdown does not reach WebSocket connections (once upgraded they are no
/// longer its HTTP connections), so trigger this one too.
///
/// ```
/// use wsframe::{App, WebSocket};
///
/// async fn hello(ws: WebSocket) -> wsframe::Result<()> { ws.send_text("hi").await }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let service = App::new().websocket("/ws", hello).into_service()?;
/// let handle = service.handle();
/// // ... serve `service` ...
/// handle.shutdown();
/// handle.stopped().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServiceHandle {
    inner: Arc<AppInner>,
    stopped: Arc<OnceCell<()>>,
}

impl fmt::Debug for ServiceHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceHandle")
            .field("shutting_down", &self.inner.lifecycle.is_shutting_down())
            .finish_non_exhaustive()
    }
}

impl ServiceHandle {
    /// Begin a graceful shutdown: new WebSocket handshakes get 503, and every connection
    /// writes what is queued, then closes with 1001 (going away). Plain HTTP routes keep
    /// answering until the host server stops.
    pub fn shutdown(&self) {
        self.inner.lifecycle.begin_shutdown();
    }

    /// Completes once [`shutdown`](ServiceHandle::shutdown) was called and every
    /// connection has ended: handlers get up to [`Config::shutdown_grace`], then the rest
    /// are terminated, and the backplane leaves the cluster. Any number of callers may
    /// wait; the work is done once.
    pub async fn stopped(&self) {
        self.inner.lifecycle.shutting_down().await;
        self.stopped
            .get_or_init(|| crate::server::drain(&self.inner))
            .await;
    }

    /// The app's counters.
    pub fn metrics(&self) -> Metrics {
        Metrics(self.inner.counters.clone())
    }
}
