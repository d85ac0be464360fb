//! The apps' AsyncAPI 3.0 documents: served by the examples at `/asyncapi.json`,
//! validated by the official parser (`@asyncapi/parser` through Node,
//! `tests/browser/asyncapi.mjs`), and the chat example's compared with a reviewed
//! snapshot (`tests/asyncapi/chat.json`, the server's host normalised; regenerate it with
//! `UPDATE_SNAPSHOTS=1` and review the diff). A typed route's messages carry their JSON
//! Schemas, and the example made from each deserializes into its Rust type. Under CI a
//! missing Node or parser is a failure; elsewhere the test says what to install and
//! passes.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::AsyncWriteExt;
use wsframe::App;
use wsframe::testing::TestClient;
use wsframe_tests::*;

#[path = "../examples/auth.rs"]
mod auth;

#[path = "../examples/chat.rs"]
mod chat;

#[path = "../examples/typed.rs"]
mod typed;

/// The document `app` serves at `/asyncapi.json`.
async fn served(app: App) -> Value {
    let client = TestClient::new(app).unwrap();
    let response = client.get("/asyncapi.json").await.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        response.headers.get("content-type").unwrap(),
        "application/json"
    );
    serde_json::from_str(&response.text()).unwrap()
}

/// What the official parser says about `doc`: whether it produced a document, and its
/// diagnostics, errors (severity 0) and warnings (1) first; `None` (outside CI) when
/// Node or the parser is missing.
async fn parse(doc: &Value) -> Option<Parsed> {
    let parser = workspace().join("tests/browser/node_modules/@asyncapi/parser");
    if !parser.exists() {
        skip_missing(
            "@asyncapi/parser is not installed in tests/browser",
            ".ci/setup-browser",
        );
        return None;
    }
    let mut child = tokio::process::Command::new("node")
        .arg(workspace().join("tests/browser/asyncapi.mjs"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run node");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(doc.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the parser ran past 60 s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the parser failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let (last, diagnostics) = lines.split_last().expect("the parser's verdict");
    let mut diagnostics = diagnostics.to_vec();
    diagnostics.sort_by_key(|d| d["severity"].as_u64());
    Some(Parsed {
        document: last["parsed"] == true,
        diagnostics,
    })
}

/// What the parser made of a document.
struct Parsed {
    /// It produced a document (not with errors).
    document: bool,
    diagnostics: Vec<Value>,
}

/// The official parser finds neither an error nor a warning in `doc` (information
/// and hints, such as "AsyncAPI 3.1 exists", are allowed).
async fn assert_valid(doc: &Value) {
    let Some(parsed) = parse(doc).await else {
        return;
    };
    let serious: Vec<&Value> = parsed
        .diagnostics
        .iter()
        .filter(|d| d["severity"].as_u64() <= Some(1))
        .collect();
    assert!(
        serious.is_empty() && parsed.document,
        "the parser found problems: {serious:#?}\nin {doc:#}"
    );
}

/// The chat document with the server's host normalised, as the snapshot holds it.
fn normalised(mut doc: Value) -> Value {
    doc["servers"]["this"]["host"] = Value::from("HOST");
    doc["info"]["version"] = Value::from("VERSION");
    doc
}

#[tokio::test]
async fn the_chat_examples_document_validates_and_matches_its_snapshot() {
    let doc = served(chat::app()).await;
    let channel = &doc["channels"]["chat"];
    assert_eq!(channel["address"], "/ws/{client_id}");
    assert_eq!(channel["summary"], "Chat in a room.");
    let client_id = &channel["parameters"]["client_id"];
    assert!(
        client_id["description"].as_str().unwrap().contains("`u64`"),
        "{client_id}"
    );
    assert_eq!(client_id["examples"][0], "42");
    let query = &channel["bindings"]["ws"]["query"];
    assert_eq!(query["properties"]["room"]["type"], "string");
    assert!(
        query.get("required").is_none(),
        "`room` is optional: {query}"
    );
    assert_eq!(doc["operations"]["chat.receive"]["action"], "receive");
    assert_eq!(doc["operations"]["chat.send"]["action"], "send");
    assert_eq!(doc["servers"]["this"]["protocol"], "ws");
    assert_valid(&doc).await;

    let snapshot_path = workspace().join("tests/asyncapi/chat.json");
    let got = normalised(doc);
    if std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(snapshot_path.parent().unwrap()).unwrap();
        std::fs::write(&snapshot_path, format!("{got:#}\n")).unwrap();
    }
    let snapshot: Value =
        serde_json::from_str(&std::fs::read_to_string(&snapshot_path).unwrap()).unwrap();
    assert_eq!(
        got, snapshot,
        "the chat document changed: review it, then UPDATE_SNAPSHOTS=1"
    );
}

#[tokio::test]
async fn the_auth_examples_credentials_are_security_schemes() {
    let doc = served(auth::app()).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["cookie_session"]["type"], "httpApiKey");
    assert_eq!(schemes["cookie_session"]["in"], "cookie");
    assert_eq!(schemes["query_token"]["in"], "query");
    assert_eq!(schemes["query_token"]["name"], "token");
    let receive = &doc["operations"]["websocket_endpoint.receive"];
    assert_eq!(receive["security"].as_array().unwrap().len(), 2);
    // The cookie is a property of the `Cookie` header; both are optional to the
    // handshake (the dependency asks for one of them).
    let binding = &doc["channels"]["websocket_endpoint"]["bindings"]["ws"];
    assert!(
        binding["headers"]["properties"]["cookie"]["description"]
            .as_str()
            .unwrap()
            .contains("`session` (optional)"),
        "{binding}"
    );
    assert_eq!(binding["query"]["properties"]["token"]["type"], "string");
    assert_valid(&doc).await;
}

#[tokio::test]
async fn an_app_without_websocket_routes_has_a_valid_document() {
    let app = App::new()
        .get("/", |_req| async { "hello" })
        .asyncapi_route("/asyncapi.json");
    let doc = served(app).await;
    assert!(doc["channels"].as_object().unwrap().is_empty());
    assert!(doc["operations"].as_object().unwrap().is_empty());
    assert_valid(&doc).await;
}

/// A route with a subprotocol, a custom guard that describes its header, a path
/// parameter of each JSON type and a route built without the attribute.
#[tokio::test]
async fn guards_subprotocols_and_plain_routes_are_documented() {
    use wsframe::asyncapi::{Field, RouteDoc};
    use wsframe::prelude::*;

    struct ApiKey;

    impl FromHandshake for ApiKey {
        type Rejection = Rejection;

        async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
            req.header("x-api-key")
                .map(|_| ApiKey)
                .ok_or_else(|| Rejection::unauthorized("an API key is required"))
        }

        fn describe(doc: &mut RouteDoc) {
            doc.field(
                Field::header("X-Api-Key")
                    .credential()
                    .description("The team's key."),
            );
        }
    }

    /// A feed of prices.
    #[websocket("/feed/<market>/<depth>", protocols = ["feed.v2", "feed.v1"], tags = ["prices"])]
    async fn feed(_ws: WebSocket, market: String, depth: u16, _key: ApiKey) {
        let _ = (market, depth);
    }

    async fn plain(
        _ws: WebSocket,
        _agent: Option<wsframe::TypedHeader<headers::UserAgent>>,
        _key: Result<ApiKey, Rejection>,
    ) {
    }

    #[websocket("/gen")]
    async fn r#gen(_ws: WebSocket) {}

    let app = App::new()
        .route(feed)
        .route(r#gen)
        .websocket("/plain/<rest..>", plain)
        .asyncapi_route("/asyncapi.json");
    let doc = served(app).await;
    let channel = &doc["channels"]["feed"];
    assert_eq!(channel["address"], "/feed/{market}/{depth}");
    assert_eq!(channel["tags"], serde_json::json!([{ "name": "prices" }]));
    assert_eq!(doc["operations"]["feed.send"]["tags"][0]["name"], "prices");
    assert!(
        channel["parameters"]["depth"]["description"]
            .as_str()
            .unwrap()
            .contains("`u16`")
    );
    let headers = &channel["bindings"]["ws"]["headers"];
    assert_eq!(headers["required"], serde_json::json!(["x-api-key"]));
    assert!(
        headers["properties"]["sec-websocket-protocol"]["description"]
            .as_str()
            .unwrap()
            .contains("`feed.v2`, `feed.v1`")
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["header_x_api_key"]["name"],
        "x-api-key"
    );
    assert_eq!(
        doc["channels"]["gen"]["address"], "/gen",
        "a raw identifier's name"
    );
    let untagged = &doc["channels"]["plain_rest"];
    assert_eq!(untagged["address"], "/plain/{rest}");
    assert!(untagged.get("summary").is_none());
    // An `Option<G>` or `Result<G, _>` guard's values are optional: the route goes on
    // without them.
    let headers = &untagged["bindings"]["ws"]["headers"];
    assert!(headers.get("required").is_none(), "{headers}");
    assert!(headers["properties"]["user-agent"].is_object(), "{headers}");
    assert!(headers["properties"]["x-api-key"].is_object(), "{headers}");
    assert_valid(&doc).await;
}

/// Behind a trusted proxy that rewrites `Host`, the document names the host and scheme
/// the client used, as the proxy states them (the host only when the app believes
/// proxies' hosts); from anyone else those headers are ignored.
#[tokio::test]
async fn the_documents_server_is_the_one_the_client_addressed() {
    use wsframe::{Config, ProxyHeader, ProxyNet};
    let request = "GET /asyncapi.json HTTP/1.1\r\nHost: backend:8080\r\n\
        X-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Host: chat.example.com\r\n\
        X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n";
    let server = |config: Config| async move {
        let server = TestServer::start(chat::app().config(config)).await;
        let response = raw_request(server.addr, request.as_bytes()).await;
        assert_eq!(response.status, 200);
        let vary = response
            .header("vary")
            .unwrap_or_default()
            .to_ascii_lowercase();
        assert!(vary.contains("x-forwarded-host"), "{vary}");
        let page = request.replace("/asyncapi.json", "/docs");
        let page = raw_request(server.addr, page.as_bytes()).await;
        assert_eq!(page.status, 200);
        let vary = page.header("vary").unwrap_or_default().to_ascii_lowercase();
        assert!(vary.contains("x-forwarded-host"), "docs page: {vary}");
        let doc: Value = serde_json::from_slice(&response.body).unwrap();
        let this = &doc["servers"]["this"];
        (this["host"].clone(), this["protocol"].clone())
    };
    let local = "127.0.0.0/8".parse::<ProxyNet>().unwrap();
    let proxied = Config::default().trust_proxy(local, ProxyHeader::XForwardedFor);
    assert_eq!(
        server(proxied.clone().trust_forwarded_host()).await,
        ("chat.example.com".into(), "wss".into())
    );
    assert_eq!(
        server(proxied).await,
        ("backend:8080".into(), "wss".into()),
        "the proxy's scheme, not its host"
    );
    assert_eq!(
        server(Config::default().trust_forwarded_host()).await,
        ("backend:8080".into(), "ws".into()),
        "no proxy trusted"
    );
}

/// The parser's check can fail: a document whose operation names a channel that does
/// not exist gets an error from it.
#[tokio::test]
async fn the_parser_reports_a_broken_reference() {
    let mut doc = chat::app().asyncapi();
    doc["operations"]["chat.send"]["channel"]["$ref"] = Value::from("#/channels/nowhere");
    let Some(parsed) = parse(&doc).await else {
        return;
    };
    assert!(!parsed.document);
    assert!(
        parsed
            .diagnostics
            .iter()
            .any(|d| d["severity"] == 0 && d["code"] == "invalid-ref"),
        "no error for a broken reference: {:#?}",
        parsed.diagnostics
    );
}

/// The typed example: its messages' schemas are in `components/schemas` and every
/// reference resolves; the example made from each schema deserializes into the Rust
/// type; the guard's header and cookie are optional credentials.
#[tokio::test]
async fn the_typed_examples_messages_have_schemas_whose_examples_deserialize() {
    let doc = served(typed::app()).await;
    let messages = &doc["channels"]["topics"]["messages"];
    let client = &messages["clientMessage"];
    let server = &messages["serverMessage"];
    assert_eq!(client["contentType"], "application/json");
    assert_eq!(client["payload"]["$ref"], "#/components/schemas/Command");
    assert_eq!(server["payload"]["$ref"], "#/components/schemas/Event");
    assert_eq!(
        doc["operations"]["topics.receive"]["messages"][0]["$ref"],
        "#/channels/topics/messages/clientMessage"
    );
    assert_eq!(
        doc["operations"]["topics.send"]["messages"][0]["$ref"],
        "#/channels/topics/messages/serverMessage"
    );

    let example = &client["examples"][0]["payload"];
    let command: typed::Command = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{example} is not a Command: {e}"));
    println!("example command: {command:?}");
    let example = &server["examples"][0]["payload"];
    let event: typed::Event = serde_json::from_value(example.clone())
        .unwrap_or_else(|e| panic!("{example} is not an Event: {e}"));
    println!("example event: {event:?}");

    // Every reference in the document points at something.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    for reference in found {
        let pointer = reference.trim_start_matches('#').replace("~1", "/");
        assert!(
            doc.pointer(&pointer).is_some(),
            "{reference} resolves to nothing"
        );
    }

    let binding = &doc["channels"]["topics"]["bindings"]["ws"];
    assert!(binding["headers"].get("required").is_none(), "{binding}");
    assert_eq!(
        doc["components"]["securitySchemes"]["cookie_token"]["in"],
        "cookie"
    );
    assert_valid(&doc).await;
}

/// The typed route answers as its document says: a command made from the schema's
/// example is understood.
#[tokio::test]
async fn the_typed_example_answers_a_command_made_from_its_schema() {
    let doc = typed::app().asyncapi();
    let example =
        doc["channels"]["topics"]["messages"]["clientMessage"]["examples"][0]["payload"].clone();
    let client = TestClient::new(typed::app()).unwrap();
    let mut ws = client
        .connect("/topics/news")
        .header("authorization", "Bearer ann")
        .await
        .unwrap();
    ws.send_text(example.to_string()).await.unwrap();
    ws.send_text(r#"{"type":"ping"}"#).await.unwrap();
    // The example is a `say` (the first variant): it comes back as `said`; the ping
    // after it is answered with the first pong.
    let first: typed::Event = serde_json::from_str(&ws.receive_text().await.unwrap()).unwrap();
    assert!(
        matches!(&first, typed::Event::Said { topic, from, .. } if topic == "news" && from == "ann"),
        "{first:?} (the example was {example})"
    );
    let second: typed::Event = serde_json::from_str(&ws.receive_text().await.unwrap()).unwrap();
    assert!(
        matches!(second, typed::Event::Pong { seq: 1 }),
        "{second:?}"
    );
}
