//! A connection whose handler has dropped its handle (or only its receiving half) must
//! stay served — pings answered, the close delivered when the handler ends — without
//! the driver spinning. Its own test binary, so the process CPU time it reads is its own.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::{App, State, WebSocket};
use wsframe_tests::*;

type Release = std::sync::Arc<tokio::sync::Mutex<Option<oneshot::Receiver<()>>>>;

/// Process CPU time (user + system) from /proc/self/stat, in clock ticks (10 ms).
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after_comm.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

async fn drops_everything(mut ws: WebSocket, State(release): State<Release>) {
    ws.accept().await.unwrap();
    drop(ws);
    let rx = release.lock().await.take().unwrap();
    let _ = rx.await;
}

async fn drops_receiver(ws: WebSocket, State(release): State<Release>) -> wsframe::Result<()> {
    let (sender, receiver) = ws.split();
    drop(receiver);
    sender.send_text("sender still works").await?;
    let rx = release.lock().await.take().unwrap();
    let _ = rx.await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_handles_do_not_spin_the_driver() {
    for route in ["/drops-everything", "/drops-receiver"] {
        let (release_tx, release_rx) = oneshot::channel();
        let release: Release = std::sync::Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
        let app = App::new()
            .state(release)
            .websocket("/drops-everything", drops_everything)
            .websocket("/drops-receiver", drops_receiver);
        let server = TestServer::start(app).await;
        let mut ws = connect(server.addr, route).await;
        if route == "/drops-receiver" {
            assert_eq!(
                within(ws.next()).await.unwrap().unwrap(),
                WsMessage::text("sender still works")
            );
        }
        let (ticks, wall) = (cpu_ticks(), Instant::now());
        // Data nobody reads, then a ping that must still be answered.
        for i in 0..50 {
            ws.send(WsMessage::text(format!("unread {i}")))
                .await
                .unwrap();
        }
        ws.send(WsMessage::Ping(b"p".to_vec().into()))
            .await
            .unwrap();
        loop {
            match within(ws.next()).await.unwrap().unwrap() {
                WsMessage::Pong(p) if &p[..] == b"p" => break,
                _ => continue,
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let used_ms = (cpu_ticks() - ticks) * 10;
        let wall_ms = wall.elapsed().as_millis() as u64;
        assert!(
            used_ms * 4 < wall_ms,
            "{route}: {used_ms} ms of CPU in {wall_ms} ms: the driver spins"
        );
        // The handler's end closes the connection normally.
        release_tx.send(()).unwrap();
        assert_eq!(
            read_until_close(&mut ws).await.1.map(|c| c.0),
            Some(1000),
            "{route}"
        );
    }
}
