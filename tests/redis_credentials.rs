//! TLS and authentication to Redis, from the backplane's URL: a real redis-server with
//! `requirepass` and an ACL user, and one that speaks TLS only, with a certificate
//! made at run time. The right credentials carry messages between nodes; a wrong
//! password and an untrusted certificate each fail with an error that says so.

use std::path::PathBuf;

use wsframe::backplane::RedisBackplane;
use wsframe::prelude::*;
use wsframe::{Hub, MetricsSnapshot};
use wsframe_tests::ScratchDir;
use wsframe_tests::redis::RedisServer;
use wsframe_tests::{TestServer, connect, next_text};

/// Joins `room`, waits until its node is subscribed, says "ready", then stays.
#[websocket("/member?<room>")]
async fn member(mut ws: WebSocket, room: String, hub: Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join_synced(&room, &ws).await?;
    ws.send_text("ready").await?;
    while ws.receive().await.is_ok() {}
    Ok(())
}

struct Node {
    server: TestServer,
    hub: Hub,
}

impl Node {
    async fn start(backplane: RedisBackplane) -> Node {
        let app = App::new().route(member).backplane(backplane.prefix("test"));
        let hub = app.hub();
        Node {
            server: TestServer::start(app).await,
            hub,
        }
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.server.metrics()
    }
}

/// A message from `from` reaches a member on `to`.
async fn carries(from: &Node, to: &Node, room: &str) {
    let mut client = connect(to.server.addr, &format!("/member?room={room}")).await;
    assert_eq!(next_text(&mut client).await, "ready");
    from.hub.room(room).broadcast_text("across");
    assert_eq!(next_text(&mut client).await, "across");
    assert!(to.metrics().backplane_received >= 1);
}

/// The error a node that cannot reach Redis gives: from `synced` and from presence.
async fn refusal(node: &Node) -> String {
    let synced = node.hub.synced().await.expect_err("cannot be synced");
    let presence = node
        .hub
        .room("r")
        .members_everywhere()
        .await
        .expect_err("presence is unknown");
    assert_eq!(node.metrics().backplane_subscriptions, 0);
    eprintln!("refused: {synced} / {presence}");
    format!("{synced} / {presence}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_or_an_acl_user_connects_and_a_wrong_password_says_so() {
    // The ACL user gets what RedisBackplane's docs list, for the prefix `test`.
    let Some(redis) = RedisServer::start_with(
        &[
            "--requirepass",
            "s3cret",
            "--user",
            "ada",
            "on",
            ">ada-pw",
            "~test:*",
            "&test:*",
            "+@pubsub",
            "+@hash",
            "+@string",
            "+@keyspace",
            "+@scripting",
            "+@connection",
        ],
        None,
    ) else {
        return;
    };
    let by_password = Node::start(RedisBackplane::new(&redis.url_as("", "s3cret")).unwrap()).await;
    let by_user = Node::start(RedisBackplane::new(&redis.url_as("ada", "ada-pw")).unwrap()).await;
    carries(&by_password, &by_user, "r").await;
    carries(&by_user, &by_password, "s").await;

    let wrong = Node::start(RedisBackplane::new(&redis.url_as("ada", "nope")).unwrap()).await;
    let error = refusal(&wrong).await;
    assert!(error.contains("Redis refused the credentials"), "{error}");
    assert!(
        !error.contains("nope"),
        "the password stays out of errors: {error}"
    );
    let no_password = Node::start(RedisBackplane::new(&redis.url()).unwrap()).await;
    let error = refusal(&no_password).await;
    assert!(
        error.contains("Redis refused the credentials") || error.contains("NOAUTH"),
        "{error}"
    );
}

/// A self-signed certificate for `localhost`, and its files (in a directory that lasts
/// as long as the returned guard).
fn certificate(name: &str) -> (String, PathBuf, PathBuf, ScratchDir) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = ScratchDir::new(&format!("redis-tls-{name}"));
    let (cert, private) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, key.cert.pem()).unwrap();
    std::fs::write(&private, key.key_pair.serialize_pem()).unwrap();
    (key.cert.pem(), cert, private, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_with_its_ca_connects_and_an_untrusted_certificate_says_so() {
    let (ca, cert, key, _dir) = certificate("server");
    let Some(redis) = RedisServer::start_with(&["--requirepass", "s3cret"], Some((&cert, &key)))
    else {
        return;
    };
    let url = redis.url_as("", "s3cret");
    assert!(url.starts_with("rediss://"));
    let node = || {
        RedisBackplane::new(&url)
            .unwrap()
            .ca_certificate(&ca)
            .unwrap()
    };
    let (one, two) = (Node::start(node()).await, Node::start(node()).await);
    carries(&one, &two, "r").await;

    // Another CA than the server's, then the system's trust store: both refuse.
    let (other_ca, ..) = certificate("other");
    let wrong_ca = RedisBackplane::new(&url)
        .unwrap()
        .ca_certificate(&other_ca)
        .unwrap();
    let error = refusal(&Node::start(wrong_ca).await).await;
    assert!(error.contains("certificate is not trusted"), "{error}");
    let error = refusal(&Node::start(RedisBackplane::new(&url).unwrap()).await).await;
    assert!(error.contains("certificate is not trusted"), "{error}");

    // Never an exception to checking: `#insecure` is refused up front.
    let insecure = RedisBackplane::new(&format!("{url}/#insecure")).unwrap_err();
    assert!(
        insecure
            .to_string()
            .contains("certificates are always checked"),
        "{insecure}"
    );
}
