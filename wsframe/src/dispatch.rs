//! One HTTP request through the app: route, validate the handshake, run the handler
//! until it decides (accept or refuse), answer, and on accept start the connection's
//! driver once hyper hands over the upgraded socket. The handler's future is polled
//! inline: by the HTTP task until it decides, then by the driver, one task per
//! connection.
//!
//! Shared by the TCP server, the in-process TestClient and [`AppService`] (the app
//! mounted into axum or a hyper loop of the user's), so all give the same answers to the
//! same requests.
//!
//! [`AppService`]: crate::AppService

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::{Method, Request, StatusCode};
use hyper::upgrade::OnUpgrade;
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::{Instrument, info_span, warn};

use crate::app::{AppInner, WsEndpoint};
use crate::client_limits::Admission;
use crate::connection::Driver;
use crate::connection::ending::{Ending, Stage};
use crate::connection::inline_handler::InlineHandler;
use crate::deflate::{self, Negotiated};
use crate::forwarded::{Forwarded, Scheme};
use crate::handshake::{self, is_upgrade_request};
use crate::metrics::Counters;
use crate::request::parse_protocols;
use crate::response::{IntoResponse, Response, plain};
use crate::router::PathParams;
use crate::socket::{ConnShared, Decision, WebSocket};
use crate::{Config, ConnectionId, Error, HandshakeRequest, Result};

/// What the connection watchdog needs to know about its requests.
#[derive(Default)]
pub(crate) struct ConnState {
    /// The connection was upgraded: the handshake timeout no longer applies.
    pub(crate) decided: AtomicBool,
    /// A handshake is being decided (its own time limit applies meanwhile).
    pub(crate) deciding: AtomicBool,
    /// Plain HTTP requests answered (keep-alive activity).
    pub(crate) requests: AtomicU64,
    /// When the TCP connection was accepted (our own listener only): the first
    /// handshake's decision must come within the handshake timeout of it.
    pub(crate) accepted: Option<tokio::time::Instant>,
    /// The connection-limit slot; it moves to the WebSocket connection on upgrade.
    pub(crate) permit: std::sync::Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
    /// wsframe terminated TLS on this connection: its requests' scheme is `https`.
    pub(crate) tls: bool,
}

impl ConnState {
    /// When a handshake arriving now must be decided: the handshake timeout counts from
    /// the TCP accept for a connection's first request (one budget for TLS, the request
    /// head, guards and handler), from the request itself after answered keep-alive
    /// requests or when the host server owns the connection.
    fn decision_deadline(&self, timeout: std::time::Duration) -> tokio::time::Instant {
        match self.accepted {
            Some(accepted) if self.requests.load(Ordering::Relaxed) == 0 => accepted + timeout,
            _ => tokio::time::Instant::now() + timeout,
        }
    }
}

/// A request as [`dispatch`] takes it: its head, and hyper's handle on the connection's
/// upgrade (taken from the request's extensions, where hyper, and axum after it, leave
/// it). The body is dropped: no route reads one.
pub(crate) fn detach_body<B>(mut req: Request<B>) -> (Request<()>, OnUpgrade) {
    let on_upgrade = hyper::upgrade::on(&mut req);
    (req.map(drop), on_upgrade)
}

/// Answer one request (see the module docs); `conn` is what the connection's watchdog
/// reads (a fresh one when the host server owns the connection).
pub(crate) async fn dispatch(
    app: Arc<AppInner>,
    (req, on_upgrade): (Request<()>, OnUpgrade),
    peer: SocketAddr,
    conn: Arc<ConnState>,
) -> std::result::Result<Response, Infallible> {
    let response = route(&app, req, on_upgrade, peer, &conn).await;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        conn.requests.fetch_add(1, Ordering::Relaxed);
    }
    Ok(response)
}

async fn route(
    app: &Arc<AppInner>,
    req: Request<()>,
    on_upgrade: OnUpgrade,
    peer: SocketAddr,
    conn: &ConnState,
) -> Response {
    let Some(matched) = app.router.at(req.uri().path()) else {
        if is_upgrade_request(req.headers()) {
            Counters::inc(&app.counters.handshakes_rejected);
        }
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let endpoint = matched.value;
    let params = match matched.params {
        Ok(params) => params,
        Err(name) => {
            Counters::inc(&app.counters.handshakes_rejected);
            let body = format!("invalid path parameter `{name}`: not UTF-8 once percent-decoded");
            return (StatusCode::BAD_REQUEST, body).into_response();
        }
    };
    let route_pattern = matched.pattern.as_str();

    if !is_upgrade_request(req.headers()) {
        let is_get = matches!(*req.method(), Method::GET | Method::HEAD);
        return match (&endpoint.get, &endpoint.ws) {
            (Some(get), _) if is_get => {
                let forwarded = resolve(&req, peer, &app.config);
                let secure = conn.tls || forwarded.scheme == Some(Scheme::Https);
                let mut request = head(app, &req, params, route_pattern.into(), peer, forwarded);
                request.secure = secure;
                get(Arc::new(request)).await
            }
            (_, Some(_)) if is_get => handshake::upgrade_required(),
            _ => {
                let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
                r.headers_mut()
                    .insert(http::header::ALLOW, http::HeaderValue::from_static("GET"));
                r
            }
        };
    }

    let Some(ws) = &endpoint.ws else {
        Counters::inc(&app.counters.handshakes_rejected);
        return plain(StatusCode::NOT_FOUND, "no WebSocket route at this path");
    };
    let forwarded = resolve(&req, peer, &app.config);
    // The scheme the browser used: ours when we terminate TLS, else a trusted proxy's.
    let scheme = match (conn.tls, forwarded.scheme) {
        (true, _) => Scheme::Https,
        (false, Some(stated)) => stated,
        (false, None) => Scheme::Http,
    };
    let key = match handshake::validate(
        req.method(),
        req.version(),
        req.headers(),
        &app.config.origins,
        scheme,
        forwarded.host.as_deref(),
    ) {
        Ok(key) => key,
        Err(response) => {
            Counters::inc(&app.counters.handshakes_rejected);
            return response;
        }
    };
    if app.lifecycle.is_shutting_down() {
        Counters::inc(&app.counters.handshakes_rejected);
        return plain(StatusCode::SERVICE_UNAVAILABLE, "server shutting down");
    }

    // Per-client limits, on the address the trusted proxies vouch for; before any guard.
    let client_slot = match app.client_limits.admit(forwarded.client, Instant::now()) {
        Admission::Admitted(slot) => slot,
        Admission::TooManyConnections => {
            Counters::inc(&app.counters.handshakes_rejected);
            Counters::inc(&app.counters.client_connections_refused);
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "too many connections from this client",
            );
        }
        Admission::TooManyHandshakes { retry_after } => {
            Counters::inc(&app.counters.handshakes_rejected);
            Counters::inc(&app.counters.handshakes_throttled);
            let mut r = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many handshakes from this client; retry later",
            );
            // Whole seconds, rounded up: the earliest retry that can succeed.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            r.headers_mut()
                .insert(http::header::RETRY_AFTER, seconds.max(1).into());
            return r;
        }
    };

    let request = head(app, &req, params, ws.route.clone(), peer, forwarded);
    // permessage-deflate, if the client offers it and the route allows it.
    let offers = deflate::offer::parse(
        req.headers()
            .get_all(http::header::SEC_WEBSOCKET_EXTENSIONS)
            .iter()
            .map(|value| value.as_bytes()),
    );
    let (deflate, extension) = match deflate::offer::negotiate(&offers, ws.limits.get_compression())
    {
        Some((negotiated, answer)) => (Some(negotiated), Some(answer)),
        None => (None, None),
    };
    drop(req);
    conn.deciding.store(true, Ordering::Release);
    let outcome = tokio::time::timeout_at(
        conn.decision_deadline(app.config.handshake_timeout),
        run_handler(app, ws, request, deflate),
    )
    .await;
    conn.deciding.store(false, Ordering::Release);
    let Ok(outcome) = outcome else {
        // Dropping the unfinished decision drops the handler's future.
        warn!("a guard or handler did not decide within the handshake timeout");
        Counters::inc(&app.counters.handshakes_rejected);
        return plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the handshake was not decided in time",
        );
    };
    if let Handshake::Accept { .. } = outcome {
        conn.decided.store(true, Ordering::Release);
    }
    match outcome {
        Handshake::Accept {
            protocol,
            mut headers,
            start,
        } => {
            if let Some(value) = extension.and_then(|e| http::HeaderValue::from_str(&e).ok()) {
                headers.insert(http::header::SEC_WEBSOCKET_EXTENSIONS, value);
            }
            let response = handshake::switching_protocols(&key, protocol.as_deref(), headers);
            let Start {
                mut driver,
                ready,
                span,
            } = *start;
            driver.permit = conn.permit.lock().unwrap_or_else(|e| e.into_inner()).take();
            app.lifecycle.spawn(
                async move {
                    // This connection's share of its client's limit, until it closes.
                    let _client_slot = client_slot;
                    match on_upgrade.await {
                        Ok(upgraded) => {
                            let _ = ready.send(Ok(()));
                            driver.run(upgraded).await;
                        }
                        Err(e) => {
                            // Dropping the driver (below) finishes the queues the
                            // handler may already have used, leaves the hub, and drops
                            // the handler's future.
                            warn!(error = %e, "upgrade failed after 101");
                            let _ = ready.send(Err(Error::custom(format!("upgrade failed: {e}"))));
                        }
                    }
                }
                .instrument(span),
            );
            response
        }
        Handshake::Refuse(response) => {
            Counters::inc(&app.counters.handshakes_rejected);
            response
        }
    }
}

fn head(
    app: &AppInner,
    req: &Request<()>,
    params: PathParams,
    route: Arc<str>,
    peer: SocketAddr,
    forwarded: Forwarded,
) -> HandshakeRequest {
    HandshakeRequest {
        method: req.method().clone(),
        path: req.uri().path().to_string(),
        query: req.uri().query().map(str::to_string),
        headers: req.headers().clone(),
        params,
        route,
        peer,
        client: forwarded.client,
        forwarded_host: forwarded.host,
        protocols: parse_protocols(
            req.headers()
                .get_all(http::header::SEC_WEBSOCKET_PROTOCOL)
                .iter(),
        ),
        state: app.state.clone(),
        cache: Default::default(),
        overrides: app.overrides(),
        secure: false,
    }
}

/// What the trusted proxies in front of `req` vouch for; their host only when the app
/// believes it (`Config::trust_forwarded_host`).
fn resolve(req: &Request<()>, peer: SocketAddr, config: &Config) -> Forwarded {
    crate::forwarded::resolve(
        peer.ip(),
        req.headers(),
        &config.trusted_proxies,
        config.trust_forwarded_host,
    )
}

enum Handshake {
    Accept {
        protocol: Option<String>,
        headers: http::HeaderMap,
        start: Box<Start>,
    },
    Refuse(Response),
}

/// What the upgrade task needs to start the connection.
struct Start {
    driver: Driver,
    ready: oneshot::Sender<Result<()>>,
    span: tracing::Span,
}

/// Start the handler and poll it, here, until it decides. If the handshake is
/// abandoned before that (client gone, handshake timeout), the handler's future is
/// dropped with this one: nothing is left running for a connection that no longer
/// exists.
async fn run_handler(
    app: &AppInner,
    ws: &WsEndpoint,
    request: HandshakeRequest,
    deflate: Option<Negotiated>,
) -> Handshake {
    let id = ConnectionId::next(app.config.node_id);
    // The query string never reaches the logs: it often carries tokens.
    // Behind a trusted proxy `peer` is the proxy; `client` (set only when it differs) is
    // the address the proxy vouched for, the one `ClientAddr` gives the handler.
    let span = info_span!("ws", id = %id, route = %ws.route, peer = %request.peer,
        client = tracing::field::Empty);
    if request.client != request.peer.ip() {
        span.record("client", tracing::field::display(request.client));
    }
    let (decision_tx, mut decision_rx) = oneshot::channel();
    let (ready_tx, ready_rx) = oneshot::channel();
    let shared = Arc::new(ConnShared::new(
        id,
        ws.route.clone(),
        (request.protocols.clone(), ws.protocols.clone()),
        app.counters.clone(),
        (
            app.config.outgoing_queue,
            app.config.outgoing_queue_bytes,
            app.config.incoming_queue,
        ),
        (decision_tx, ready_rx),
        deflate,
    ));
    let socket = WebSocket::new(shared.clone());
    let mut handler = InlineHandler::new(Box::pin(
        (ws.handler)(socket, Arc::new(request)).instrument(span.clone()),
    ));

    // The handler either decides (accept or refuse) or ends without deciding. A decision
    // is always sent before the handler ends, so `biased` sees it first when both are ready.
    let decided = tokio::select! {
        biased;
        decision = &mut decision_rx => decision.map_err(|_| None),
        outcome = std::future::poll_fn(|cx| handler.poll_end(cx)) => match decision_rx.try_recv() {
            // It decided and ended in one poll (an extractor's rejection, a handler that
            // accepts and returns): the decision stands, and the driver gets the end.
            Ok(decision) => {
                handler = InlineHandler::Ended(outcome);
                Ok(decision)
            }
            Err(_) => Err(Some(outcome)),
        },
    };
    match decided {
        Ok(Decision::Accept { protocol, headers }) => {
            // Registered now, so that the handler's `hub.join` right after `accept` finds it.
            app.hub.register(shared.clone());
            Handshake::Accept {
                protocol,
                headers,
                start: Box::new(Start {
                    driver: Driver {
                        shared,
                        handler,
                        limits: ws.limits.clone(),
                        close_timeout: app.config.close_timeout,
                        read_chunk: app.config.read_buffer_size,
                        lifecycle: app.lifecycle.clone(),
                        hub: app.hub.clone(),
                        permit: None,
                    },
                    ready: ready_tx,
                    span,
                }),
            }
        }
        Ok(Decision::Reject(rejection)) => {
            // The handler may go on (e.g. after `close()` before `accept()`); let it, in
            // a task of its own, but not past the server's termination.
            if let Some(handler) = handler.into_future() {
                let lifecycle = app.lifecycle.clone();
                app.lifecycle.spawn(async move {
                    tokio::select! {
                        _ = handler => {}
                        _ = lifecycle.terminated() => {}
                    }
                });
            }
            Handshake::Refuse(rejection.into_response())
        }
        Err(outcome) => {
            // The handler ended (returned, failed or panicked) without deciding.
            shared.membership.take();
            let outcome = match outcome {
                Some(outcome) => outcome,
                // The decision's sender was dropped: the handler is ending.
                None => std::future::poll_fn(|cx| handler.poll_end(cx)).await,
            };
            let ending = Ending::of(outcome, &app.counters);
            span.in_scope(|| ending.log(Stage::BeforeDecision));
            Handshake::Refuse(plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
            ))
        }
    }
}
