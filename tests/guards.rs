//! Guards through the TestClient: `Option<G>` is `None` only when the guard says its
//! thing is absent (any other rejection still answers), `Result<G, G::Rejection>` hands
//! the guard's own rejection to the handler, `#[header]` arguments, and a missing
//! `State<T>` found when the app is built; and the TestClient's test doubles for guards
//! and dependencies, peer address and `Host`.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};

use wsframe::http::StatusCode;
use wsframe::prelude::*;
use wsframe::testing::TestClient;
use wsframe::{Config, Error, OptionalFromHandshake, ProxyHeader, TypedHeader};

/// A session guard whose backend may be down: `x-session` names the session, and the
/// session `down` stands for a backend that cannot answer.
#[derive(Debug)]
struct Session(String);

#[derive(Debug, PartialEq)]
enum SessionError {
    Missing,
    BackendDown,
}

impl From<SessionError> for Rejection {
    fn from(e: SessionError) -> Rejection {
        match e {
            SessionError::Missing => Rejection::unauthorized("log in first"),
            SessionError::BackendDown => {
                Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
            }
        }
    }
}

fn lookup(req: &HandshakeRequest) -> Result<Option<Session>, SessionError> {
    match req.header("x-session") {
        None => Ok(None),
        Some("down") => Err(SessionError::BackendDown),
        Some(name) => Ok(Some(Session(name.to_owned()))),
    }
}

impl FromHandshake for Session {
    type Rejection = SessionError;
    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, SessionError> {
        lookup(req)?.ok_or(SessionError::Missing)
    }
}

impl OptionalFromHandshake for Session {
    type Rejection = SessionError;
    async fn optional_from_handshake(req: &HandshakeRequest) -> Result<Option<Self>, SessionError> {
        lookup(req)
    }
}

#[websocket("/optional")]
async fn optional(ws: WebSocket, session: Option<Session>) -> wsframe::Result<()> {
    let who = session.map_or("anonymous".to_owned(), |s| s.0);
    ws.send_text(who).await
}

#[tokio::test]
async fn option_of_a_guard_is_none_only_when_the_guard_says_absent() {
    let client = TestClient::new(App::new().route(optional)).unwrap();
    let mut ws = client.connect("/optional").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "anonymous");
    let mut ws = client
        .connect("/optional")
        .header("x-session", "ada")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "ada");

    // An outage is not "anonymous": the guard's 503 answers the handshake.
    let err = client
        .connect("/optional")
        .header("x-session", "down")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(
        err.to_string(),
        "handshake refused with 503 Service Unavailable: session store unavailable"
    );
}

#[websocket("/checked")]
async fn checked(ws: WebSocket, session: Result<Session, SessionError>) -> wsframe::Result<()> {
    let text = match session {
        Ok(s) => format!("ok {}", s.0),
        Err(SessionError::Missing) => "missing".to_owned(),
        Err(SessionError::BackendDown) => "backend down".to_owned(),
    };
    ws.send_text(text).await
}

#[tokio::test]
async fn result_of_a_guard_hands_the_guards_own_rejection_to_the_handler() {
    let client = TestClient::new(App::new().route(checked)).unwrap();
    for (session, expected) in [
        (None, "missing"),
        (Some("down"), "backend down"),
        (Some("ada"), "ok ada"),
    ] {
        let mut connect = client.connect("/checked");
        if let Some(session) = session {
            connect = connect.header("x-session", session);
        }
        let mut ws = connect.await.unwrap();
        assert_eq!(ws.receive_text().await.unwrap(), expected);
    }
}

#[derive(serde::Deserialize)]
struct Page {
    page: u32,
}

#[websocket("/page")]
async fn paged(
    ws: WebSocket,
    query: Option<Query<Page>>,
    state: Option<State<u64>>,
) -> wsframe::Result<()> {
    let page = query.map(|Query(p)| p.page);
    let state = state.map(|State(n)| n);
    ws.send_text(format!("{page:?} {state:?}")).await
}

#[tokio::test]
async fn built_in_optional_extractors_reject_what_is_present_but_wrong() {
    let client = TestClient::new(App::new().route(paged)).unwrap();
    let mut ws = client.connect("/page").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "None None");
    let mut ws = client.connect("/page?page=3").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "Some(3) None");
    let err = client.connect("/page?page=three").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));

    let client = TestClient::new(App::new().state(7u64).route(paged)).unwrap();
    let mut ws = client.connect("/page").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "None Some(7)");
    assert!(matches!(
        client.connect("/page?page=x").await,
        Err(Error::Handshake { .. })
    ));
}

// ---- a missing State<T> is a start-up error ------------------------------------------

#[derive(Clone)]
struct Db;

#[derive(Clone)]
struct Mailer;

#[dependency]
async fn account(State(_db): State<Db>) -> String {
    "account".to_owned()
}

#[websocket("/needs-db")]
async fn needs_db(ws: WebSocket, State(_db): State<Db>) -> wsframe::Result<()> {
    ws.send_text("db").await
}

#[websocket("/needs-both", guards(account))]
async fn needs_both(ws: WebSocket, _mailer: Option<State<Mailer>>) -> wsframe::Result<()> {
    ws.send_text("both").await
}

async fn by_hand(ws: WebSocket, State(_mailer): State<Mailer>) -> wsframe::Result<()> {
    ws.send_text("by hand").await
}

#[tokio::test]
async fn a_missing_state_stops_the_build_naming_the_type_and_the_route() {
    let app = || {
        App::new()
            .route(needs_db)
            .route(needs_both)
            .websocket("/by-hand", by_hand)
    };
    let Err(err) = TestClient::new(app()) else {
        panic!("the app built without its state")
    };
    assert!(matches!(err, Error::MissingState(_)), "{err}");
    let text = err.to_string();
    for (route, ty) in [
        ("/needs-db", "guards::Db"),
        ("/needs-both", "guards::Db"), // through the dependency in `guards(..)`
        ("/by-hand", "guards::Mailer"),
    ] {
        assert!(
            text.contains(&format!("route `{route}` needs state `{ty}`")),
            "{text}"
        );
    }
    // `Option<State<Mailer>>` on /needs-both is exempt.
    assert!(
        !text.contains("route `/needs-both` needs state `guards::Mailer`"),
        "{text}"
    );

    // A real server refuses to start the same way.
    let Err(err) = app().bind("127.0.0.1:0").await else {
        panic!("the server started without its state")
    };
    assert!(matches!(err, Error::MissingState(_)), "{err}");

    let client = TestClient::new(app().state(Db).state(Mailer)).unwrap();
    let mut ws = client.connect("/needs-both").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "both");
}

// ---- test doubles, peer address and Host on the TestClient ----------------------------

static REAL_DIRECTORY_CALLS: AtomicUsize = AtomicUsize::new(0);

/// A guard that asks a directory the tests cannot reach.
struct Staff(String);

impl FromHandshake for Staff {
    type Rejection = Rejection;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Rejection> {
        REAL_DIRECTORY_CALLS.fetch_add(1, Ordering::SeqCst);
        Err(Rejection::new(
            StatusCode::BAD_GATEWAY,
            "directory unreachable",
        ))
    }
}

static TEAM_LOOKUPS: AtomicUsize = AtomicUsize::new(0);

#[dependency]
async fn team(#[query] name: Option<String>) -> Result<String, Rejection> {
    name.ok_or_else(|| Rejection::bad_request("which team?"))
}

#[dependency]
async fn test_team() -> String {
    TEAM_LOOKUPS.fetch_add(1, Ordering::SeqCst);
    "test-team".to_owned()
}

#[dependency]
async fn badge(#[depends(team)] name: String) -> String {
    format!("badge of {name}")
}

#[websocket("/staff", guards(Staff))]
async fn staff(
    ws: WebSocket,
    Staff(name): Staff,
    #[depends(team)] team_name: String,
    #[depends(badge)] badge_text: String,
) -> wsframe::Result<()> {
    ws.send_text(format!("{name} / {team_name} / {badge_text}"))
        .await
}

#[tokio::test]
async fn doubles_replace_a_guard_and_a_dependency_for_their_client_only() {
    let client = TestClient::new(App::new().route(staff))
        .unwrap()
        .override_guard(|req| match req.header("x-test-staff") {
            Some(name) => Ok(Staff(name.to_owned())),
            None => Err(Rejection::unauthorized("no test staff")),
        })
        .override_dependency(team, test_team);
    let mut ws = client
        .connect("/staff")
        .header("x-test-staff", "ada")
        .await
        .unwrap();
    // The double stands in for the argument and for `guards(..)`, and the nested
    // dependency sees the double too; it ran once for the handshake.
    assert_eq!(
        ws.receive_text().await.unwrap(),
        "ada / test-team / badge of test-team"
    );
    assert_eq!(TEAM_LOOKUPS.load(Ordering::SeqCst), 1);
    // The double's own refusal answers the handshake.
    let err = client.connect("/staff").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(REAL_DIRECTORY_CALLS.load(Ordering::SeqCst), 0);

    // A client without doubles runs the real guard.
    let plain = TestClient::new(App::new().route(staff)).unwrap();
    let err = plain.connect("/staff?name=x").await.unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));
    assert_eq!(REAL_DIRECTORY_CALLS.load(Ordering::SeqCst), 1);
}

#[websocket("/whereami")]
async fn whereami(
    ws: WebSocket,
    PeerAddr(peer): PeerAddr,
    ClientAddr(client): ClientAddr,
    headers: wsframe::http::HeaderMap,
) -> wsframe::Result<()> {
    let host = headers.get("host").and_then(|h| h.to_str().ok());
    ws.send_text(format!("{peer} {client} {host:?}")).await
}

#[tokio::test]
async fn the_test_client_sets_the_peer_address_and_the_host() {
    let proxy: SocketAddr = "10.0.0.2:4000".parse().unwrap();
    let app = || {
        App::new()
            .config(
                Config::default()
                    .trust_proxy(IpAddr::from([10, 0, 0, 2]), ProxyHeader::XForwardedFor),
            )
            .route(whereami)
    };
    let client = TestClient::new(app()).unwrap();
    let mut ws = client.connect("/whereami").await.unwrap();
    let default = ws.receive_text().await.unwrap();
    assert!(
        default.starts_with("127.0.0.1:") && default.ends_with(r#" 127.0.0.1 Some("testserver")"#),
        "{default}"
    );

    // Behind the trusted proxy, the forwarded address is the client's.
    let client = TestClient::new(app())
        .unwrap()
        .peer_addr(proxy)
        .host("chat.example.com");
    let mut ws = client
        .connect("/whereami")
        .header("x-forwarded-for", "203.0.113.7")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        r#"10.0.0.2:4000 203.0.113.7 Some("chat.example.com")"#
    );
    // One connection's own peer and Host, over the client's; one Host header only.
    let mut ws = client
        .connect("/whereami")
        .peer_addr("192.0.2.1:9".parse().unwrap())
        .header("Host", "other.example")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        r#"192.0.2.1:9 192.0.2.1 Some("other.example")"#
    );
    // The default Origin check compares with the Host the client sends.
    let same_site = client
        .connect("/whereami")
        .header("origin", "http://chat.example.com");
    assert!(same_site.await.is_ok());
    let err = client
        .connect("/whereami")
        .header("origin", "http://testserver")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
}

// ---- #[header] arguments ------------------------------------------------------------

#[dependency]
async fn tenant_of(#[header] x_tenant: String) -> String {
    format!("tenant {x_tenant}")
}

#[websocket("/headers")]
async fn typed_headers(
    ws: WebSocket,
    #[header] user_agent: Option<String>,
    #[header] x_page_size: u16,
    #[depends(tenant_of)] tenant_text: String,
) -> wsframe::Result<()> {
    ws.send_text(format!("{user_agent:?} {x_page_size} {tenant_text}"))
        .await
}

#[tokio::test]
async fn header_arguments_are_named_by_the_argument_and_typed() {
    let client = TestClient::new(App::new().route(typed_headers)).unwrap();
    let mut ws = client
        .connect("/headers")
        .header("X-Page-Size", "50")
        .header("x-tenant", "acme")
        .header("user-agent", "suite/1")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        r#"Some("suite/1") 50 tenant acme"#
    );
    let mut ws = client
        .connect("/headers")
        .header("x-page-size", "5")
        .header("x-tenant", "acme")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "None 5 tenant acme");

    for (page_size, tenant, body) in [
        (None, Some("acme"), "missing header `x-page-size`"),
        (
            Some("lots"),
            Some("acme"),
            "invalid header `x-page-size`: `lots` is not an integer from 0 to 65535",
        ),
        (Some("5"), None, "missing header `x-tenant`"),
    ] {
        let mut connect = client.connect("/headers");
        if let Some(size) = page_size {
            connect = connect.header("x-page-size", size);
        }
        if let Some(tenant) = tenant {
            connect = connect.header("x-tenant", tenant);
        }
        let err = connect.await.unwrap_err();
        let Error::Handshake { status, body: got } = err else {
            panic!("{err}")
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(got, body.as_bytes());
    }
}

#[tokio::test]
async fn a_header_that_is_not_text_is_a_400_over_tcp() {
    let server = wsframe_tests::TestServer::start(App::new().route(typed_headers)).await;
    let request = wsframe_tests::upgrade_request(
        "/headers",
        "x-page-size: 5\r\nx-tenant: acme\r\nuser-agent: caf\u{e9}\r\n",
        &[],
    );
    let response = wsframe_tests::raw_request(server.addr, &request).await;
    assert_eq!(response.status, 400, "{response:?}");
    assert_eq!(
        response.body_text(),
        "invalid header `user-agent`: not visible ASCII text"
    );
}

// ---- TypedHeader (feature `headers`) --------------------------------------------------

#[websocket("/typed-header")]
async fn typed_header(
    ws: WebSocket,
    TypedHeader(origin): TypedHeader<headers::Origin>,
    agent: Option<TypedHeader<headers::UserAgent>>,
) -> wsframe::Result<()> {
    let agent = agent.map(|TypedHeader(a)| a.to_string());
    ws.send_text(format!("{} {agent:?}", origin.hostname()))
        .await
}

#[tokio::test]
async fn typed_headers_decode_or_answer_400_and_option_is_none_only_when_missing() {
    let app = App::new()
        .config(Config::default().origins(wsframe::Origins::any()))
        .route(typed_header);
    let client = TestClient::new(app).unwrap();
    let mut ws = client
        .connect("/typed-header")
        .header("origin", "https://chat.example.com")
        .await
        .unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "chat.example.com None");
    let mut ws = client
        .connect("/typed-header")
        .header("origin", "https://chat.example.com")
        .header("user-agent", "suite/2")
        .await
        .unwrap();
    assert_eq!(
        ws.receive_text().await.unwrap(),
        r#"chat.example.com Some("suite/2")"#
    );

    let err = client.connect("/typed-header").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "handshake refused with 400 Bad Request: missing header `origin`"
    );
    let err = client
        .connect("/typed-header")
        .header("origin", "not an origin")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "handshake refused with 400 Bad Request: invalid header `origin`"
    );
}
