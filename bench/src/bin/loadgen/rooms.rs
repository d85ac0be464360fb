//! `loadgen rooms`: many rooms across many nodes (the redis-8node scenario). Each room
//! has subscribers on exactly two nodes and its publisher on a third, so that every
//! delivery crosses the backplane and a node is concerned by a quarter of the rooms
//! (with 8 nodes).
//!
//! usage: loadgen rooms NODE_URL,NODE_URL,... ROOMS SUBS_PER_ROOM_PER_NODE RATE_PER_ROOM SIZE SECS

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

use super::{
    LEAN_READ, Reading, connect_from, cpu_seconds, deflate, drain, lean_subscriber, merge, micros_now,
    split_ws_url,
};

/// The two nodes a room's members are on, and its publisher's node (another one).
pub(super) fn placement(room: usize, nodes: usize) -> ([usize; 2], usize) {
    assert!(nodes >= 3, "rooms needs at least 3 nodes");
    let first = room % nodes;
    let second = (first + 1 + (room / nodes) % (nodes - 1)) % nodes;
    let publisher = (0..nodes)
        .map(|k| (second + 1 + k) % nodes)
        .find(|n| *n != first && *n != second)
        .unwrap();
    ([first, second], publisher)
}

pub(super) async fn run(args: &[String]) {
    assert!(
        args.len() == 8,
        "usage: loadgen rooms NODE_URL,NODE_URL,... ROOMS SUBS_PER_ROOM_PER_NODE RATE_PER_ROOM SIZE SECS"
    );
    let nodes: Vec<String> = args[2].split(',').map(str::to_string).collect();
    let rooms: usize = args[3].parse().unwrap();
    let per_node: usize = args[4].parse().unwrap();
    let rate: u64 = args[5].parse().unwrap();
    let size: usize = args[6].parse().unwrap();
    let secs: u64 = args[7].parse().unwrap();

    const SHARDS: usize = 64;
    let histograms: Arc<Vec<std::sync::Mutex<Histogram<u64>>>> = Arc::new(
        (0..SHARDS)
            .map(|_| std::sync::Mutex::new(Histogram::new_with_bounds(1, 600_000_000, 3).unwrap()))
            .collect(),
    );
    let delivered = Arc::new(AtomicU64::new(0));
    let connected = Arc::new(tokio::sync::Semaphore::new(0));
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let subscribers = rooms * 2 * per_node;
    let mut readers = Vec::with_capacity(subscribers);
    for index in 0..subscribers {
        let room = index / (2 * per_node);
        let node = placement(room, nodes.len()).0[(index / per_node) % 2];
        let (server, base_path) = split_ws_url(&nodes[node]);
        let path = format!("{base_path}/sub?room=r{room}");
        let (histograms, delivered, connected, limit) =
            (histograms.clone(), delivered.clone(), connected.clone(), limit.clone());
        readers.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await.unwrap();
            let host = server.to_string();
            let subscribed = async {
                let tcp = connect_from(index, server).await?;
                deflate::handshake(tcp, &host, &path, None, LEAN_READ).await
            }
            .await;
            let (tcp, buf, filled, _) = match subscribed {
                Ok(subscribed) => subscribed,
                Err(error) => {
                    eprintln!("subscriber {index}: {error}");
                    std::process::exit(1);
                }
            };
            drop(permit);
            connected.add_permits(1);
            let shard = &histograms[index % SHARDS];
            let _ = lean_subscriber(tcp, buf, filled, Reading::Timestamps(None), shard, &delivered).await;
        }));
    }
    let _all = connected.acquire_many(subscribers as u32).await.unwrap();
    // Joined, and (on the nodes that subscribe by interest) subscribed: a moment.
    tokio::time::sleep(Duration::from_millis(1000)).await;

    let mut publishers = Vec::with_capacity(rooms);
    for room in 0..rooms {
        let node = placement(room, nodes.len()).1;
        let url = format!("{}/pub?room=r{room}", nodes[node]);
        let (publisher, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .expect("connect publisher");
        publishers.push(publisher);
    }
    println!("READY");
    use std::io::Write;
    std::io::stdout().flush().ok();
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let sent = Arc::new(AtomicU64::new(0));
    let padding = "p".repeat(size.saturating_sub(17));
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut tasks = Vec::with_capacity(rooms);
    for (room, mut publisher) in publishers.into_iter().enumerate() {
        let (sent, padding) = (sent.clone(), padding.clone());
        tasks.push(tokio::spawn(async move {
            // Spread the rooms' ticks over the interval.
            tokio::time::sleep(interval * room as u32 / rooms as u32).await;
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            while started.elapsed() < Duration::from_secs(secs) {
                ticker.tick().await;
                let text = format!("{:>16} {padding}", micros_now());
                publisher.send(Message::text(text)).await.expect("publish");
                sent.fetch_add(1, Ordering::Relaxed);
            }
            publisher
        }));
    }
    let mut publishers = Vec::new();
    for task in tasks {
        publishers.push(task.await.unwrap());
    }
    let publishing = started.elapsed();
    let sent = sent.load(Ordering::Relaxed);
    let expected = sent * 2 * per_node as u64;
    let total = drain(&delivered, expected).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let merged = merge(&histograms);
    println!(
        "{}",
        serde_json::json!({
            "nodes": nodes.len(),
            "rooms": rooms,
            "subscribers": subscribers,
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
        })
    );
    drop(publishers);
    for reader in readers {
        reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::placement;

    #[test]
    fn each_room_is_on_two_nodes_and_published_from_a_third_and_the_nodes_share_evenly() {
        let nodes = 8;
        let mut members = vec![0usize; nodes];
        for room in 0..200 {
            let ([a, b], p) = placement(room, nodes);
            assert!(a != b && p != a && p != b, "room {room}");
            members[a] += 1;
            members[b] += 1;
        }
        // 400 placements over 8 nodes: 50 each.
        assert!(members.iter().all(|m| *m == 50), "{members:?}");
    }
}
