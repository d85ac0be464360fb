//! The TCP server: accept loop, connection limit, handshake timeout, graceful shutdown.
//!
//! Owns listening sockets and the life of every HTTP connection until its upgrade. It
//! never stops accepting because of one connection's error (including running out of
//! file descriptors), and it never parses HTTP itself: hyper does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until};
use tracing::{debug, info, warn};

use crate::app::AppInner;
use crate::dispatch::{ConnState, detach_body, dispatch};
use crate::metrics::{Counters, Metrics};
use crate::response::plain;
use crate::{App, Result};

/// Connections over the limit that may be answered 503 at once; beyond this they are
/// dropped without an answer.
const MAX_REFUSALS_IN_FLIGHT: usize = 64;

impl App {
    /// Bind to `addr`, serve until Ctrl-C or SIGTERM, then shut down gracefully
    /// (1001 to every client, up to the grace period for handlers).
    pub async fn serve(self, addr: impl ToSocketAddrs) -> Result<()> {
        let server = self.bind(addr).await?;
        info!(addr = %server.local_addr(), "wsframe listening");
        server.run_until(crate::shutdown_signal()).await
    }

    /// Bind to `addr` (port 0 picks a free port) without serving yet.
    pub async fn bind(self, addr: impl ToSocketAddrs) -> Result<Server> {
        let listener = TcpListener::bind(addr).await?;
        self.listen(listener)
    }

    /// Serve on an already bound listener.
    pub fn listen(self, listener: TcpListener) -> Result<Server> {
        raise_descriptor_limit();
        let inner = self.build()?;
        Ok(Server {
            local_addr: listener.local_addr()?,
            listener,
            inner,
        })
    }
}

fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => debug!(limit, "file descriptor limit"),
        Err(e) => warn!(error = %e, "could not raise the file descriptor limit"),
    }
}

/// A bound server. Run it with [`run`](Server::run) or [`run_until`](Server::run_until);
/// control it from elsewhere with a [`ServerHandle`].
///
/// ```
/// use wsframe::{App, WebSocket};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// async fn hello(ws: WebSocket) -> wsframe::Result<()> { ws.send_text("hi").await }
///
/// let server = App::new().websocket("/ws", hello).bind("127.0.0.1:0").await?;
/// let addr = server.local_addr();
/// let handle = server.handle();
/// let running = tokio::spawn(server.run());
/// // ... connect to ws://{addr}/ws ...
/// handle.shutdown();
/// running.await.unwrap()?;
/// # Ok(()) }
/// ```
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    inner: Arc<AppInner>,
}

/// Controls a running [`Server`]: start a graceful shutdown, read metrics.
#[derive(Clone)]
pub struct ServerHandle {
    inner: Arc<AppInner>,
}

impl ServerHandle {
    /// Begin a graceful shutdown: stop accepting, send 1001 to every connection, wait up
    /// to the grace period for handlers, then drop what is left.
    pub fn shutdown(&self) {
        self.inner.lifecycle.begin_shutdown();
    }

    /// The app's counters.
    pub fn metrics(&self) -> Metrics {
        Metrics(self.inner.counters.clone())
    }
}

impl Server {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to shut the server down and read its metrics.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            inner: self.inner.clone(),
        }
    }

    /// Serve until [`ServerHandle::shutdown`] is called.
    pub async fn run(self) -> Result<()> {
        self.run_until(std::future::pending::<()>()).await
    }

    /// Serve until `signal` completes (or [`ServerHandle::shutdown`] is called), then
    /// shut down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> Result<()> {
        let Server {
            listener, inner, ..
        } = self;
        let limit = Arc::new(Semaphore::new(inner.config.max_connections));
        let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
        tokio::pin!(signal);
        loop {
            let accepted = tokio::select! {
                _ = &mut signal => { inner.lifecycle.begin_shutdown(); break; }
                _ = inner.lifecycle.shutting_down() => break,
                accepted = listener.accept() => accepted,
            };
            let accepted_at = Instant::now();
            let (stream, peer) = match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // EMFILE/ENFILE and friends: keep the loop alive, give the
                    // process a moment to release descriptors.
                    Counters::inc(&inner.counters.accept_errors);
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let app = inner.clone();
            match limit.clone().try_acquire_owned() {
                Ok(permit) => {
                    #[cfg(feature = "tls")]
                    if let Some(tls) = app.config.tls.clone() {
                        inner.lifecycle.spawn(async move {
                            // The TLS handshake counts toward the handshake timeout.
                            let deadline = accepted_at + app.config.handshake_timeout;
                            let tls_accept = tls.acceptor.accept(stream);
                            match tokio::time::timeout_at(deadline, tls_accept).await {
                                Ok(Ok(stream)) => {
                                    let permit = Some(permit);
                                    let tls = true;
                                    serve_connection(app, stream, peer, permit, accepted_at, tls)
                                        .await
                                }
                                Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
                                Err(_) => tracing::debug!("TLS handshake timed out"),
                            }
                        });
                        continue;
                    }
                    inner.lifecycle.spawn(serve_connection(
                        app,
                        stream,
                        peer,
                        Some(permit),
                        accepted_at,
                        false,
                    ));
                }
                Err(_) => {
                    Counters::inc(&app.counters.connections_refused);
                    if let Ok(slot) = refusals.clone().try_acquire_owned() {
                        inner.lifecycle.spawn(async move {
                            let _slot = slot; // held until the answer is written
                            // A wss:// client can only read the 503 inside TLS; the
                            // refusal slots bound what those handshakes cost.
                            #[cfg(feature = "tls")]
                            if let Some(tls) = app.config.tls.clone() {
                                let tls_accept = tls.acceptor.accept(stream);
                                if let Ok(Ok(stream)) =
                                    tokio::time::timeout(REFUSAL_TIME, tls_accept).await
                                {
                                    refuse_connection(app, stream).await;
                                }
                                return;
                            }
                            refuse_connection(app, stream).await;
                        });
                    }
                }
            }
        }
        drop(listener);
        drain(&inner).await;
        info!("server stopped");
        Ok(())
    }
}

/// The end of a graceful shutdown, once nothing new is accepted: wait up to the grace
/// period for every connection task, terminate the rest, and leave the cluster. Shared
/// by [`Server::run_until`] and a mounted app's
/// [`ServiceHandle::stopped`](crate::ServiceHandle::stopped).
pub(crate) async fn drain(inner: &AppInner) {
    let grace = inner.config.shutdown_grace;
    if tokio::time::timeout(grace, inner.lifecycle.wait())
        .await
        .is_err()
    {
        warn!(
            ?grace,
            "grace period over; dropping the remaining connections"
        );
        inner.lifecycle.terminate();
        inner.lifecycle.wait().await;
    }
    inner.hub.stop_backplane().await;
}

fn http1_builder(app: &AppInner) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .max_buf_size(app.config.max_header_bytes)
        .header_read_timeout(app.config.handshake_timeout);
    builder
}

/// Serve one connection's HTTP requests until its upgrade (or its end).
///
/// `permit` is the connection-limit slot; a WebSocket connection keeps it until closed.
/// `accepted` is when the TCP connection was accepted: the handshake timeout counts from
/// there. `tls`: we terminated TLS on `io` (the requests' scheme is `https`).
pub(crate) async fn serve_connection<IO>(
    app: Arc<AppInner>,
    io: IO,
    peer: SocketAddr,
    permit: Option<OwnedSemaphorePermit>,
    accepted: Instant,
    tls: bool,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState {
        permit: std::sync::Mutex::new(permit),
        accepted: Some(accepted),
        tls,
        ..ConnState::default()
    });
    let service = {
        let (app, state) = (app.clone(), state.clone());
        service_fn(move |req| dispatch(app.clone(), detach_body(req), peer, state.clone()))
    };
    let conn = http1_builder(&app)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);

    let timeout = app.config.handshake_timeout;
    let mut deadline = accepted + timeout;
    let mut seen_requests = 0;
    let mut shutdown_seen = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    debug!(error = %e, %peer, "HTTP connection ended with an error");
                }
                return;
            }
            _ = app.lifecycle.shutting_down(), if !shutdown_seen => {
                shutdown_seen = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = app.lifecycle.terminated() => return,
            _ = sleep_until(deadline), if !state.decided.load(Ordering::Acquire) => {
                let requests = state.requests.load(Ordering::Relaxed);
                if state.decided.load(Ordering::Acquire) {
                    continue; // upgraded just now; hyper is finishing the handover
                }
                if requests != seen_requests || state.deciding.load(Ordering::Acquire) {
                    // A keep-alive connection still in use, or a handshake being
                    // decided under its own time limit.
                    seen_requests = requests;
                    deadline = Instant::now() + timeout;
                    continue;
                }
                debug!(%peer, ?timeout, "handshake timeout; closing the connection");
                return;
            }
        }
    }
}

/// How long a refused connection may take to read its 503 (and, with TLS, to finish
/// the TLS handshake first).
const REFUSAL_TIME: Duration = Duration::from_secs(2);

/// Answer a connection over the limit with 503 and close it.
async fn refuse_connection<IO>(app: Arc<AppInner>, io: IO)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(|_req| async {
        let mut r = plain(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "too many connections; try again later",
        );
        r.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        Ok::<_, std::convert::Infallible>(r)
    });
    let mut builder = http1_builder(&app);
    builder.keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    let _ = tokio::time::timeout(REFUSAL_TIME, conn).await;
}
