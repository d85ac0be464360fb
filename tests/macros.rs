//! The `#[websocket]` and `#[dependency]` attributes through the TestClient: every
//! argument form, guards, dependencies (nested, cached), options.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};
use wsframe::prelude::*;
use wsframe::testing::TestClient;
use wsframe::{Cookies, Route, routes};

// ---- path and query parameters ------------------------------------------------------

#[websocket("/items/<id>/<rest..>?<q>&<page>")]
async fn item(
    ws: WebSocket,
    id: u32,
    rest: String,
    q: Option<String>,
    page: u16,
) -> wsframe::Result<()> {
    ws.send_text(format!("id={id} rest={rest} q={q:?} page={page}"))
        .await
}

#[tokio::test]
async fn path_and_query_parameters_are_typed() {
    let client = TestClient::new(App::new().route(item)).unwrap();
    let mut ws = client
        .connect("/items/7/a/b.txt?page=2&q=hi")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        r#"id=7 rest=a/b.txt q=Some("hi") page=2"#
    );
    let mut ws = client.connect("/items/7/x?page=3").await.unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        "id=7 rest=x q=None page=3"
    );

    for (uri, body) in [
        (
            "/items/seven/x?page=1",
            "invalid path parameter `id`: `seven` is not an integer from 0 to 4294967295",
        ),
        ("/items/7/x", "missing query parameter `page`"),
        (
            "/items/7/x?page=-1",
            "invalid query parameter `page`: `-1` is not an integer from 0 to 65535",
        ),
    ] {
        let err = client.connect(uri).await.unwrap_err();
        assert_eq!(err.status().unwrap().as_u16(), 400, "{uri}");
        let wsframe::Error::Handshake { body: got, .. } = err else {
            unreachable!()
        };
        assert_eq!(got, body.as_bytes(), "{uri}");
    }
}

// ---- extractors, cookies, headers, Query<T> ------------------------------------------

struct ApiKey(String);

impl FromHandshake for ApiKey {
    type Rejection = Rejection;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        req.header("x-api-key")
            .map(|k| ApiKey(k.to_string()))
            .ok_or_else(|| Rejection::unauthorized("missing x-api-key header"))
    }
}

#[derive(Deserialize)]
struct Filter {
    topic: String,
    limit: Option<u8>,
}

#[websocket("/extract")]
async fn extract(
    ws: WebSocket,
    key: ApiKey,
    Query(filter): Query<Filter>,
    cookies: Cookies,
    #[cookie] theme: Option<String>,
) -> wsframe::Result<()> {
    ws.send_text(format!(
        "key={} topic={} limit={:?} theme={theme:?} lang={:?}",
        key.0,
        filter.topic,
        filter.limit,
        cookies.get("lang")
    ))
    .await
}

#[tokio::test]
async fn extractors_guards_cookies_and_query_structs() {
    let client = TestClient::new(App::new().route(extract)).unwrap();
    let mut ws = client
        .connect("/extract?topic=news&limit=5")
        .header("x-api-key", "k1")
        .header("cookie", "theme=dark; lang=fr")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        r#"key=k1 topic=news limit=Some(5) theme=Some("dark") lang=Some("fr")"#
    );
    let err = client.connect("/extract?topic=x").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    let err = client
        .connect("/extract")
        .header("x-api-key", "k")
        .await
        .unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 400);
}

// ---- dependencies: nested, cached, route-level guards ---------------------------------

#[derive(Clone, Default)]
struct Calls(Arc<AtomicUsize>);

#[dependency]
async fn current_user(
    #[query] user: Option<String>,
    State(calls): State<Calls>,
) -> Result<String, Rejection> {
    calls.0.fetch_add(1, Ordering::SeqCst);
    user.ok_or_else(|| Rejection::unauthorized("log in first"))
}

#[dependency]
async fn greeting(#[depends(current_user)] user: String) -> String {
    format!("hello {user}")
}

#[dependency]
async fn require_admin(#[depends(current_user)] user: String) -> Result<(), Rejection> {
    if user == "admin" {
        Ok(())
    } else {
        Err(Rejection::forbidden(format!("{user} is not an admin")))
    }
}

#[websocket("/deps", guards(require_admin))]
async fn deps(
    ws: WebSocket,
    #[depends(current_user)] user: String,
    #[depends(greeting)] hello: String,
    State(calls): State<Calls>,
) -> wsframe::Result<()> {
    ws.send_text(format!(
        "{hello}; {user}; calls={}",
        calls.0.load(Ordering::SeqCst)
    ))
    .await
}

#[tokio::test]
async fn dependencies_nest_run_once_per_handshake_and_guards_reject() {
    let calls = Calls::default();
    let client = TestClient::new(App::new().state(calls.clone()).route(deps)).unwrap();
    let mut ws = client.connect("/deps?user=admin").await.unwrap();
    // current_user is used by the guard, by greeting and by the handler: it ran once.
    assert_eq!(
        ws.receive_text().await.unwrap(),
        "hello admin; admin; calls=1"
    );

    let err = client.connect("/deps?user=bob").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 403);
    assert_eq!(
        err.to_string(),
        "handshake refused with 403 Forbidden: bob is not an admin"
    );
    let err = client.connect("/deps").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 401);
    assert_eq!(calls.0.load(Ordering::SeqCst), 3);
}

struct DenyAll;

impl FromHandshake for DenyAll {
    type Rejection = Rejection;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
        Err(Rejection::new(
            wsframe::http::StatusCode::TOO_MANY_REQUESTS,
            "slow down",
        ))
    }
}

#[websocket("/guarded", guards(DenyAll))]
async fn guarded(ws: WebSocket) -> wsframe::Result<()> {
    ws.send_text("should not run").await
}

#[tokio::test]
async fn route_level_guards_run_even_when_unused() {
    let client = TestClient::new(App::new().route(guarded)).unwrap();
    let err = client.connect("/guarded").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 429);
}

// ---- the seed's authentication example ------------------------------------------------

#[dependency]
async fn get_cookie_or_token(
    #[cookie] session: Option<String>,
    #[query] token: Option<String>,
) -> Result<String, Rejection> {
    session
        .or(token)
        .ok_or_else(|| Rejection::forbidden("a session cookie or a token is required"))
}

#[websocket("/ws")]
async fn websocket_endpoint(
    mut ws: WebSocket,
    #[depends(get_cookie_or_token)] cookie_or_token: String,
) -> wsframe::Result<()> {
    ws.accept().await?;
    ws.send_text(format!("Session: {cookie_or_token}")).await
}

/// The variant for clients that need a close code: accept, then close with 1008.
#[dependency]
async fn cookie_or_token_or_close(
    #[cookie] session: Option<String>,
    #[query] token: Option<String>,
) -> Result<String, Rejection> {
    session
        .or(token)
        .ok_or_else(|| Rejection::close(CloseCode::POLICY_VIOLATION, "session or token required"))
}

#[websocket("/ws-1008")]
async fn websocket_endpoint_1008(
    ws: WebSocket,
    #[depends(cookie_or_token_or_close)] cookie_or_token: String,
) -> wsframe::Result<()> {
    ws.send_text(format!("Session: {cookie_or_token}")).await
}

#[tokio::test]
async fn seed_auth_example_in_attribute_form() {
    let client =
        TestClient::new(App::new().routes(routes![websocket_endpoint, websocket_endpoint_1008]))
            .unwrap();
    let mut ws = client
        .connect("/ws")
        .cookie("session", "s3cr3t")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Session: s3cr3t");
    let mut ws = client.connect("/ws?token=t0k").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Session: t0k");
    let err = client.connect("/ws").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 403);

    let mut ws = client.connect("/ws-1008").await.unwrap();
    let close = ws.receive_close().await.unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (
            Some(CloseCode::POLICY_VIOLATION),
            "session or token required"
        )
    );
}

// ---- options: protocols, limits; typed handle; registration forms ---------------------

#[derive(Deserialize)]
struct Ping {
    n: u32,
}

#[derive(Serialize)]
struct Pong {
    n: u32,
}

#[websocket("/typed", protocols = ["json.v2", "json.v1"], max_message_size = 64, idle_timeout = std::time::Duration::from_secs(30))]
async fn typed(mut ws: TypedWebSocket<Ping, Pong>) -> wsframe::Result<()> {
    while let Ok(Ping { n }) = ws.receive().await {
        ws.send(&Pong { n: n + 1 }).await?;
    }
    Ok(())
}

#[tokio::test]
async fn options_and_typed_handles() {
    let client = TestClient::new(App::new().routes(routes![
        typed,
        Route::websocket("/plain", |ws: WebSocket| async move {
            let _ = ws.send_text("plain").await;
        })
    ]))
    .unwrap();
    let mut ws = client
        .connect("/typed")
        .protocols(["json.v1"])
        .await
        .unwrap();
    assert_eq!(ws.protocol(), Some("json.v1"));
    ws.send_text(r#"{"n":41}"#).await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), r#"{"n":42}"#);
    ws.send_text(format!(r#"{{"n":1,"pad":"{}"}}"#, "x".repeat(64)))
        .await
        .unwrap();
    assert_eq!(
        ws.receive_close().await.unwrap().code,
        Some(CloseCode::MESSAGE_TOO_BIG)
    );

    let mut ws = client.connect("/plain").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "plain");
}

#[test]
fn the_handler_stays_nameable() {
    // The attribute keeps the function as `name::handler`.
    let _handler = typed::handler;
    let _dependency = get_cookie_or_token::call;
}

#[websocket("/users/<id>")]
async fn by_uuid(ws: WebSocket, id: uuid::Uuid) -> wsframe::Result<()> {
    ws.send_text(id.to_string()).await
}

#[tokio::test]
async fn uuid_path_parameters_behind_the_feature() {
    let client = TestClient::new(App::new().route(by_uuid)).unwrap();
    let id = "67e55044-10b1-426f-9247-bb680e5fe0c8";
    let mut ws = client.connect(&format!("/users/{id}")).await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), id);
    let err = client.connect("/users/42").await.unwrap_err();
    assert_eq!(err.status().unwrap().as_u16(), 400);
    assert!(err.to_string().contains("`42` is not a UUID"), "{err}");
}

#[websocket("/strict/<name>?<limit>")]
async fn strict(
    ws: WebSocket,
    name: String,
    limit: Option<u32>,
    #[cookie] session: String,
) -> wsframe::Result<()> {
    ws.send_text(format!("{name} {limit:?} {session}")).await
}

#[tokio::test]
async fn bad_optional_values_missing_cookies_and_non_utf8_paths_are_400s() {
    let client = TestClient::new(App::new().route(strict)).unwrap();
    let mut ws = client
        .connect("/strict/ada")
        .cookie("session", "s")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "ada None s");
    for (uri, cookie, body) in [
        (
            "/strict/ada?limit=abc",
            true,
            "invalid query parameter `limit`: `abc` is not an integer from 0 to 4294967295",
        ),
        (
            "/strict/ada?limit",
            true,
            "invalid query parameter `limit`: `` is not an integer from 0 to 4294967295",
        ),
        ("/strict/ada", false, "missing cookie `session`"),
        (
            "/strict/%FF",
            true,
            "invalid path parameter `name`: not UTF-8 once percent-decoded",
        ),
    ] {
        let mut connect = client.connect(uri);
        if cookie {
            connect = connect.cookie("session", "s");
        }
        let err = connect.await.unwrap_err();
        assert_eq!(err.status().unwrap().as_u16(), 400, "{uri}");
        let wsframe::Error::Handshake { body: got, .. } = err else {
            unreachable!()
        };
        assert_eq!(String::from_utf8_lossy(&got), body, "{uri}");
    }
}

// ---- the socket argument: the first one, whatever its type's name ------------------

/// A name of the user's own for the handle.
type Socket = WebSocket;
/// And for a typed handle.
type PingPong = TypedWebSocket<Ping, Pong>;

/// A wrapper of the user's own, as in `FromWebSocket`'s docs.
struct Bot(WebSocket);

impl wsframe::FromWebSocket for Bot {
    fn from_websocket(ws: WebSocket) -> Self {
        Bot(ws)
    }
}

impl Bot {
    async fn say(&self, text: &str) -> wsframe::Result<()> {
        self.0.send_text(format!("[bot] {text}")).await
    }
}

#[websocket("/aliased/<id>")]
async fn aliased(ws: Socket, id: u32) -> wsframe::Result<()> {
    ws.send_text(format!("aliased {id}")).await
}

#[websocket("/aliased-typed")]
async fn aliased_typed(mut ws: PingPong) -> wsframe::Result<()> {
    let Ping { n } = ws.receive().await?;
    ws.send(&Pong { n: n * 2 }).await
}

#[websocket("/bot/<name>")]
async fn greeter(bot: Bot, name: String) -> wsframe::Result<()> {
    bot.say(&format!("hello {name}")).await
}

#[tokio::test]
async fn the_first_argument_is_the_socket_by_its_trait_not_its_name() {
    let client =
        TestClient::new(App::new().routes(routes![aliased, aliased_typed, greeter])).unwrap();
    let mut ws = client.connect("/aliased/3").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "aliased 3");

    let mut ws = client.connect("/aliased-typed").await.unwrap();
    ws.send_text(r#"{"n":21}"#).await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), r#"{"n":42}"#);

    let mut ws = client.connect("/bot/ann").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "[bot] hello ann");
}
