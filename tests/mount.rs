//! wsframe routes mounted into another server: an axum `Router` served by `axum::serve`
//! beside axum's own routes, and `AppService` in a hyper connection loop of the test's
//! own. The answers, guards, hub and per-route limits are the built-in server's.

use std::net::SocketAddr;

use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::http::StatusCode;
use wsframe::{
    App, FromHandshake, HandshakeRequest, Hub, PeerAddr, Rejection, Route, RouteLimits,
    ServiceHandle, WebSocket,
};
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

async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

async fn lobby(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("lobby", &ws);
    ws.send_text("joined").await?;
    while ws.receive().await.is_ok() {}
    Ok(())
}

fn app() -> App {
    App::new()
        .websocket("/ws/echo", |ws: WebSocket, _: NeedsToken| echo(ws))
        .websocket("/ws/lobby", lobby)
        .websocket(
            "/ws/peer",
            |ws: WebSocket, PeerAddr(peer): PeerAddr| async move {
                ws.send_text(peer.to_string()).await
            },
        )
        .route(Route::websocket("/ws/small", echo).limits(RouteLimits::new().max_message_size(16)))
}

/// An axum app (a health route, a fallback of its own) with `app` merged in, served by
/// `axum::serve` on a free loopback port.
struct AxumServer {
    addr: SocketAddr,
    hub: Hub,
    handle: ServiceHandle,
    /// Starts axum's graceful shutdown, which also shuts the mounted app down.
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_axum(app: App, mount: impl FnOnce(axum::Router) -> axum::Router) -> AxumServer {
    let hub = app.hub(); // taken before mounting: the mounted connections' hub
    let service = app.into_service().expect("routes build");
    let handle = service.handle();
    let router = mount(service.into_axum())
        .route("/health", get(|| async { "healthy" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "axum fallback") });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let on_signal = handle.clone();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stopped.await;
            on_signal.shutdown();
        })
        .await
    });
    AxumServer {
        addr,
        hub,
        handle,
        stop: Some(stop),
        task,
    }
}

fn get_request(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").into_bytes()
}

async fn assert_echoes(addr: SocketAddr, path: &str) {
    let mut ws = connect(addr, path).await;
    ws.send(WsMessage::text("hello")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("hello")
    );
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn axum_serves_its_routes_and_the_mounted_ones_side_by_side() {
    init_tracing();
    let server = start_axum(app(), |ws| ws).await;

    let health = raw_request(server.addr, &get_request("/health")).await;
    assert_eq!(
        (health.status, health.body_text().as_str()),
        (200, "healthy")
    );

    assert_echoes(server.addr, "/ws/echo?token=good").await;

    // A guard's rejection is its HTTP status and body, before any upgrade.
    let refused = raw_request(server.addr, &upgrade_request("/ws/echo?token=bad", "", &[])).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(refused.body_text(), "missing or wrong token");

    // The Origin check and the plain-request answer are wsframe's too.
    let cross_site = raw_request(
        server.addr,
        &upgrade_request(
            "/ws/echo?token=good",
            "Origin: http://evil.example\r\n",
            &[],
        ),
    )
    .await;
    assert_eq!(cross_site.status, 403, "{cross_site:?}");
    let plain = raw_request(server.addr, &get_request("/ws/echo")).await;
    assert_eq!(plain.status, 426, "{plain:?}");

    // A path the app does not route stays with axum: its fallback answers.
    for request in [get_request("/nope"), upgrade_request("/ws/nope", "", &[])] {
        let unknown = raw_request(server.addr, &request).await;
        assert_eq!(
            (unknown.status, unknown.body_text().as_str()),
            (404, "axum fallback")
        );
    }

    let snapshot = server.handle.metrics().snapshot();
    assert_eq!(snapshot.connections_total, 1);
    assert!(snapshot.handshakes_rejected >= 2, "{snapshot:?}");
}

#[tokio::test]
async fn the_apps_hub_reaches_mounted_connections() {
    let server = start_axum(app(), |ws| ws).await;
    let mut ws = connect(server.addr, "/ws/lobby").await;
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("joined")
    );
    assert_eq!(server.hub.room("lobby").broadcast_text("to everyone"), 1);
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("to everyone")
    );
}

#[tokio::test]
async fn per_route_limits_apply_to_mounted_connections() {
    let server = start_axum(app(), |ws| ws).await;
    let mut ws = connect(server.addr, "/ws/small").await;
    ws.send(WsMessage::text("x".repeat(100))).await.unwrap();
    assert_eq!(
        read_until_close(&mut ws).await.1,
        Some((1009, "message too big".into()))
    );
}

#[tokio::test]
async fn handlers_see_the_peer_address_from_connect_info() {
    let server = start_axum(app(), |ws| ws).await;
    let mut ws = connect(server.addr, "/ws/peer").await;
    let local = ws.get_ref().local_addr().unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text(local.to_string())
    );
}

#[tokio::test]
async fn nested_routes_match_below_the_prefix() {
    let server = start_axum(app(), |ws| axum::Router::new().nest("/api", ws)).await;
    assert_echoes(server.addr, "/api/ws/echo?token=good").await;
    let outside = raw_request(
        server.addr,
        &upgrade_request("/ws/echo?token=good", "", &[]),
    )
    .await;
    assert_eq!(
        (outside.status, outside.body_text().as_str()),
        (404, "axum fallback")
    );
}

#[tokio::test]
async fn shutdown_closes_mounted_connections_with_1001() {
    let mut server = start_axum(app(), |ws| ws).await;
    let mut ws = connect(server.addr, "/ws/echo?token=good").await;
    ws.send(WsMessage::text("before")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("before")
    );

    server.handle.shutdown();
    assert_eq!(
        read_until_close(&mut ws).await.1,
        Some((1001, "server shutting down".into()))
    );
    within(server.handle.stopped()).await;
    // New handshakes are refused, and counted; axum's own routes answer until axum stops.
    assert_eq!(server.handle.metrics().snapshot().handshakes_rejected, 0);
    let late = raw_request(
        server.addr,
        &upgrade_request("/ws/echo?token=good", "", &[]),
    )
    .await;
    assert_eq!(late.status, 503, "{late:?}");
    assert_eq!(server.handle.metrics().snapshot().handshakes_rejected, 1);
    let health = raw_request(server.addr, &get_request("/health")).await;
    assert_eq!(health.status, 200);

    server.stop.take().unwrap().send(()).unwrap();
    within(&mut server.task).await.unwrap().unwrap();
    assert_eq!(server.handle.metrics().snapshot().connections_open, 0);
}

#[tokio::test]
async fn axums_graceful_shutdown_signal_can_shut_the_mounted_app_down() {
    let mut server = start_axum(app(), |ws| ws).await;
    let mut ws = connect(server.addr, "/ws/lobby").await;
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("joined")
    );
    // The signal handed to `with_graceful_shutdown` calls `ServiceHandle::shutdown`.
    server.stop.take().unwrap().send(()).unwrap();
    assert_eq!(read_until_close(&mut ws).await.1.map(|c| c.0), Some(1001));
    within(&mut server.task).await.unwrap().unwrap();
    within(server.handle.stopped()).await;
    assert_eq!(server.handle.metrics().snapshot().connections_open, 0);
}

#[tokio::test]
async fn a_hyper_connection_loop_serves_the_app_as_a_service() {
    init_tracing();
    let app = app();
    let hub = app.hub();
    let service = app.into_service().expect("routes build");
    let handle = service.handle();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().unwrap();
    let accept = tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.expect("accept");
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service.with_peer(peer))
                .with_upgrades();
            tokio::spawn(connection);
        }
    });

    assert_echoes(addr, "/ws/echo?token=good").await;
    let refused = raw_request(addr, &upgrade_request("/ws/echo", "", &[])).await;
    assert_eq!(refused.status, 401, "{refused:?}");
    // Without a router of the host's, wsframe answers unknown paths itself.
    let unknown = raw_request(addr, &get_request("/nope")).await;
    assert_eq!(
        (unknown.status, unknown.body_text().as_str()),
        (404, "Not Found")
    );

    let mut peer = connect(addr, "/ws/peer").await;
    let local = peer.get_ref().local_addr().unwrap();
    assert_eq!(
        within(peer.next()).await.unwrap().unwrap(),
        WsMessage::text(local.to_string())
    );
    assert_eq!(read_until_close(&mut peer).await.1.map(|c| c.0), Some(1000));
    drop(peer); // the server waits for the client to close TCP after the close frames

    let mut member = connect(addr, "/ws/lobby").await;
    assert_eq!(
        within(member.next()).await.unwrap().unwrap(),
        WsMessage::text("joined")
    );
    assert_eq!(hub.room("lobby").broadcast_text("to everyone"), 1);
    assert_eq!(
        within(member.next()).await.unwrap().unwrap(),
        WsMessage::text("to everyone")
    );

    let mut small = connect(addr, "/ws/small").await;
    small.send(WsMessage::text("x".repeat(100))).await.unwrap();
    assert_eq!(
        read_until_close(&mut small).await.1.map(|c| c.0),
        Some(1009)
    );
    drop(small);

    handle.shutdown();
    assert_eq!(
        read_until_close(&mut member).await.1.map(|c| c.0),
        Some(1001)
    );
    within(handle.stopped()).await;
    accept.abort();
}

#[tokio::test]
async fn a_request_line_in_absolute_form_does_not_make_the_scheme_https() {
    let server = start_axum(app(), |router| router).await;
    let status = |path: &'static str| async move {
        let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = upgrade_request(path, "Origin: https://localhost\r\n", &[]);
        tokio::io::AsyncWriteExt::write_all(&mut tcp, &request)
            .await
            .unwrap();
        read_response(&mut tcp).await.status
    };
    // The client chose `https://` in its request line; the connection is plain HTTP, so
    // an https origin is another origin.
    assert_eq!(status("https://localhost/ws/peer").await, 403);
    assert_eq!(status("/ws/peer").await, 403);
}
