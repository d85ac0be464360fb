//! Load generator for the echo scenarios (BENCH.md): N connections, K messages in
//! flight on each, fixed-size text messages, for a fixed time. Prints one JSON line:
//! messages echoed, msgs/s, latency p50/p99 (µs, send to echo), and this process's CPU
//! seconds.
//!
//! usage: loadgen echo URL CONNS IN_FLIGHT SIZE SECS
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
