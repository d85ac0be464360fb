//! Scale-out through a real redis-server: three nodes (three servers in this process,
//! each with its own Redis connections), clients spread over them.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::backplane::RedisBackplane;
use wsframe::prelude::*;
use wsframe::{Config, ConnectionId, Hub, MetricsSnapshot, Presence, UserPresence};
use wsframe_tests::redis::RedisServer;
use wsframe_tests::{Client, TestServer, connect, next_text, wait_until, within};

/// A member: joins `room`, registers `key` if given, waits until its node subscribed
/// to both, tells the client its connection id, then stays until the client leaves.
#[websocket("/member?<room>&<key>")]
async fn member(
    mut ws: WebSocket,
    room: String,
    key: Option<String>,
    hub: Hub,
) -> wsframe::Result<()> {
    ws.accept().await?;
    hub.join(&room, &ws);
    if let Some(key) = key {
        hub.set_key(&ws, key);
    }
    // Redis may be down in some tests: the member is listed all the same.
    let _ = hub.synced().await;
    ws.send_text(ws.id().to_string()).await?;
    while ws.receive().await.is_ok() {}
    Ok(())
}

fn node_app(url: &str, heartbeat: Duration) -> App {
    let backplane = RedisBackplane::new(url)
        .unwrap()
        .prefix("test")
        .heartbeat(heartbeat);
    App::new()
        // Bursts of 10,000 messages: room enough that no fast reader meets the
        // slow-consumer policy.
        .config(Config::default().outgoing_queue(16_384))
        .route(member)
        .backplane(backplane)
}

struct Node {
    server: TestServer,
    hub: Hub,
}

impl Node {
    async fn start(redis: &RedisServer) -> Node {
        Node::on(&redis.url()).await
    }

    /// A node on the Redis (or Redis Cluster) at `url`.
    async fn on(url: &str) -> Node {
        let app = node_app(url, Duration::from_millis(200));
        let hub = app.hub();
        let server = TestServer::start(app).await;
        let node = Node { server, hub };
        node.wait_subscribed().await;
        node
    }

    async fn wait_subscribed(&self) {
        wait_async("the node subscribes", || async {
            self.metrics().backplane_subscriptions >= 1
        })
        .await;
    }

    fn metrics(&self) -> MetricsSnapshot {
        self.server.metrics()
    }

    async fn member(&self, room: &str, key: Option<&str>) -> (Client, ConnectionId) {
        member_at(self.server.addr, room, key).await
    }
}

/// A node in a runtime of its own, so that it can be killed outright: its tasks are
/// dropped and it never says goodbye (no leave, no heartbeat deletion).
struct KillableNode {
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl KillableNode {
    /// Start one on the Redis at `url` (heartbeat 200 ms); its address and itself.
    async fn start(url: &str) -> (SocketAddr, KillableNode) {
        let url = url.to_owned();
        let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap();
            let backplane = RedisBackplane::new(&url)
                .unwrap()
                .prefix("test")
                .heartbeat(Duration::from_millis(200));
            let app = App::new().route(member).backplane(backplane);
            let server = runtime.block_on(app.bind("127.0.0.1:0")).unwrap();
            addr_tx.send(server.local_addr()).unwrap();
            runtime.spawn(server.run());
            kill_rx.recv().unwrap();
            runtime.shutdown_background();
        });
        (addr_rx.await.unwrap(), KillableNode { kill, thread })
    }

    fn kill(self) {
        self.kill.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

async fn member_at(addr: SocketAddr, room: &str, key: Option<&str>) -> (Client, ConnectionId) {
    let path = match key {
        Some(key) => format!("/member?room={room}&key={key}"),
        None => format!("/member?room={room}"),
    };
    let mut client = connect(addr, &path).await;
    let id = next_text(&mut client)
        .await
        .parse()
        .expect("a connection id");
    (client, id)
}

/// Wait (up to 10 s) for an async condition.
async fn wait_async<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn members_everywhere(hub: &Hub, room: &str) -> Vec<ConnectionId> {
    hub.room(room)
        .members_everywhere()
        .await
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_broadcast_reaches_every_node_once_and_in_order() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let c = Node::start(&redis).await;
    let mut clients = Vec::new();
    for node in [&a, &b, &b, &c, &c] {
        clients.push(node.member("r", None).await.0);
    }
    wait_async("presence lists all five", || async {
        members_everywhere(&a.hub, "r").await.len() == 5
    })
    .await;

    const N: usize = 10_000;
    for n in 0..N {
        a.hub.room("r").broadcast_text(n.to_string());
    }
    a.hub.room("r").broadcast_text("end");
    a.hub.room("r").broadcast_text("end 2");
    for (i, client) in clients.iter_mut().enumerate() {
        for n in 0..N {
            assert_eq!(
                next_text(client).await,
                n.to_string(),
                "client {i}, message {n}"
            );
        }
        // Exactly once: the markers come right after the last number, nothing between.
        assert_eq!(next_text(client).await, "end", "client {i}");
        assert_eq!(next_text(client).await, "end 2", "client {i}");
    }
    for node in [&b, &c] {
        let m = node.metrics();
        assert_eq!(m.backplane_missed, 0);
        assert_eq!(m.backplane_received, N as u64 + 2);
    }
    // A's own publications came back from Redis and were skipped, not delivered twice.
    let m = a.metrics();
    assert_eq!(m.backplane_published, N as u64 + 2);
    assert_eq!(m.backplane_received, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_messages_and_user_keys_cross_nodes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let c = Node::start(&redis).await;
    let (mut on_b, id_b) = b.member("x", None).await;
    let (mut alice, _) = c.member("y", Some("alice")).await;
    assert_eq!(id_b.node(), b.hub.node(), "a connection id names its node");
    wait_async("presence has both", || async {
        members_everywhere(&a.hub, "x").await.len() == 1
            && members_everywhere(&a.hub, "y").await.len() == 1
    })
    .await;

    assert!(a.hub.send(id_b, "for b only"), "handed to the backplane");
    assert_eq!(a.hub.send_to_key("alice", "for alice"), 0, "nobody local");
    assert_eq!(next_text(&mut on_b).await, "for b only");
    assert_eq!(next_text(&mut alice).await, "for alice");

    // Nothing else arrives: the personal message went to B's connection only.
    a.hub.broadcast_text("to everyone");
    assert_eq!(next_text(&mut on_b).await, "to everyone");
    assert_eq!(next_text(&mut alice).await, "to everyone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_cluster_wide_and_a_killed_node_leaves_it_in_time() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let (_on_a, id_a) = a.member("lobby", None).await;
    let (on_b, id_b) = b.member("lobby", None).await;

    // Node C runs in a runtime of its own, so that it can be killed outright.
    let (addr_c, node_c) = KillableNode::start(&redis.url()).await;
    let (on_c1, id_c1) = member_at(addr_c, "lobby", None).await;
    let (on_c2, id_c2) = member_at(addr_c, "lobby", None).await;

    let mut everyone = vec![id_a, id_b, id_c1, id_c2];
    everyone.sort();
    wait_async("A and B both see all four", || async {
        members_everywhere(&a.hub, "lobby").await == everyone
            && members_everywhere(&b.hub, "lobby").await == everyone
    })
    .await;

    // A clean leave is seen at once (B's client goes away).
    drop(on_b);
    let mut without_b = vec![id_a, id_c1, id_c2];
    without_b.sort();
    wait_async("B's member left", || async {
        members_everywhere(&a.hub, "lobby").await == without_b
    })
    .await;

    let killed = Instant::now();
    node_c.kill();
    wait_async("C's members vanish", || async {
        members_everywhere(&a.hub, "lobby").await == vec![id_a]
    })
    .await;
    let vanished = killed.elapsed();
    eprintln!(
        "a killed node's members left presence after {vanished:?} (heartbeat 200 ms, expiry 600 ms)"
    );
    assert!(vanished < Duration::from_secs(2), "took {vanished:?}");
    drop((on_c1, on_c2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_resumes_after_redis_restarts_and_losses_are_counted() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let (mut client, id) = b.member("news", None).await;
    let (leaver, _) = b.member("news", None).await;
    wait_async("presence has B's two members", || async {
        members_everywhere(&a.hub, "news").await.len() == 2
    })
    .await;

    // A publishes a numbered message every 5 ms throughout.
    let last_published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (hub, last_published) = (a.hub.clone(), last_published.clone());
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(5));
            for n in 1u64.. {
                ticker.tick().await;
                hub.room("news").broadcast_text(n.to_string());
                last_published.store(n, Ordering::SeqCst);
            }
        })
    };
    let mut received = Vec::new();
    while received.len() < 50 {
        received.push(next_text(&mut client).await.parse::<u64>().unwrap());
    }

    redis.kill();
    let down = Instant::now();
    // Down for two seconds (long enough for the reconnection backoff to reach its
    // ceiling); meanwhile one member leaves, which Redis cannot hear of.
    drop(leaver);
    wait_until("the leaver is gone on B", || {
        b.hub.room("news").count() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let published_while_down = last_published.load(Ordering::SeqCst);

    redis.start_again();
    let up = Instant::now();
    let resumed = loop {
        let n: u64 = next_text(&mut client).await.parse().unwrap();
        received.push(n);
        if n > published_while_down {
            break up.elapsed();
        }
    };
    eprintln!(
        "Redis down {:?}; delivery resumed {resumed:?} after it came back",
        up - down
    );
    assert!(resumed < Duration::from_secs(5), "took {resumed:?}");
    for _ in 0..50 {
        received.push(next_text(&mut client).await.parse().unwrap());
    }
    publisher.abort();

    // Presence was written back to the new, empty Redis, without the member that left
    // during the outage.
    wait_async("presence is restored", || async {
        members_everywhere(&a.hub, "news").await == vec![id]
    })
    .await;

    // In order, never twice; the gap is what the outage cost, and both sides count it.
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats"
    );
    let first = received[0];
    let last = *received.last().unwrap();
    let lost = (last - first + 1) - received.len() as u64;
    assert!(lost > 0, "an outage of {:?} loses messages", up - down);
    let (ma, mb) = (a.metrics(), b.metrics());
    assert!(
        ma.backplane_publish_failed > 0,
        "A counts what it could not publish"
    );
    assert_eq!(mb.backplane_missed, lost, "B counts exactly what it missed");
    eprintln!(
        "lost {lost}: A failed to publish {}, B missed {}",
        ma.backplane_publish_failed, mb.backplane_missed
    );
    drop(client);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_started_before_redis_join_when_it_comes_up() {
    let Some(mut redis) = RedisServer::start() else {
        return;
    };
    redis.kill();
    let start = |redis: &RedisServer| {
        let app = node_app(&redis.url(), Duration::from_millis(200));
        let hub = app.hub();
        async move { (TestServer::start(app).await, hub) }
    };
    let (server_a, hub_a) = start(&redis).await;
    let (server_b, hub_b) = start(&redis).await;
    let (mut client, id) = member_at(server_b.addr, "late", None).await;
    assert!(
        hub_a.room("late").members_everywhere().await.is_err(),
        "presence is unknown"
    );

    redis.start_again();
    wait_async("both nodes subscribed and B's member is listed", || async {
        server_a.metrics().backplane_subscriptions >= 1
            && server_b.metrics().backplane_subscriptions >= 1
            && members_everywhere(&hub_a, "late").await == vec![id]
    })
    .await;
    hub_a.room("late").broadcast_text("you made it");
    assert_eq!(next_text(&mut client).await, "you made it");
    let _ = hub_b;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_shutting_down_leaves_presence_at_once() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    // B's heartbeat would take 30 s to expire: leaving must not wait for it.
    let app = node_app(&redis.url(), Duration::from_secs(10));
    let b = TestServer::start(app).await;
    let (client, id) = member_at(b.addr, "hall", None).await;
    wait_async("A sees B's member", || async {
        members_everywhere(&a.hub, "hall").await == vec![id]
    })
    .await;
    // The client answers the server's 1001, so that the shutdown is quick.
    let mut client = client;
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = client.next().await {} });
    b.handle.shutdown();
    within(b.task).await.unwrap().unwrap();
    let left = Instant::now();
    wait_async("B's member is gone", || async {
        members_everywhere(&a.hub, "hall").await.is_empty()
    })
    .await;
    assert!(
        left.elapsed() < Duration::from_secs(1),
        "took {:?}",
        left.elapsed()
    );
    within(reader).await.unwrap();
}

/// A TCP proxy in front of Redis that can be cut: every open connection through it is
/// dropped and new ones are refused until it is restored. Redis itself keeps running,
/// with its data, so a node behind the proxy loses Redis while the others do not. It
/// can also hold what goes to Redis back a while (a slow link).
struct CutProxy {
    addr: SocketAddr,
    open: Arc<std::sync::atomic::AtomicBool>,
    links: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    async fn start(target: SocketAddr) -> CutProxy {
        CutProxy::slow(target, Duration::ZERO).await
    }

    /// A proxy that holds every chunk bound for Redis back `delay` (in order).
    async fn slow(target: SocketAddr, delay: Duration) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let links = Arc::new(std::sync::Mutex::new(Vec::new()));
        let accept = {
            let (open, links) = (open.clone(), links.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        continue; // dropped: refused while cut
                    }
                    let link = tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        if delay.is_zero() {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let (mut from_node, mut to_node) = inbound.into_split();
                        let (mut from_redis, mut to_redis) = outbound.into_split();
                        let up = async move {
                            let mut chunk = vec![0u8; 16 * 1024];
                            loop {
                                let n = from_node.read(&mut chunk).await?;
                                if n == 0 {
                                    return Ok::<_, std::io::Error>(());
                                }
                                tokio::time::sleep(delay).await; // the slow link
                                to_redis.write_all(&chunk[..n]).await?;
                            }
                        };
                        let down = tokio::io::copy(&mut from_redis, &mut to_node);
                        let _ = tokio::join!(up, down);
                    });
                    links.lock().unwrap().push(link.abort_handle());
                }
            })
        };
        CutProxy {
            addr,
            open,
            links,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_leaves_while_its_node_is_cut_off_leaves_presence_when_it_is_back() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    // B reaches Redis through a proxy that can be cut; Redis keeps its data, and B's
    // heartbeat (10 s, expiry 30 s) outlives the cut, so nothing else would remove the
    // entry of a member that left while B could not tell Redis.
    let target: SocketAddr = redis.url().trim_start_matches("redis://").parse().unwrap();
    let proxy = CutProxy::start(target).await;
    let backplane = RedisBackplane::new(&proxy.url())
        .unwrap()
        .prefix("test")
        .heartbeat(Duration::from_secs(10));
    let app = App::new().route(member).backplane(backplane);
    let b_hub = app.hub();
    let b = TestServer::start(app).await;
    wait_async("B subscribes", || async {
        b.metrics().backplane_subscriptions >= 1
    })
    .await;
    let (stayer, stayer_id) = member_at(b.addr, "desk", None).await;
    let (leaver, leaver_id) = member_at(b.addr, "desk", None).await;
    let mut both = vec![stayer_id, leaver_id];
    both.sort();
    wait_async("A sees B's two members", || async {
        members_everywhere(&a.hub, "desk").await == both
    })
    .await;

    proxy.cut();
    drop(leaver);
    wait_until("the leaver is gone on B", || {
        b_hub.room("desk").count() == 1
    })
    .await;
    // B writes to Redis in order: once a publication made after the leave has failed,
    // so has the leave.
    wait_async("B fails to reach Redis", || async {
        b_hub.room("desk").broadcast_text("probe");
        b.metrics().backplane_publish_failed >= 1
    })
    .await;
    assert_eq!(
        members_everywhere(&a.hub, "desk").await,
        both,
        "Redis (kept running) still lists the leaver while B is cut off"
    );

    proxy.restore();
    wait_async(
        "the leaver is gone from presence once B is back",
        || async { members_everywhere(&a.hub, "desk").await == vec![stayer_id] },
    )
    .await;
    drop(stayer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_receives_only_the_rooms_it_has_members_in() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let c = Node::start(&redis).await;
    let (mut in_r, _) = b.member("r", None).await;
    let (mut in_s, _) = c.member("s", None).await;

    const R: usize = 200;
    const S: usize = 10;
    for n in 0..R {
        a.hub.room("r").broadcast_text(format!("r{n}"));
    }
    for n in 0..S {
        a.hub.room("s").broadcast_text(format!("s{n}"));
    }
    // Published last, on the app-wide channel every node hears: once a node has it,
    // A's earlier publications have all reached that node, or never will.
    a.hub.broadcast_text("marker");
    for n in 0..R {
        assert_eq!(next_text(&mut in_r).await, format!("r{n}"));
    }
    assert_eq!(next_text(&mut in_r).await, "marker");
    for n in 0..S {
        assert_eq!(next_text(&mut in_s).await, format!("s{n}"));
    }
    assert_eq!(next_text(&mut in_s).await, "marker");

    // Each node received its own room's publications and the marker, nothing of the
    // other room's.
    let (mb, mc) = (b.metrics(), c.metrics());
    assert_eq!(
        mb.backplane_received,
        R as u64 + 1,
        "B: room r and the marker"
    );
    assert_eq!(
        mc.backplane_received,
        S as u64 + 1,
        "C: room s and the marker"
    );
    assert_eq!(mb.backplane_missed + mc.backplane_missed, 0);
    assert_eq!(a.metrics().backplane_received, 0, "A has no members");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_awaited_join_receives_the_next_publish_and_the_last_leave_unsubscribes() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let channel = "test:{r:fresh}";
    // B's commands reach Redis 300 ms late: a subscription not waited for would come
    // after A's publish.
    let target: SocketAddr = redis.url().trim_start_matches("redis://").parse().unwrap();
    let proxy = CutProxy::slow(target, Duration::from_millis(300)).await;
    let backplane = RedisBackplane::new(&proxy.url())
        .unwrap()
        .prefix("test")
        .heartbeat(Duration::from_secs(10));
    let app = App::new().route(member).backplane(backplane);
    let b = Node {
        hub: app.hub(),
        server: TestServer::start(app).await,
    };
    b.wait_subscribed().await;
    for round in 0..3 {
        // B's member's handler returns from `synced` before it tells the client its
        // id, so A's next publish reaches it.
        let (mut client, _) = b.member("fresh", None).await;
        a.hub.room("fresh").broadcast_text(format!("first {round}"));
        assert_eq!(next_text(&mut client).await, format!("first {round}"));
        assert_eq!(redis.subscribers(channel), 1, "B only: A has no member");

        // The last member leaves: B unsubscribes, and hears nothing more of the room.
        drop(client);
        wait_async("B unsubscribes from the room", || async {
            redis.subscribers(channel) == 0
        })
        .await;
        let received = b.metrics().backplane_received;
        a.hub.room("fresh").broadcast_text("nobody");
        a.hub.broadcast_text("marker");
        wait_async("B hears the marker", || async {
            b.metrics().backplane_received == received + 1
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_keys_are_subscribed_while_held_and_gaps_are_counted_per_channel() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let (mut ada, _) = b.member("x", Some("ada")).await;
    assert_eq!(redis.subscribers("test:{k:ada}"), 1);
    assert_eq!(redis.subscribers("test:{k:bob}"), 0);
    assert_eq!(a.hub.send_to_key("ada", "one"), 0, "nobody local");
    assert_eq!(a.hub.send_to_key("bob", "lost in the void"), 0);
    assert_eq!(a.hub.send_to_key("ada", "two"), 0);
    assert_eq!(next_text(&mut ada).await, "one");
    assert_eq!(next_text(&mut ada).await, "two");
    // bob's publication was numbered on bob's channel: no gap on ada's.
    let m = b.metrics();
    assert_eq!((m.backplane_received, m.backplane_missed), (2, 0));
    drop(ada);
    wait_async("B unsubscribes from the key", || async {
        redis.subscribers("test:{k:ada}") == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_restarted_with_its_id_is_a_new_numbering_and_its_losses_are_counted() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let b = Node::start(&redis).await;
    let (mut client, _) = b.member("r", None).await;
    let node = |url: String| {
        let backplane = RedisBackplane::new(&url)
            .unwrap()
            .prefix("test")
            .heartbeat(Duration::from_millis(200));
        let config = Config::default().node_id(wsframe::NodeId(42));
        App::new().config(config).route(member).backplane(backplane)
    };

    // Node 42's first life publishes 50 messages.
    let first = node(redis.url());
    let first_hub = first.hub();
    let first_server = TestServer::start(first).await;
    wait_async("the first life reaches Redis", || async {
        first_hub.room("r").members_everywhere().await.is_ok()
    })
    .await;
    for n in 1..=50 {
        first_hub.room("r").broadcast_text(format!("old {n}"));
    }
    for n in 1..=50 {
        assert_eq!(next_text(&mut client).await, format!("old {n}"));
    }
    first_server.handle.shutdown();
    let _ = within(first_server.task).await;

    // Its second life, behind a proxy that can be cut, numbers from 1 again.
    let target: SocketAddr = redis.url().trim_start_matches("redis://").parse().unwrap();
    let proxy = CutProxy::start(target).await;
    let second = node(proxy.url());
    let second_hub = second.hub();
    let second_server = TestServer::start(second).await;
    wait_async("the second life reaches Redis", || async {
        second_hub.room("r").members_everywhere().await.is_ok()
    })
    .await;
    second_hub.room("r").broadcast_text("new");
    // Not dropped as old (it numbers from 1 again), and its first message is no gap
    // (publications made before it reached Redis are not counted either).
    assert_eq!(next_text(&mut client).await, "new");
    assert_eq!(b.metrics().backplane_missed, 0, "a new numbering is no gap");

    // Cut off, it loses what it publishes: numbered, so B counts every one.
    let failed = second_server.metrics().backplane_publish_failed;
    proxy.cut();
    let mut lost = 0u64;
    wait_async("the cut-off node fails to publish", || {
        lost += 1;
        second_hub.room("r").broadcast_text("lost");
        async { second_server.metrics().backplane_publish_failed > failed }
    })
    .await;
    proxy.restore();
    // Published until B hears one (its own subscription may be renewing meanwhile on
    // a busy machine): the first "after" B gets tells how many were published before.
    let mut after = 0u64;
    let mut lost_delivered = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let k: u64 = 'heard: loop {
        assert!(Instant::now() < deadline, "the node never published again");
        after += 1;
        second_hub
            .room("r")
            .broadcast_text(format!("after {after}"));
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_millis(50), client.next()).await
        {
            let WsMessage::Text(text) = message else {
                continue;
            };
            match text.as_str() {
                "new" => {}
                // Published as the cut began, and through before it.
                "lost" => lost_delivered += 1,
                text => break 'heard text.strip_prefix("after ").unwrap().parse().unwrap(),
            }
        }
    };
    assert_eq!(
        b.metrics().backplane_missed,
        lost - lost_delivered + k - 1,
        "every lost publication is counted, once"
    );
}

#[allow(dead_code)]
#[path = "../examples/scale_out.rs"]
mod scale_out_example;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scale_out_example_serves_what_each_node_received_at_metrics() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let node = || wsframe::testing::TestClient::new(scale_out_example::app(&redis.url()).unwrap());
    let (one, two) = (node().unwrap(), node().unwrap());
    let received = |text: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix("wsframe_backplane_received_total "))
            .unwrap_or_else(|| panic!("no wsframe_backplane_received_total in {text}"))
            .parse()
            .unwrap()
    };
    let metrics = two.get("/metrics").await.unwrap();
    assert_eq!(metrics.status.as_u16(), 200);
    assert_eq!(received(&metrics.text()), 0);

    let mut ada = one.connect("/ws/1").await.unwrap();
    let mut bob = two.connect("/ws/2").await.unwrap();
    wait_async("both nodes are subscribed to the lobby", || async {
        redis.subscribers("chat:{r:lobby}") == 2
    })
    .await;
    ada.send_text("hello from node one").await.unwrap();
    assert_eq!(
        ada.receive_text().await.unwrap(),
        "Client #1: hello from node one"
    );
    assert_eq!(
        bob.receive_text().await.unwrap(),
        "Client #1: hello from node one"
    );
    assert_eq!(received(&two.get("/metrics").await.unwrap().text()), 1);
}

/// Presence events (connection and user ones) collected by a listener.
struct Heard {
    events: wsframe::PresenceEvents,
    users: wsframe::UserPresenceEvents,
    seen: Vec<Presence>,
    seen_users: Vec<UserPresence>,
}

impl Heard {
    fn listen(hub: &Hub, room: &str) -> Heard {
        let room = hub.room(room);
        Heard {
            events: room.presence(),
            users: room.user_presence(),
            seen: Vec::new(),
            seen_users: Vec::new(),
        }
    }

    /// Collect connection events until `done` holds for what was heard.
    async fn until(&mut self, what: &str, done: impl Fn(&[Presence]) -> bool) {
        while !done(&self.seen) {
            match tokio::time::timeout(Duration::from_secs(10), self.events.recv()).await {
                Ok(Ok(event)) => self.seen.push(event),
                other => panic!("waiting until {what}: {other:?}; heard {:?}", self.seen),
            }
        }
    }

    /// Collect user events until `done` holds.
    async fn users_until(&mut self, what: &str, done: impl Fn(&[UserPresence]) -> bool) {
        while !done(&self.seen_users) {
            match tokio::time::timeout(Duration::from_secs(10), self.users.recv()).await {
                Ok(Ok(event)) => self.seen_users.push(event),
                other => panic!(
                    "waiting until {what}: {other:?}; heard {:?}",
                    self.seen_users
                ),
            }
        }
    }

    /// How many times `id` was heard joining and leaving.
    fn count(&self, id: ConnectionId) -> (usize, usize) {
        let joined = self
            .seen
            .iter()
            .filter(|e| matches!(e, Presence::Joined { id: i, .. } if *i == id))
            .count();
        let left = self
            .seen
            .iter()
            .filter(|e| matches!(e, Presence::Left { id: i, .. } if *i == id))
            .count();
        (joined, left)
    }
}

fn joined(id: ConnectionId) -> impl Fn(&[Presence]) -> bool {
    move |seen| {
        seen.iter()
            .any(|e| matches!(e, Presence::Joined { id: i, .. } if *i == id))
    }
}

fn left(id: ConnectionId) -> impl Fn(&[Presence]) -> bool {
    move |seen| {
        seen.iter()
            .any(|e| matches!(e, Presence::Left { id: i, .. } if *i == id))
    }
}

fn user(joined: bool, key: &str) -> UserPresence {
    if joined {
        UserPresence::Joined { key: key.into() }
    } else {
        UserPresence::Left { key: key.into() }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_is_heard_from_every_node_once_per_listener_and_users_leave_with_their_last_device()
 {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let b = Node::start(&redis).await;
    let c = Node::start(&redis).await;
    // Listeners on A (no members there) and B; subscribed once `synced` returns.
    let mut on_a = Heard::listen(&a.hub, "p");
    let mut on_b = Heard::listen(&b.hub, "p");
    a.hub.synced().await.unwrap();
    b.hub.synced().await.unwrap();

    // ada on two devices (C and B), a guest on B.
    let (phone, phone_id) = c.member("p", Some("ada")).await;
    let (guest, guest_id) = b.member("p", None).await;
    let (laptop, laptop_id) = b.member("p", Some("ada")).await;
    assert_eq!(a.hub.room("p").count_everywhere().await.unwrap(), 3);
    assert_eq!(a.hub.room("p").count(), 0, "count() is this node's");
    drop((phone, guest));
    wait_until("C's phone and B's guest left", || {
        c.hub.room("p").count() == 0 && b.hub.room("p").count() == 1
    })
    .await;
    drop(laptop);
    wait_until("B's laptop left", || b.hub.room("p").count() == 0).await;

    for heard in [&mut on_a, &mut on_b] {
        heard
            .until("every join and leave is heard", |seen| {
                [phone_id, guest_id, laptop_id]
                    .iter()
                    .all(|id| left(*id)(seen) && joined(*id)(seen))
            })
            .await;
        heard
            .users_until("ada left with her last device", |seen| {
                seen.contains(&user(false, "ada"))
            })
            .await;
    }
    // A marker from each node: what each published before it has been heard.
    let (_mark_b, mark_b) = b.member("p", Some("mark-b")).await;
    let (_mark_c, mark_c) = c.member("p", Some("mark-c")).await;
    for heard in [&mut on_a, &mut on_b] {
        heard
            .until("both markers", |seen| {
                joined(mark_b)(seen) && joined(mark_c)(seen)
            })
            .await;
        for id in [phone_id, guest_id, laptop_id] {
            assert_eq!(
                heard.count(id),
                (1, 1),
                "{id} heard once each way: {:?}",
                heard.seen
            );
        }
        heard
            .users_until("the markers", |seen| seen.contains(&user(true, "mark-c")))
            .await;
        // ada joined with her first device and left with her last, once each.
        let ada: Vec<&UserPresence> = heard
            .seen_users
            .iter()
            .filter(|e| matches!(e, UserPresence::Joined { key } | UserPresence::Left { key } if key.as_str() == "ada"))
            .collect();
        assert_eq!(ada, [&user(true, "ada"), &user(false, "ada")]);
    }
    // Per origin, in order: C's phone joined before it left.
    let phone_events: Vec<bool> = on_a
        .seen
        .iter()
        .filter_map(|e| match e {
            Presence::Joined { id, .. } if *id == phone_id => Some(true),
            Presence::Left { id, .. } if *id == phone_id => Some(false),
            _ => None,
        })
        .collect();
    assert_eq!(phone_events, [true, false]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_nodes_members_are_heard_leaving_once_after_its_heartbeat_expires() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let a = Node::start(&redis).await;
    let mut heard = Heard::listen(&a.hub, "lobby");
    a.hub.synced().await.unwrap();

    // Node C in a runtime of its own, killed outright.
    let (addr_c, node_c) = KillableNode::start(&redis.url()).await;
    let (c1, id_c1) = member_at(addr_c, "lobby", Some("cy")).await;
    let (c2, id_c2) = member_at(addr_c, "lobby", Some("cy")).await;
    heard
        .until("C's members are heard joining", |seen| {
            joined(id_c1)(seen) && joined(id_c2)(seen)
        })
        .await;

    let killed = Instant::now();
    node_c.kill();
    // Every node with listeners checks, at each of its heartbeats, the heartbeats of
    // the nodes whose members it lists: C's expire 600 ms after its last.
    heard
        .until("C's members are heard leaving", |seen| {
            left(id_c1)(seen) && left(id_c2)(seen)
        })
        .await;
    let after = killed.elapsed();
    heard
        .users_until("cy left", |seen| seen.contains(&user(false, "cy")))
        .await;
    eprintln!("a killed node's members were heard leaving after {after:?} (heartbeat 200 ms)");
    assert!(after < Duration::from_secs(3), "took {after:?}");
    // Once each: a member of A's joins and is the next event heard.
    let (_own, own_id) = a.member("lobby", None).await;
    heard.until("A's own member", joined(own_id)).await;
    assert_eq!(heard.count(id_c1), (1, 1));
    assert_eq!(heard.count(id_c2), (1, 1));
    assert_eq!(heard.seen.len(), 5, "{:?}", heard.seen);
    drop((c1, c2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_converges_within_a_heartbeat_after_a_cut_heals() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let heartbeat = Duration::from_millis(200);
    let a = Node::start(&redis).await;
    // B reaches Redis through a proxy that can be cut.
    let target: SocketAddr = redis.url().trim_start_matches("redis://").parse().unwrap();
    let proxy = CutProxy::start(target).await;
    let backplane = RedisBackplane::new(&proxy.url())
        .unwrap()
        .prefix("test")
        .heartbeat(heartbeat);
    let app = App::new().route(member).backplane(backplane);
    let b = Node {
        hub: app.hub(),
        server: TestServer::start(app).await,
    };
    b.wait_subscribed().await;
    let mut on_a = Heard::listen(&a.hub, "hall");
    let mut on_b = Heard::listen(&b.hub, "hall");
    a.hub.synced().await.unwrap();
    b.hub.synced().await.unwrap();
    let (bob, bob_id) = b.member("hall", Some("bob")).await;
    let (ann, ann_id) = a.member("hall", Some("ann")).await;
    on_a.until("bob joined", joined(bob_id)).await;
    on_b.until("ann joined", joined(ann_id)).await;

    proxy.cut();
    // Cut off, B's heartbeat expires: A hears bob leave.
    on_a.until("bob is gone with B's heartbeat", left(bob_id))
        .await;
    // Meanwhile on A: ann leaves, amy joins; B hears nothing of it.
    drop(ann);
    wait_until("ann left A", || a.hub.room("hall").count() == 0).await;
    let (_amy, amy_id) = a.member("hall", Some("amy")).await;
    assert!(!left(ann_id)(&on_b.seen) && !joined(amy_id)(&on_b.seen));

    proxy.restore();
    let healed = Instant::now();
    on_b.until("B catches up with A's changes", |seen| {
        left(ann_id)(seen) && joined(amy_id)(seen)
    })
    .await;
    on_a.until("bob is back on A", |seen| {
        seen.iter()
            .filter(|e| matches!(e, Presence::Joined { id, .. } if *id == bob_id))
            .count()
            == 2
    })
    .await;
    let converged = healed.elapsed();
    eprintln!("presence converged {converged:?} after the cut healed (heartbeat {heartbeat:?})");
    assert!(converged < heartbeat * 4, "took {converged:?}");
    // Both listeners now agree with Redis.
    let mut everyone = members_everywhere(&a.hub, "hall").await;
    everyone.sort();
    let mut expected = vec![bob_id, amy_id];
    expected.sort();
    assert_eq!(everyone, expected);
    on_b.users_until("bob's view: ann gone, amy here", |seen| {
        seen.contains(&user(false, "ann")) && seen.contains(&user(true, "amy"))
    })
    .await;
    drop(bob);
}

// ---- Redis Cluster: 3 masters with a replica each, sharded pub/sub ----

use wsframe_tests::redis::RedisCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_rooms_keys_and_personal_messages_cross_nodes_by_interest() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let url = cluster.url();
    let a = Node::on(&url).await;
    let b = Node::on(&url).await;
    let c = Node::on(&url).await;
    // One node's URL names a single node of the cluster: it asks the server, and runs
    // in cluster mode all the same.
    let d = Node::on(&format!("redis://127.0.0.1:{}", cluster.ports()[0])).await;
    let (mut on_b, id_b) = b.member("r", None).await;
    let (mut on_c, _) = c.member("r", Some("cy")).await;
    let (mut elsewhere, _) = d.member("s", None).await;
    // Sharded: the room's channel is subscribed on the master of its slot.
    assert_eq!(cluster.shard_subscribers("test:{r:r}"), 2);

    const N: usize = 2_000;
    for n in 0..N {
        a.hub.room("r").broadcast_text(n.to_string());
    }
    a.hub.broadcast_text("end");
    // In order within the room; the app-wide channel lives on another shard, so "end"
    // may come anywhere among them.
    for client in [&mut on_b, &mut on_c] {
        let mut numbers = Vec::new();
        let mut ended = false;
        while numbers.len() < N || !ended {
            match next_text(client).await.as_str() {
                "end" => ended = true,
                n => numbers.push(n.parse::<usize>().unwrap()),
            }
        }
        assert_eq!(numbers, (0..N).collect::<Vec<_>>());
    }
    assert_eq!(next_text(&mut elsewhere).await, "end");
    assert_eq!(b.metrics().backplane_received, N as u64 + 1);
    assert_eq!(b.metrics().backplane_missed, 0);
    // D has no member in room r: it heard the app-wide message only.
    assert_eq!(d.metrics().backplane_received, 1, "nothing of room r");

    assert!(a.hub.send(id_b, "for b only"));
    assert_eq!(a.hub.send_to_key("cy", "for cy"), 0);
    assert_eq!(next_text(&mut on_b).await, "for b only");
    assert_eq!(next_text(&mut on_c).await, "for cy");
    let mut everyone = members_everywhere(&a.hub, "r").await;
    everyone.sort();
    assert_eq!(everyone.len(), 2);
    assert_eq!(a.hub.room("r").count_everywhere().await.unwrap(), 2);

    // Presence from every node, and the last leave unsubscribes.
    let mut heard = Heard::listen(&a.hub, "r");
    a.hub.synced().await.unwrap();
    drop(on_b);
    heard.until("B's member left", left(id_b)).await;
    wait_async("B unsubscribes from the room", || async {
        cluster.shard_subscribers("test:{r:r}") == 2 // C's node, and A's listener
    })
    .await;
}

/// The CRC16 (XMODEM) Redis Cluster hashes keys with, for picking a room whose slot is
/// the first of its master's (the one `redis-cli --cluster reshard` moves first).
fn key_slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = match bytes.iter().position(|b| *b == b'{') {
        Some(open) => match bytes[open + 1..].iter().position(|b| *b == b'}') {
            Some(len) if len > 0 => &bytes[open + 1..open + 1 + len],
            _ => bytes,
        },
        None => bytes,
    };
    let mut crc: u16 = 0;
    for byte in hashed {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16_384
}

/// Publishes a numbered message to `room` from `hub` every 5 ms until aborted.
fn publisher(hub: Hub, room: &'static str) -> (tokio::task::JoinHandle<()>, Arc<AtomicU64>) {
    let last = Arc::new(AtomicU64::new(0));
    let task = {
        let last = last.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(5));
            for n in 1u64.. {
                ticker.tick().await;
                hub.room(room).broadcast_text(n.to_string());
                last.store(n, Ordering::SeqCst);
            }
        })
    };
    (task, last)
}

/// Read numbers until one above `beyond`; returns them and how long that took.
async fn read_past(client: &mut Client, beyond: u64, received: &mut Vec<u64>) -> Duration {
    let started = Instant::now();
    loop {
        let n: u64 = next_text(client).await.parse().unwrap();
        received.push(n);
        if n > beyond {
            return started.elapsed();
        }
    }
}

/// Every number between the first and the last received either arrived once, in order,
/// or was counted missed by the receiving node.
fn assert_accounted(received: &[u64], missed: u64) {
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "in order, never twice"
    );
    let span = received.last().unwrap() - received[0] + 1;
    assert_eq!(
        missed,
        span - received.len() as u64,
        "delivered + missed = published"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_delivery_resumes_after_a_master_dies_and_losses_are_counted() {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let url = cluster.url();
    let a = Node::on(&url).await;
    let b = Node::on(&url).await;
    let (mut client, _) = b.member("news", None).await;
    let (task, last) = publisher(a.hub.clone(), "news");
    let mut received = Vec::new();
    read_past(&mut client, 50, &mut received).await;

    // The master of the room's slot dies; its replica takes over (node timeout 1 s).
    let master = cluster.master_of("test:{r:news}");
    cluster.kill(master);
    let killed = Instant::now();
    let published_at_kill = last.load(Ordering::SeqCst);
    let resumed = read_past(&mut client, published_at_kill + 1, &mut received).await;
    let since_kill = killed.elapsed();
    eprintln!("a master died: delivery resumed {since_kill:?} after the kill");
    assert!(since_kill < Duration::from_secs(5), "took {since_kill:?}");
    let _ = resumed;
    let beyond = last.load(Ordering::SeqCst);
    read_past(&mut client, beyond + 20, &mut received).await;
    task.abort();
    assert_accounted(&received, b.metrics().backplane_missed);
    eprintln!(
        "{} received, {} missed across the failover",
        received.len(),
        b.metrics().backplane_missed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_delivery_goes_on_while_the_rooms_slot_is_resharded() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    // A room whose slot is the first of its master's: reshard moves it first.
    let ports = cluster.ports();
    let nodes = cluster.cli(ports[0], &["CLUSTER", "NODES"]);
    let masters: Vec<(String, u16)> = nodes
        .lines()
        .filter(|line| line.contains("master"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let first = fields.get(8)?.split('-').next()?.parse().ok()?;
            Some((fields[0].to_owned(), first))
        })
        .collect();
    let (from, first_slot) = masters[0].clone();
    let to = masters[1].0.clone();
    let room: &'static str = Box::leak(
        (0..1_000_000)
            .map(|n| format!("room{n}"))
            .find(|room| key_slot(&format!("test:{{r:{room}}}")) == first_slot)
            .expect("a room in the slot")
            .into_boxed_str(),
    );
    let url = cluster.url();
    let a = Node::on(&url).await;
    let b = Node::on(&url).await;
    let (mut client, _) = b.member(room, None).await;
    let (task, last) = publisher(a.hub.clone(), room);
    let mut received = Vec::new();
    read_past(&mut client, 50, &mut received).await;

    let resharded = Command::new("redis-cli")
        .args(["--cluster", "reshard", &format!("127.0.0.1:{}", ports[0])])
        .args(["--cluster-from", &from, "--cluster-to", &to])
        .args(["--cluster-slots", "1", "--cluster-yes"])
        .output()
        .expect("run redis-cli --cluster reshard");
    assert!(
        resharded.status.success(),
        "{}",
        String::from_utf8_lossy(&resharded.stdout)
    );
    let owner = cluster.master_of(&format!("test:{{r:{room}}}"));
    assert_ne!(
        cluster.cli(owner, &["CLUSTER", "MYID"]),
        from,
        "the room's slot moved"
    );
    let moved = last.load(Ordering::SeqCst);
    let resumed = read_past(&mut client, moved + 20, &mut received).await;
    eprintln!("resharded: delivery went on ({resumed:?} to 20 more)");
    task.abort();
    assert_accounted(&received, b.metrics().backplane_missed);
    eprintln!(
        "{} received, {} missed across the reshard",
        received.len(),
        b.metrics().backplane_missed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_cluster_presence_hears_users_across_nodes_and_a_killed_nodes_members_leave() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let url = cluster.url();
    let a = Node::on(&url).await;
    let b = Node::on(&url).await;
    let mut heard = Heard::listen(&a.hub, "lobby");
    a.hub.synced().await.unwrap();
    let (laptop, laptop_id) = b.member("lobby", Some("ada")).await;
    let (addr_c, node_c) = KillableNode::start(&url).await;
    let (_phone, phone_id) = member_at(addr_c, "lobby", Some("ada")).await;
    heard
        .until("both devices", |seen| {
            joined(laptop_id)(seen) && joined(phone_id)(seen)
        })
        .await;
    assert_eq!(a.hub.room("lobby").count_everywhere().await.unwrap(), 2);

    // ada's laptop leaves: she is still here (her phone, on C).
    drop(laptop);
    heard.until("the laptop left", left(laptop_id)).await;
    // C dies: its member leaves once its heartbeat expires, and ada with it.
    node_c.kill();
    heard.until("the phone left with C", left(phone_id)).await;
    heard
        .users_until("ada left with her last device", |seen| {
            seen.contains(&user(false, "ada"))
        })
        .await;
    assert_eq!(heard.seen_users, [user(true, "ada"), user(false, "ada")]);
    assert_eq!(heard.count(laptop_id), (1, 1));
    assert_eq!(heard.count(phone_id), (1, 1));
    wait_async("presence in Redis agrees", || async {
        members_everywhere(&a.hub, "lobby").await.is_empty()
    })
    .await;
}
