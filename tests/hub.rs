//! The broadcast hub: personal messages, broadcasts, rooms, presence, clean-up after
//! every kind of disconnect, slow consumers, and a 1,000-client broadcast over TCP.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::prelude::*;
use wsframe::testing::TestClient;
use wsframe::{Config, Presence};
use wsframe_tests::*;

/// Joins the rooms named in `?rooms=a,b`, registers `?key=`, then echoes commands:
/// `all:<text>` broadcast, `others:<text>` broadcast except me, `room:<room>:<text>`,
/// `leave:<room>`, `panic`, `fail`, `bye` (returns).
#[websocket("/hub?<rooms>&<key>")]
async fn member(
    mut ws: WebSocket,
    rooms: Option<String>,
    key: Option<String>,
    hub: Hub,
) -> wsframe::Result<()> {
    ws.accept().await?;
    for room in rooms.iter().flat_map(|r| r.split(',')) {
        hub.join(room, &ws);
    }
    if let Some(key) = key {
        hub.set_key(&ws, key);
    }
    ws.send_text(format!("id {}", ws.id())).await?;
    while let Ok(command) = ws.receive_text().await {
        match command.split_once(':') {
            Some(("all", text)) => {
                hub.broadcast_text(text.to_string());
            }
            Some(("others", text)) => {
                hub.broadcast_except(&ws, text.to_string());
            }
            Some(("room", rest)) => {
                let (room, text) = rest.split_once(':').unwrap();
                hub.room(room).broadcast_text(text.to_string());
            }
            Some(("leave", room)) => {
                hub.leave(room, &ws);
            }
            _ if command == "panic" => panic!("handler bug"),
            _ if command == "fail" => return Err(wsframe::Error::custom("handler error")),
            _ if command == "bye" => return Ok(()),
            _ => {}
        }
    }
    Ok(())
}

/// Joins room `all` and waits until the client leaves; answers `end` with its own
/// `end` (a handler send: never dropped, queued after the hub's messages).
#[websocket("/sub")]
async fn subscriber(mut ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join("all", &ws);
    while let Ok(message) = ws.receive().await {
        if message.as_text() == Some("end") {
            ws.send_text("end").await?;
        }
    }
    Ok(())
}

/// Joins `early` and files itself under its user id before accepting (a mistake that
/// used to be silently ignored), then reports what `join` and `set_key` answered.
#[websocket("/early/<user>")]
async fn joins_before_accept(mut ws: WebSocket, user: u64, hub: Hub) -> wsframe::Result<()> {
    let joined = hub.join("early", &ws);
    let keyed = hub.set_key(&ws, user);
    ws.accept().await?;
    ws.send_text(format!("joined {joined}, keyed {keyed}"))
        .await?;
    while ws.receive().await.is_ok() {}
    Ok(())
}

/// Joins and sets a key, then refuses the handshake: nothing may be left behind.
#[websocket("/refused")]
async fn joins_then_refuses(ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    hub.join("refused", &ws);
    hub.set_key(&ws, "nobody");
    ws.close(CloseCode::POLICY_VIOLATION, "go away").await
}

/// What `join` and `set_key` answered after a refused handshake: bit 0 set once
/// reported, bit 1 for `join`, bit 2 for `set_key`.
static AFTER_REFUSAL: AtomicUsize = AtomicUsize::new(0);

/// Refuses the handshake, then tries to join and to set a key.
#[websocket("/refused-then-joins")]
async fn refuses_then_joins(ws: WebSocket, hub: Hub) -> wsframe::Result<()> {
    let _ = ws.close(CloseCode::POLICY_VIOLATION, "go away").await;
    let joined = hub.join("after-refusal", &ws);
    let keyed = hub.set_key(&ws, "refused");
    AFTER_REFUSAL.store(
        1 | (joined as usize) << 1 | (keyed as usize) << 2,
        Ordering::SeqCst,
    );
    Ok(())
}

#[tokio::test]
async fn join_and_set_key_after_a_refused_handshake_answer_false() {
    let client = TestClient::new(App::new().routes(routes![refuses_then_joins])).unwrap();
    let refused = client.connect("/refused-then-joins").await.unwrap_err();
    assert_eq!(refused.status().unwrap().as_u16(), 403);
    let reported = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let v = AFTER_REFUSAL.load(Ordering::SeqCst);
            if v != 0 {
                return v;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the handler reports what join and set_key answered");
    assert_eq!(
        reported,
        1,
        "join answered {}, set_key answered {}",
        reported & 2 != 0,
        reported & 4 != 0
    );
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Update {
    Joined { user: u64 },
    Price { cents: u64 },
    Note { text: String },
}

#[derive(Deserialize)]
struct Note {
    text: String,
}

/// A typed dashboard: tells the others in its room that it joined, pushes every price
/// on `feed` from a background task through its `TypedSender`, and passes each note it
/// receives on to everyone else. Never a hand-serialized string.
#[websocket("/dash/<user>")]
async fn dashboard(
    mut ws: TypedWebSocket<Note, Update>,
    user: u64,
    hub: Hub,
    State(feed): State<broadcast::Sender<u64>>,
) -> wsframe::Result<()> {
    let mut feed = feed.subscribe();
    hub.set_key(&ws, user);
    hub.join("dash", &ws);
    ws.accept().await?;
    hub.room("dash")
        .broadcast_json_except(&ws, &Update::Joined { user })?;
    let me = ws.id();
    let (sender, mut receiver) = ws.split();
    let pusher = tokio::spawn(async move {
        while let Ok(cents) = feed.recv().await {
            if sender.send(&Update::Price { cents }).await.is_err() {
                break;
            }
        }
    });
    while let Ok(Note { text }) = receiver.receive().await {
        hub.broadcast_json_except(me, &Update::Note { text })?;
    }
    pusher.abort();
    Ok(())
}

fn app() -> App {
    App::new().routes(routes![member, subscriber])
}

async fn joined(client: &TestClient, uri: &str) -> (wsframe::testing::TestWebSocket, String) {
    let mut ws = client.connect(uri).await.unwrap();
    let id = ws.receive_text().await.unwrap();
    (ws, id.trim_start_matches("id ").to_string())
}

#[tokio::test]
async fn personal_broadcast_except_sender_and_rooms() {
    let app = app();
    let hub = app.hub();
    let client = TestClient::new(app).unwrap();
    let (mut a, _) = joined(&client, "/hub?rooms=red&key=ada").await;
    let (mut b, _) = joined(&client, "/hub?rooms=red,blue&key=bob").await;
    let (mut c, _) = joined(&client, "/hub?rooms=blue&key=ada").await;

    a.send_text("all:to everyone").await.unwrap();
    for ws in [&mut a, &mut b, &mut c] {
        assert_eq!(ws.receive_text().await.unwrap(), "to everyone");
    }
    a.send_text("others:not to a").await.unwrap();
    assert_eq!(b.receive_text().await.unwrap(), "not to a");
    assert_eq!(c.receive_text().await.unwrap(), "not to a");
    b.send_text("room:blue:blue only").await.unwrap();
    assert_eq!(b.receive_text().await.unwrap(), "blue only");
    assert_eq!(c.receive_text().await.unwrap(), "blue only");
    // Personal: by key reaches both of ada's connections.
    assert_eq!(hub.send_to_key("ada", "for ada"), 2);
    assert_eq!(a.receive_text().await.unwrap(), "for ada");
    assert_eq!(c.receive_text().await.unwrap(), "for ada");
    // Nothing else arrived for a: the next thing it sees is this.
    hub.broadcast_text("marker");
    assert_eq!(a.receive_text().await.unwrap(), "marker");
    assert_eq!(b.receive_text().await.unwrap(), "marker");
    assert_eq!(c.receive_text().await.unwrap(), "marker");

    assert_eq!(hub.room("red").count(), 2);
    assert_eq!(hub.room("blue").count(), 2);
    b.send_text("leave:blue").await.unwrap();
    wait_until("b left blue", || hub.room("blue").count() == 1).await;
    assert_eq!(hub.room("blue").broadcast_text("after leave"), 1);
    assert_eq!(c.receive_text().await.unwrap(), "after leave");
}

#[tokio::test]
async fn personal_message_by_connection_id() {
    let app = app();
    let hub = app.hub();
    let client = TestClient::new(app).unwrap();
    let (mut a, a_id) = joined(&client, "/hub").await;
    let (mut b, _) = joined(&client, "/hub").await;
    assert!(hub.send(a_id.parse().unwrap(), "just for a"));
    assert_eq!(a.receive_text().await.unwrap(), "just for a");
    hub.broadcast_text("marker");
    assert_eq!(a.receive_text().await.unwrap(), "marker");
    assert_eq!(
        b.receive_text().await.unwrap(),
        "marker",
        "b got nothing before the marker"
    );
    assert_eq!(hub.connection_count(), 2);
}

#[tokio::test]
async fn presence_events_follow_joins_leaves_and_disconnects() {
    let app = app();
    let hub = app.hub();
    let mut presence = hub.room("lobby").presence();
    let client = TestClient::new(app).unwrap();
    let (mut a, a_id) = joined(&client, "/hub?rooms=lobby&key=ada").await;
    let (b, b_id) = joined(&client, "/hub?rooms=lobby").await;
    let event = within(presence.recv()).await.unwrap();
    assert!(
        matches!(&event, Presence::Joined { id, .. } if id.to_string() == a_id),
        "{event:?}"
    );
    let event = within(presence.recv()).await.unwrap();
    assert!(
        matches!(&event, Presence::Joined { id, .. } if id.to_string() == b_id),
        "{event:?}"
    );
    let mut members: Vec<String> = hub
        .room("lobby")
        .members()
        .iter()
        .map(|m| m.to_string())
        .collect();
    members.sort();
    let mut expected = vec![a_id.clone(), b_id.clone()];
    expected.sort();
    assert_eq!(members, expected);

    drop(b); // vanishes without a close frame
    let event = within(presence.recv()).await.unwrap();
    assert!(
        matches!(&event, Presence::Left { id, .. } if id.to_string() == b_id),
        "{event:?}"
    );
    a.send_text("leave:lobby").await.unwrap();
    let event = within(presence.recv()).await.unwrap();
    assert_eq!(
        event,
        Presence::Left {
            id: a_id.parse().unwrap(),
            key: Some("ada".into())
        }
    );
    assert_eq!(hub.room("lobby").count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_disconnect_leaves_the_registry_and_rooms_empty() {
    let app = app();
    let hub = app.hub();
    let client = Arc::new(TestClient::new(app).unwrap());
    let cycles = 10_000;
    let mut tasks = tokio::task::JoinSet::new();
    for batch in 0..(cycles / 100) {
        let client = client.clone();
        tasks.spawn(async move {
            for i in 0..100 {
                let n = batch * 100 + i;
                let (mut ws, _) = joined(
                    &client,
                    &format!("/hub?rooms=r{},shared&key=k{}", n % 7, n % 13),
                )
                .await;
                match n % 6 {
                    0 => ws.close(CloseCode::NORMAL, "bye").await.unwrap(),
                    1 => drop(ws),
                    2 => ws.send_text("bye").await.unwrap(),
                    3 => ws.send_text("panic").await.unwrap(),
                    4 => ws.send_text("fail").await.unwrap(),
                    _ => {
                        // An invalid frame: the server closes with 1002... through the
                        // TestClient a protocol error is hard to make; close abnormally.
                        ws.close(4000, "custom").await.unwrap()
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    wait_until("every connection left the hub", || {
        hub.connection_count() == 0 && hub.rooms().is_empty() && hub.key_count() == 0
    })
    .await;
    assert_eq!(client.metrics().snapshot().connections_total, cycles as u64);
}

#[derive(Default)]
struct Counted {
    serializations: Arc<AtomicUsize>,
}

impl Serialize for Counted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.serializations.fetch_add(1, Ordering::SeqCst);
        serializer.serialize_str("counted")
    }
}

#[tokio::test]
async fn a_join_and_a_key_made_before_accept_take_effect_at_accept() {
    let app = App::new().routes(routes![joins_before_accept, joins_then_refuses]);
    let hub = app.hub();
    let mut presence = hub.room("early").presence();
    let client = TestClient::new(app).unwrap();

    let mut ws = client.connect("/early/7").await.unwrap();
    assert_eq!(ws.receive_text().await.unwrap(), "joined true, keyed true");
    // Announced once accepted, with the key set before the join was applied.
    let Ok(Presence::Joined { key, .. }) = presence.recv().await else {
        panic!("no Joined event")
    };
    assert_eq!(key.as_deref(), Some("7"));
    assert_eq!(hub.room("early").broadcast_text("to the room"), 1);
    assert_eq!(ws.receive_text().await.unwrap(), "to the room");
    assert_eq!(hub.send_to_key("7", "to user 7"), 1);
    assert_eq!(ws.receive_text().await.unwrap(), "to user 7");

    // A handshake refused after joining leaves no room, key or presence event behind.
    let refused = client.connect("/refused").await.unwrap_err();
    assert_eq!(refused.status().unwrap().as_u16(), 403);
    assert!(
        !hub.rooms().contains(&"refused".to_string()),
        "{:?}",
        hub.rooms()
    );
    assert_eq!(hub.send_to_key("nobody", "hello?"), 0);
    assert_eq!(hub.key_count(), 1);

    ws.close(CloseCode::NORMAL, "").await.unwrap();
    let Ok(Presence::Left { key, .. }) = presence.recv().await else {
        panic!("no Left event")
    };
    assert_eq!(key.as_deref(), Some("7"));
}

#[tokio::test]
async fn a_numeric_user_id_is_one_key_for_set_key_and_send_to_key() {
    let app = App::new().route(joins_before_accept);
    let hub = app.hub();
    let client = TestClient::new(app).unwrap();
    let mut phone = client.connect("/early/7").await.unwrap();
    let mut laptop = client.connect("/early/7").await.unwrap();
    for ws in [&mut phone, &mut laptop] {
        assert_eq!(ws.receive_text().await.unwrap(), "joined true, keyed true");
    }
    let user_id: u64 = 7;
    assert_eq!(hub.send_to_key(user_id, "by number"), 2);
    assert_eq!(hub.send_to_key("7", "by text"), 2);
    assert_eq!(hub.send_to_key(8u64, "nobody"), 0);
    for ws in [&mut phone, &mut laptop] {
        assert_eq!(ws.receive_text().await.unwrap(), "by number");
        assert_eq!(ws.receive_text().await.unwrap(), "by text");
    }
}

#[tokio::test]
async fn a_typed_app_sends_to_every_target_and_from_a_background_task() {
    let (feed, _) = broadcast::channel::<u64>(16);
    let app = App::new().state(feed.clone()).route(dashboard);
    let hub = app.hub();
    let mut presence = hub.room("dash").presence();
    let client = TestClient::new(app).unwrap();
    let mut ada = client.connect("/dash/1").await.unwrap();
    let mut bob = client.connect("/dash/2").await.unwrap();
    let mut ids = std::collections::HashMap::new();
    for _ in 0..2 {
        let Ok(Presence::Joined { id, key: Some(key) }) = presence.recv().await else {
            panic!("a Joined event with a key")
        };
        ids.insert(key.to_string(), id);
    }

    // The room's typed send to all but the sender.
    assert_eq!(
        ada.receive_json::<Update>().await.unwrap(),
        Update::Joined { user: 2 }
    );
    // Each dashboard's background task, through its TypedSender.
    feed.send(150).unwrap();
    for ws in [&mut ada, &mut bob] {
        assert_eq!(
            ws.receive_json::<Update>().await.unwrap(),
            Update::Price { cents: 150 }
        );
    }
    // The hub's typed send to all but the sender.
    ada.send_text(r#"{"text":"hi"}"#).await.unwrap();
    let hi = Update::Note { text: "hi".into() };
    assert_eq!(bob.receive_json::<Update>().await.unwrap(), hi);
    // To a key, given as the same u64 the handler filed it under, and to one connection.
    let for_bob = Update::Note {
        text: "for bob".into(),
    };
    assert_eq!(hub.send_json_to_key(2u64, &for_bob).unwrap(), 1);
    assert_eq!(bob.receive_json::<Update>().await.unwrap(), for_bob);
    let for_ada = Update::Note {
        text: "for ada".into(),
    };
    assert!(hub.send_json(ids["1"], &for_ada).unwrap());
    // Ada's next message: her own note never came back to her.
    assert_eq!(ada.receive_json::<Update>().await.unwrap(), for_ada);

    // Every typed send serializes once, whatever the target.
    let value = Counted::default();
    assert_eq!(
        hub.room("dash")
            .broadcast_json_except(ids["1"], &value)
            .unwrap(),
        1
    );
    assert_eq!(hub.broadcast_json_except(ids["2"], &value).unwrap(), 1);
    assert_eq!(hub.send_json_to_key(1u64, &value).unwrap(), 1);
    assert!(hub.send_json(ids["2"], &value).unwrap());
    assert_eq!(value.serializations.load(Ordering::SeqCst), 4);
    for _ in 0..2 {
        assert_eq!(ada.receive_text().await.unwrap(), "\"counted\"");
        assert_eq!(bob.receive_text().await.unwrap(), "\"counted\"");
    }
}

#[tokio::test]
async fn json_is_serialized_once_per_broadcast() {
    let app = app();
    let hub = app.hub();
    let client = TestClient::new(app).unwrap();
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(joined(&client, "/hub?rooms=json").await.0);
    }
    let value = Counted::default();
    assert_eq!(hub.room("json").broadcast_json(&value).unwrap(), 50);
    assert_eq!(value.serializations.load(Ordering::SeqCst), 1);
    for ws in &mut clients {
        assert_eq!(ws.receive_text().await.unwrap(), "\"counted\"");
    }
}

async fn slow_consumer_with(
    policy: SlowConsumer,
) -> (Vec<u32>, wsframe::MetricsSnapshot, Vec<Vec<u32>>) {
    let app = app().config(Config::default().outgoing_queue(8));
    let hub = app.hub();
    hub.room("all").set_policy(policy);
    let client = TestClient::new(app).unwrap();
    let mut fast = Vec::new();
    for _ in 0..3 {
        fast.push(client.connect("/sub").await.unwrap());
    }
    let mut slow = client.connect("/sub").await.unwrap();
    wait_until("all joined", || hub.room("all").count() == 4).await;
    let mut received = vec![Vec::new(); 3];
    let payload = "x".repeat(4096);
    for seq in 0..200u32 {
        hub.room("all")
            .broadcast_text(format!("{seq:05} {payload}"));
        // Fast clients keep up: read what this broadcast sent them.
        for (ws, got) in fast.iter_mut().zip(received.iter_mut()) {
            let text = ws.receive_text().await.unwrap();
            got.push(text[..5].parse().unwrap());
        }
    }
    // The slow client asks for an end marker, then finally reads.
    let mut slow_got = Vec::new();
    if slow.send_text("end").await.is_ok() {
        loop {
            match slow.receive().await {
                Ok(m) if m.as_text() == Some("end") => break,
                Ok(m) => slow_got.push(m.as_text().unwrap()[..5].parse().unwrap()),
                Err(wsframe::Error::Disconnected(d)) => {
                    assert_eq!(policy, SlowConsumer::Close);
                    assert_eq!(d.code, Some(CloseCode::TRY_AGAIN_LATER));
                    break;
                }
                Err(e) => panic!("{policy:?}: {e}"),
            }
        }
    }
    (slow_got, client.metrics().snapshot(), received)
}

#[tokio::test]
async fn slow_consumers_meet_the_policy_and_everyone_else_gets_everything() {
    let all: Vec<u32> = (0..200).collect();
    for policy in [
        SlowConsumer::DropNewest,
        SlowConsumer::DropOldest,
        SlowConsumer::Close,
    ] {
        let (slow, metrics, fast) = slow_consumer_with(policy).await;
        for got in &fast {
            assert_eq!(got, &all, "{policy:?}: a fast client missed messages");
        }
        assert!(
            slow.windows(2).all(|w| w[0] < w[1]),
            "{policy:?}: out of order: {slow:?}"
        );
        assert!(
            slow.len() < 200,
            "{policy:?}: the slow client cannot have everything"
        );
        match policy {
            SlowConsumer::DropNewest => {
                assert!(metrics.slow_consumer_drops > 0);
                // It kept the oldest: a prefix of the sequence.
                assert_eq!(slow, all[..slow.len()]);
            }
            SlowConsumer::DropOldest => {
                assert!(metrics.slow_consumer_drops > 0);
                // It ends with the newest.
                assert_eq!(slow.last(), Some(&199));
            }
            SlowConsumer::Close => assert_eq!(metrics.slow_consumer_closes, 1),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_clients_over_tcp_get_every_message_in_order_but_the_slow_one_gets_1013() {
    const CLIENTS: usize = 999;
    const MESSAGES: u32 = 200;
    let app = app().config(Config::default().outgoing_queue(8));
    let hub = app.hub();
    let server = TestServer::start(app).await;

    // One client that never reads, with a small receive buffer so it backs up soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut slow = socket.connect(server.addr).await.unwrap();
    slow.write_all(&upgrade_request("/sub", "", &[]))
        .await
        .unwrap();
    let response = read_response(&mut slow).await;
    assert_eq!(response.status, 101);

    // Each reader's progress, for the publisher's flow control.
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..CLIENTS).map(|_| AtomicU64::new(0)).collect());
    let mut readers = tokio::task::JoinSet::new();
    for index in 0..CLIENTS {
        let mut ws = connect(server.addr, "/sub").await;
        let progress = progress.clone();
        readers.spawn(async move {
            let mut expected = 0u32;
            while expected < MESSAGES {
                match ws.next().await {
                    Some(Ok(WsMessage::Text(text))) => {
                        let seq: u32 = text[..5].parse().unwrap();
                        assert_eq!(seq, expected, "out of order or lost");
                        expected += 1;
                        progress[index].store(u64::from(expected), Ordering::Relaxed);
                    }
                    Some(Ok(WsMessage::Close(frame))) => panic!("closed: {frame:?}"),
                    Some(Ok(_)) => {}
                    other => panic!("connection ended early: {other:?}"),
                }
            }
            ws.close(None).await.unwrap();
            expected
        });
    }
    wait_until("everyone joined", || hub.room("all").count() == CLIENTS + 1).await;

    let payload = "y".repeat(1024);
    for seq in 0..MESSAGES {
        // Keep at most 4 broadcasts in flight for every reader (flow control, so that
        // only the client that never reads falls behind).
        let target = u64::from(seq.saturating_sub(4));
        within(async {
            while progress.iter().any(|p| p.load(Ordering::Relaxed) < target) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
        .await;
        hub.room("all")
            .broadcast_text(format!("{seq:05} {payload}"));
    }
    let mut delivered = 0;
    while let Some(got) = readers.join_next().await {
        delivered += got.unwrap();
    }
    assert_eq!(delivered, MESSAGES * CLIENTS as u32);
    assert_eq!(server.metrics().slow_consumer_drops, 0);
    // Loopback buffers may still absorb what the slow client has not read; keep
    // publishing (now to it alone) until its queue overflows.
    wait_until("only the slow client is left", || {
        hub.room("all").count() == 1
    })
    .await;
    let big = "z".repeat(16 << 10);
    for _ in 0..4096 {
        if server.metrics().slow_consumer_closes > 0 {
            break;
        }
        hub.room("all").broadcast_text(big.clone());
        tokio::task::yield_now().await;
    }
    assert_eq!(server.metrics().slow_consumer_closes, 1);

    // When it finally reads: what was already on its way, then the 1013 close frame,
    // then (after its reply) the server closes the TCP connection.
    let close = raw_read_close(&mut slow, response.rest).await;
    assert_eq!(close, Some((1013, "slow consumer".into())));
    slow.write_all(&client_frame(0x8, &1013u16.to_be_bytes()))
        .await
        .unwrap();
    assert!(closed_by_peer(&mut slow).await);
}
