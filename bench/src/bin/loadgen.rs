//! Load generator (BENCH.md). Prints one JSON line with its figures and its own CPU.
//!
//! - `loadgen echo URL CONNS IN_FLIGHT SIZE SECS`: N connections, K messages in flight on
//!   each; msgs/s and latency (send to echo) p50/p99.
//! - `loadgen bcast BASE_URL SUBSCRIBERS RATE SIZE SECS`: SUBSCRIBERS connections to
//!   `BASE_URL/sub`, one publisher on `BASE_URL/pub` sending RATE messages/s carrying
//!   their send time; delivered %, deliveries/s and latency (publish to delivery).
//! - `loadgen handshake HOST:PORT PATH CONCURRENCY SECS`: CONCURRENCY loops each opening a
//!   connection, completing the WebSocket handshake on PATH, and closing it; handshakes/s.
//!   Client sockets bind to 127.0.0.2–127.0.0.17 in turn so that ephemeral ports (and
//!   TIME_WAIT) never run out.
//! - `loadgen idle URL CONNS SECS`: open CONNS connections, exchange one message on each,
//!   print `READY`, hold them SECS seconds (the runner reads the server's RSS meanwhile).
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat[stat.rfind(')').map_or(0, |i| i + 2)..].split(' ').collect();
    let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("bcast") {
        return bcast(&args).await;
    }
    if args.get(1).map(String::as_str) == Some("idle") {
        return idle(&args).await;
    }
    if args.get(1).map(String::as_str) == Some("handshake") {
        return handshake(&args).await;
    }
    assert!(args.len() == 7 && args[1] == "echo", "usage: loadgen echo URL CONNS IN_FLIGHT SIZE SECS");
    let url = args[2].clone();
    let conns: usize = args[3].parse().unwrap();
    let in_flight: usize = args[4].parse().unwrap();
    let size: usize = args[5].parse().unwrap();
    let secs: u64 = args[6].parse().unwrap();

    let mut sockets = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true).await.expect("connect");
        sockets.push(ws);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let payload = "x".repeat(size);
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let stop = stop.clone();
        let payload = payload.clone();
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            let mut sent: VecDeque<Instant> = VecDeque::with_capacity(in_flight);
            let mut done = 0u64;
            for _ in 0..in_flight {
                sent.push_back(Instant::now());
                ws.feed(Message::text(payload.clone())).await.unwrap();
            }
            ws.flush().await.unwrap();
            while let Some(Ok(message)) = ws.next().await {
                if !message.is_text() {
                    continue;
                }
                let at = sent.pop_front().expect("an echo we sent");
                histogram.record(at.elapsed().as_micros() as u64).unwrap();
                done += 1;
                if stop.load(Ordering::Relaxed) {
                    if sent.is_empty() {
                        break;
                    }
                    continue;
                }
                sent.push_back(Instant::now());
                ws.send(Message::text(payload.clone())).await.unwrap();
            }
            let _ = ws.close(None).await;
            (done, histogram)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed_at_stop = started.elapsed();
    let mut total = 0u64;
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        let (done, h) = task.await.unwrap();
        total += done;
        histogram.add(h).unwrap();
    }
    let cpu = cpu_seconds() - cpu_start;
    println!(
        "{}",
        serde_json::json!({
            "messages": total,
            "seconds": elapsed_at_stop.as_secs_f64(),
            "msgs_per_sec": total as f64 / elapsed_at_stop.as_secs_f64(),
            "p50_us": histogram.value_at_quantile(0.5),
            "p99_us": histogram.value_at_quantile(0.99),
            "loadgen_cpu_s": cpu,
        })
    );
}

fn micros_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

async fn bcast(args: &[String]) {
    assert!(args.len() == 7, "usage: loadgen bcast BASE_URL SUBSCRIBERS RATE SIZE SECS");
    let base = args[2].clone();
    let subscribers: usize = args[3].parse().unwrap();
    let rate: u64 = args[4].parse().unwrap();
    let size: usize = args[5].parse().unwrap();
    let secs: u64 = args[6].parse().unwrap();

    // Latencies go to a few shared histograms (one per shard of subscribers).
    const SHARDS: usize = 64;
    let histograms: Arc<Vec<std::sync::Mutex<Histogram<u64>>>> = Arc::new(
        (0..SHARDS)
            .map(|_| std::sync::Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()))
            .collect(),
    );
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let mut readers = Vec::with_capacity(subscribers);
    for index in 0..subscribers {
        let (histograms, delivered, connected, limit) =
            (histograms.clone(), delivered.clone(), connected.clone(), limit.clone());
        let url = format!("{base}/sub");
        readers.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await.unwrap();
            let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
                .await
                .expect("connect subscriber");
            drop(permit);
            connected.add_permits(1);
            let shard = &histograms[index % SHARDS];
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message {
                    let sent: u64 = text[..16].trim().parse().unwrap_or(0);
                    let latency = micros_now().saturating_sub(sent).max(1);
                    shard.lock().unwrap().record(latency).ok();
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // All subscribers connected (and, give or take a moment, joined).
    let _all = connected.acquire_many(subscribers as u32).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (mut publisher, _) = tokio_tungstenite::connect_async_with_config(format!("{base}/pub"), None, true)
        .await
        .expect("connect publisher");
    // Tell the runner that set-up is over (it measures server CPU from here).
    println!("READY");
    use std::io::Write;
    std::io::stdout().flush().ok();
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let padding = "p".repeat(size.saturating_sub(17));
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        ticker.tick().await;
        publisher
            .send(Message::text(format!("{:>16} {padding}", micros_now())))
            .await
            .expect("publish");
        sent += 1;
    }
    let publishing = started.elapsed();
    let expected = sent * subscribers as u64;
    // Let the backlog drain, up to 15 s.
    let drain_until = Instant::now() + Duration::from_secs(15);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = delivered.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let mut merged = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    for h in histograms.iter() {
        merged.add(&*h.lock().unwrap()).unwrap();
    }
    println!(
        "{}",
        serde_json::json!({
            "sent": sent,
            "expected": expected,
            "delivered": total,
            "delivered_pct": 100.0 * total as f64 / expected.max(1) as f64,
            "seconds": publishing.as_secs_f64(),
            "drain_seconds": elapsed.as_secs_f64(),
            "deliveries_per_sec": total as f64 / elapsed.as_secs_f64(),
            "p50_us": merged.value_at_quantile(0.5),
            "p99_us": merged.value_at_quantile(0.99),
            "loadgen_cpu_s": cpu,
            "messages": total,
        })
    );
    for reader in readers {
        reader.abort();
    }
}

async fn idle(args: &[String]) {
    assert!(args.len() == 5, "usage: loadgen idle URL CONNS SECS");
    let url = args[2].clone();
    let conns: usize = args[3].parse().unwrap();
    let secs: u64 = args[4].parse().unwrap();
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(conns);
    for _ in 0..conns {
        let (url, limit) = (url.clone(), limit.clone());
        tasks.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await.unwrap();
            let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
                .await
                .expect("connect");
            // One echo, so that buffers allocated on first use are counted.
            ws.send(Message::text("x")).await.unwrap();
            let _ = ws.next().await;
            drop(permit);
            ws
        }));
    }
    let mut sockets = Vec::with_capacity(conns);
    for task in tasks {
        sockets.push(task.await.unwrap());
    }
    println!("READY");
    use std::io::Write;
    std::io::stdout().flush().ok();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    println!("{}", serde_json::json!({ "connections": sockets.len() }));
}

async fn handshake(args: &[String]) {
    assert!(args.len() == 6, "usage: loadgen handshake HOST:PORT PATH CONCURRENCY SECS");
    let server: std::net::SocketAddr = args[2].parse().expect("HOST:PORT");
    let path = args[3].clone();
    let concurrency: usize = args[4].parse().unwrap();
    let secs: u64 = args[5].parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut loops = Vec::new();
    for worker in 0..concurrency {
        let (stop, path) = (stop.clone(), path.clone());
        loops.push(tokio::spawn(async move {
            let (mut done, mut failed) = (0u64, 0u64);
            let mut n = worker;
            while !stop.load(Ordering::Relaxed) {
                n += concurrency;
                let source = std::net::SocketAddr::from(([127, 0, 0, 2 + (n % 16) as u8], 0));
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                let ok = async {
                    socket.bind(source).ok()?;
                    let tcp = socket.connect(server).await.ok()?;
                    tcp.set_nodelay(true).ok()?;
                    let url = format!("ws://{server}{path}");
                    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.ok()?;
                    ws.close(None).await.ok()?;
                    // Wait for the server's close and its end of TCP.
                    while let Some(Ok(_)) = ws.next().await {}
                    Some(())
                }
                .await;
                if ok.is_some() { done += 1 } else { failed += 1 }
            }
            (done, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut done, mut failed) = (0, 0);
    for task in loops {
        let (d, f) = task.await.unwrap();
        done += d;
        failed += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "handshakes": done,
            "failed": failed,
            "seconds": elapsed,
            "handshakes_per_sec": done as f64 / elapsed,
            "loadgen_cpu_s": cpu_seconds() - cpu_start,
            "messages": done,
        })
    );
}
