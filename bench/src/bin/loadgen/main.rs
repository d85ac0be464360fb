//! Load generator (BENCH.md). Prints one JSON line with its figures and its own CPU.
//!
//! - `loadgen echo URL CONNS IN_FLIGHT SIZE SECS`: N connections, K messages in flight on
//!   each; msgs/s and latency (send to echo) p50/p99.
//! - `loadgen bcast BASE_URL SUBSCRIBERS RATE SIZE SECS [SUB_URLS]`: SUBSCRIBERS
//!   connections to `BASE_URL/sub` (or spread over the comma-separated SUB_URLS, e.g.
//!   other nodes of a cluster), one publisher on `BASE_URL/pub` sending RATE messages/s
//!   carrying their send time; delivered %, deliveries/s and latency (publish to
//!   delivery). The
//!   subscribers are lean so that the load generator is not what limits the figures: a
//!   handshake written by hand on a raw TCP stream, then server frames parsed in place
//!   from one 64 KiB read buffer per subscriber (nothing allocated per frame).
//! - `loadgen handshake HOST:PORT PATH CONCURRENCY SECS`: CONCURRENCY loops each opening a
//!   connection, completing the WebSocket handshake on PATH, and closing it; handshakes/s.
//!   Client sockets bind to 127.0.0.2–127.0.0.17 in turn so that ephemeral ports (and
//!   TIME_WAIT) never run out.
//! - `loadgen idle URL CONNS SECS`: open CONNS connections, exchange one message on each,
//!   print `READY`, hold them SECS seconds (the runner reads the server's RSS meanwhile).
//! - `loadgen conns URL CONNS SECS PING_SECS`: open CONNS connections (256 at a time,
//!   client addresses spread over 127.0.0.2–17), one echo on each, print `READY`, hold
//!   them SECS seconds while each sends a Ping every PING_SECS seconds (spread over the
//!   period) and counts the Pongs; opened, still open at the end, pings, pongs, failures.
//! - `loadgen bcast-corpus BASE_URL SUBSCRIBERS RATE CORPUS SECS SAMPLE_EVERY deflate|plain`:
//!   like `bcast`, each message a corpus message with its send time as its first field
//!   (`{"ts":…,`); subscribers offer permessage-deflate as a browser does (`deflate`) or
//!   not (`plain`). Every subscriber counts what it receives; one in SAMPLE_EVERY reads the
//!   send times, inflating the compressed messages.
//! - `idle` and `conns` take an optional last argument, a corpus: each connection then
//!   negotiates permessage-deflate as a browser does, and its one echo is a corpus message,
//!   compressed both ways.
//! - `corpus-echo` and `corpus-wire`: see corpus.rs.
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

mod corpus;
mod deflate;
mod rooms;

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
    if args.get(1).map(String::as_str) == Some("conns") {
        return conns(&args).await;
    }
    if args.get(1).map(String::as_str) == Some("bcast-corpus") {
        return bcast_corpus(&args).await;
    }
    if args.get(1).map(String::as_str) == Some("corpus-echo") {
        return corpus::echo(&args).await;
    }
    if args.get(1).map(String::as_str) == Some("corpus-wire") {
        return corpus::wire(&args).await;
    }
    if args.get(1).map(String::as_str) == Some("rooms") {
        return rooms::run(&args).await;
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
    assert!(
        args.len() == 7 || args.len() == 8,
        "usage: loadgen bcast BASE_URL SUBSCRIBERS RATE SIZE SECS [SUB_URL,SUB_URL...]"
    );
    let base = args[2].clone();
    // Subscribers may connect elsewhere (other nodes), spread round-robin.
    let sub_bases: Vec<String> = match args.get(7) {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => vec![base.clone()],
    };
    let size: usize = args[5].parse().unwrap();
    bcast_run(Bcast {
        base,
        sub_bases,
        subscribers: args[3].parse().unwrap(),
        rate: args[4].parse().unwrap(),
        secs: args[6].parse().unwrap(),
        payload: Payload::Padded(size),
        offer: None,
        sample_every: 1,
    })
    .await
}

async fn bcast_corpus(args: &[String]) {
    assert!(
        args.len() == 9,
        "usage: loadgen bcast-corpus BASE_URL SUBSCRIBERS RATE CORPUS SECS SAMPLE_EVERY deflate|plain"
    );
    bcast_run(Bcast {
        base: args[2].clone(),
        sub_bases: vec![args[2].clone()],
        subscribers: args[3].parse().unwrap(),
        rate: args[4].parse().unwrap(),
        secs: args[6].parse().unwrap(),
        payload: Payload::Corpus(deflate::load_corpus(&args[5])),
        offer: corpus::offer(&args[8]),
        sample_every: args[7].parse::<usize>().unwrap().max(1),
    })
    .await
}

/// What a broadcast carries after its send time.
enum Payload {
    /// The send time right-aligned in 16 bytes, then padding up to this size.
    Padded(usize),
    /// `{"ts":SEND_TIME,` then a corpus message without its `{`, the messages in turn.
    Corpus(Vec<Vec<u8>>),
}

struct Bcast {
    base: String,
    sub_bases: Vec<String>,
    subscribers: usize,
    rate: u64,
    secs: u64,
    payload: Payload,
    offer: Option<&'static str>,
    /// One subscriber in this many reads send times (inflating if need be).
    sample_every: usize,
}

async fn bcast_run(spec: Bcast) {
    let Bcast { base, sub_bases, subscribers, rate, secs, payload, offer, sample_every } = spec;

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
    let targets: Vec<(std::net::SocketAddr, String)> = sub_bases
        .iter()
        .map(|b| {
            let (server, base_path) = split_ws_url(b);
            (server, format!("{base_path}/sub"))
        })
        .collect();
    let mut readers = Vec::with_capacity(subscribers);
    let extensions = Arc::new(std::sync::Mutex::new(None::<String>));
    for index in 0..subscribers {
        let (histograms, delivered, connected, limit, extensions) =
            (histograms.clone(), delivered.clone(), connected.clone(), limit.clone(), extensions.clone());
        let (server, path) = targets[index % targets.len()].clone();
        let host = server.to_string();
        readers.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await.unwrap();
            let subscribed = async {
                let tcp = connect_from(index, server).await?;
                deflate::handshake(tcp, &host, &path, offer, LEAN_READ).await
            }
            .await;
            let (tcp, buf, filled, answer) = match subscribed {
                Ok(subscribed) => subscribed,
                Err(error) => {
                    eprintln!("subscriber {index}: {error}");
                    std::process::exit(1);
                }
            };
            drop(permit);
            let agreed = deflate::Agreed::parse(&answer);
            extensions.lock().unwrap().get_or_insert(answer);
            let reading = match (index % sample_every == 0, agreed) {
                (false, _) => Reading::Count,
                (true, agreed) => Reading::Timestamps(agreed.as_ref().map(deflate::Inflater::new)),
            };
            connected.add_permits(1);
            let _ = lean_subscriber(tcp, buf, filled, reading, &histograms[index % SHARDS], &delivered).await;
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
    let padding = match &payload {
        Payload::Padded(size) => "p".repeat(size.saturating_sub(17)),
        Payload::Corpus(_) => String::new(),
    };
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        ticker.tick().await;
        let text = match &payload {
            Payload::Padded(_) => format!("{:>16} {padding}", micros_now()),
            Payload::Corpus(messages) => {
                let message = &messages[sent as usize % messages.len()];
                let rest = std::str::from_utf8(&message[1..]).expect("a UTF-8 corpus");
                format!("{{\"ts\":{},{rest}", micros_now())
            }
        };
        publisher.send(Message::text(text)).await.expect("publish");
        sent += 1;
    }
    let publishing = started.elapsed();
    let expected = sent * subscribers as u64;
    let total = drain(&delivered, expected).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let merged = merge(&histograms);
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
            "extensions": extensions.lock().unwrap().clone().unwrap_or_default(),
            "sampled_subscribers": subscribers.div_ceil(sample_every),
        })
    );
    for reader in readers {
        reader.abort();
    }
}

/// Let the backlog drain (up to 15 s) until `expected` messages were delivered; how
/// many were.
async fn drain(delivered: &std::sync::atomic::AtomicU64, expected: u64) -> u64 {
    let drain_until = Instant::now() + Duration::from_secs(15);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delivered.load(Ordering::Relaxed)
}

/// The subscribers' latency histograms as one.
fn merge(histograms: &[std::sync::Mutex<Histogram<u64>>]) -> Histogram<u64> {
    let mut merged = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).unwrap();
    for h in histograms {
        merged.add(&*h.lock().unwrap()).unwrap();
    }
    merged
}

/// `ws://HOST:PORT/PATH` to the server's address and the path (may be empty).
fn split_ws_url(url: &str) -> (std::net::SocketAddr, String) {
    let rest = url.strip_prefix("ws://").expect("a ws:// URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let server = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .expect("HOST:PORT in the URL");
    (server, path.to_string())
}

/// A TCP connection to `server` from 127.0.0.(2 + n % 16), so that 16 × the ephemeral
/// port range is available (and TIME_WAIT of earlier runs does not exhaust it).
async fn connect_from(n: usize, server: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let source = std::net::SocketAddr::from(([127, 0, 0, 2 + (n % 16) as u8], 0));
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(source)?;
    let tcp = socket.connect(server).await?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Read buffer of a lean subscriber: one read takes whatever the server has sent, up to
/// this much.
const LEAN_READ: usize = 64 * 1024;

/// The first run of digits near the start of a broadcast payload (after the padding
/// spaces, or after `{"ts":`): its send time in µs.
fn sent_micros(payload: &[u8]) -> u64 {
    payload[..payload.len().min(32)]
        .iter()
        .skip_while(|b| !b.is_ascii_digit())
        .take_while(|b| b.is_ascii_digit())
        .fold(0u64, |v, b| v * 10 + u64::from(b - b'0'))
}

/// What a lean subscriber does with a text message.
enum Reading {
    /// Counts it.
    Count,
    /// Counts it and records its latency, inflating it first if it came compressed.
    Timestamps(Option<deflate::Inflater>),
}

/// Reads server frames (unmasked) straight from `buf`: text frames carry their send time
/// and are counted (and timed, as `reading` says); Ping is answered with a masked Pong;
/// Close or EOF ends. Latencies of one read are recorded under one lock of the shard.
async fn lean_subscriber(
    mut tcp: tokio::net::TcpStream,
    mut buf: Vec<u8>,
    mut filled: usize,
    mut reading: Reading,
    shard: &std::sync::Mutex<Histogram<u64>>,
    delivered: &std::sync::atomic::AtomicU64,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut start = 0;
    let mut latencies = [0u64; 256];
    let mut inflated = Vec::with_capacity(4096);
    loop {
        let now = micros_now();
        let mut count = 0usize;
        let mut total = 0u64;
        let mut closed = false;
        loop {
            let avail = &buf[start..filled];
            if avail.len() < 2 {
                break;
            }
            let (opcode, compressed, masked) = (avail[0] & 0x0f, avail[0] & 0x40 != 0, avail[1] & 0x80 != 0);
            let (len, mut header) = match avail[1] & 0x7f {
                126 if avail.len() >= 4 => (u16::from_be_bytes([avail[2], avail[3]]) as usize, 4),
                127 if avail.len() >= 10 => (u64::from_be_bytes(avail[2..10].try_into().unwrap()) as usize, 10),
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if masked {
                header += 4; // not sent by servers; skipped unread
            }
            if avail.len() < header + len {
                if header + len > buf.len() {
                    buf.resize(header + len, 0); // a frame larger than the buffer (rare)
                }
                break;
            }
            let payload = &avail[header..header + len];
            let mut pong = None;
            match opcode {
                0x1 => {
                    let sent = match &mut reading {
                        Reading::Count => None,
                        Reading::Timestamps(Some(inflater)) if compressed => {
                            inflater.inflate(payload, &mut inflated)?;
                            Some(sent_micros(&inflated))
                        }
                        Reading::Timestamps(_) => Some(sent_micros(payload)),
                    };
                    if let Some(sent) = sent {
                        latencies[count] = now.saturating_sub(sent).max(1);
                        count += 1;
                    }
                    total += 1;
                }
                0x9 => {
                    // Pong: FIN + opcode, masked length, a mask of zeros (payload as is).
                    let mut frame = [0u8; 2 + 4 + 125];
                    let n = payload.len().min(125);
                    frame[0] = 0x8a;
                    frame[1] = 0x80 | n as u8;
                    frame[6..6 + n].copy_from_slice(&payload[..n]);
                    pong = Some((frame, 6 + n));
                }
                0x8 => closed = true,
                _ => {}
            }
            start += header + len;
            if count == latencies.len() || pong.is_some() || closed {
                record(shard, &latencies[..count]);
                count = 0;
            }
            if let Some((frame, n)) = pong {
                tcp.write_all(&frame[..n]).await?;
            }
            if closed {
                delivered.fetch_add(total, Ordering::Relaxed);
                return Ok(());
            }
        }
        record(shard, &latencies[..count]);
        delivered.fetch_add(total, Ordering::Relaxed);
        // Keep a partial frame, at the front once the buffer's tail runs short.
        if start == filled {
            (start, filled) = (0, 0);
        } else if buf.len() - filled < 4096 || buf.len() - start < buf.len() / 2 {
            buf.copy_within(start..filled, 0);
            (start, filled) = (0, filled - start);
        }
        let n = tcp.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
    }
}

fn record(shard: &std::sync::Mutex<Histogram<u64>>, latencies: &[u64]) {
    if latencies.is_empty() {
        return;
    }
    let mut histogram = shard.lock().unwrap();
    for &latency in latencies {
        histogram.record(latency).ok();
    }
}

async fn idle(args: &[String]) {
    assert!(
        args.len() == 5 || args.len() == 6,
        "usage: loadgen idle URL CONNS SECS [CORPUS]"
    );
    let url = args[2].clone();
    let conns: usize = args[3].parse().unwrap();
    let secs: u64 = args[4].parse().unwrap();
    let corpus = args.get(5).map(|path| Arc::new(deflate::load_corpus(path)));
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(conns);
    for index in 0..conns {
        let (url, limit, corpus) = (url.clone(), limit.clone(), corpus.clone());
        tasks.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await.unwrap();
            // One echo, so that buffers allocated on first use are counted.
            let held = match corpus {
                None => {
                    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(&url, None, true)
                        .await
                        .expect("connect");
                    ws.send(Message::text("x")).await.unwrap();
                    let _ = ws.next().await;
                    Held::Plain(ws)
                }
                Some(corpus) => Held::Deflate(deflate_echo(index, &url, &corpus).await.expect("a deflate echo")),
            };
            drop(permit);
            held
        }));
    }
    let mut sockets = Vec::with_capacity(conns);
    for task in tasks {
        sockets.push(task.await.unwrap());
    }
    let extensions = match sockets.first() {
        Some(Held::Deflate(client)) => client.extensions.clone(),
        _ => String::new(),
    };
    println!("READY");
    use std::io::Write;
    std::io::stdout().flush().ok();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    println!("{}", serde_json::json!({ "connections": sockets.len(), "extensions": extensions }));
}

/// A connection held by `idle`.
enum Held {
    Plain(#[allow(dead_code)] tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>),
    Deflate(deflate::Client),
}

/// Opens connection `index` to `url` with a browser's deflate offer and echoes one corpus
/// message on it, compressed both ways; the echo must come back compressed and intact.
async fn deflate_echo(index: usize, url: &str, corpus: &[Vec<u8>]) -> Result<deflate::Client, String> {
    let (server, path) = split_ws_url(url);
    let tcp = connect_from(index, server).await.map_err(|e| format!("connect: {e}"))?;
    let mut client = deflate::Client::connect(tcp, &server.to_string(), &path, Some(deflate::BROWSER_OFFER))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    if client.agreed.is_none() {
        return Err("permessage-deflate was not negotiated".into());
    }
    let message = &corpus[index % corpus.len()];
    client.feed_text(message).map_err(|e| format!("compress: {e}"))?;
    client.flush().await.map_err(|e| format!("echo: {e}"))?;
    let mut echo = Vec::new();
    let received = client.receive(&mut echo).await.map_err(|e| format!("echo: {e}"))?;
    if !received.compressed || echo != *message {
        return Err(format!("echo: compressed {}, intact {}", received.compressed, echo == *message));
    }
    Ok(client)
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

/// Phases of the `conns` run, told to every connection's task.
#[derive(Clone, Copy, PartialEq)]
enum Hold {
    Connecting,
    /// Holding since this instant: ping every period, the first at an offset by index.
    Pinging(tokio::time::Instant),
    /// No more pings; Pongs still in flight are counted.
    Draining,
    Stop,
}

#[derive(Default)]
struct ConnsCounters {
    opened: std::sync::atomic::AtomicU64,
    failures: std::sync::atomic::AtomicU64,
    pings: std::sync::atomic::AtomicU64,
    pongs: std::sync::atomic::AtomicU64,
    first_error: std::sync::Mutex<Option<String>>,
}

async fn conns(args: &[String]) {
    assert!(
        args.len() == 6 || args.len() == 7,
        "usage: loadgen conns URL CONNS SECS PING_SECS [CORPUS]"
    );
    let url = args[2].clone();
    let corpus = args.get(6).map(|path| Arc::new(deflate::load_corpus(path)));
    let (server, _) = split_ws_url(&url);
    let conns: usize = args[3].parse().unwrap();
    let secs: f64 = args[4].parse().unwrap();
    let period = Duration::from_secs_f64(args[5].parse().unwrap());
    // Small buffers: tungstenite fills its read buffer up to read_buffer_size on every read.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let counters = Arc::new(ConnsCounters::default());
    let (phase_tx, phase_rx) = tokio::sync::watch::channel(Hold::Connecting);
    let settled = Arc::new(tokio::sync::Semaphore::new(0));
    let limit = Arc::new(tokio::sync::Semaphore::new(256));
    let connect_started = Instant::now();
    // Connecting ends after 120 s whatever happens; what has not opened by then failed.
    let connect_deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::with_capacity(conns);
    for index in 0..conns {
        let (url, counters, settled, limit, mut phase, corpus) =
            (url.clone(), counters.clone(), settled.clone(), limit.clone(), phase_rx.clone(), corpus.clone());
        tasks.push(tokio::spawn(async move {
            let permit = limit.acquire_owned().await.unwrap();
            let until = (tokio::time::Instant::now() + Duration::from_secs(15)).min(connect_deadline);
            let opened = tokio::time::timeout_at(until, async {
                if let Some(corpus) = corpus {
                    // Deflate negotiated and one compressed echo; then tungstenite holds the
                    // connection (Ping and Pong are never compressed).
                    let client = deflate_echo(index, &url, &corpus).await?;
                    let tcp = client.into_stream().map_err(|e| format!("echo: {e}"))?;
                    let role = tokio_tungstenite::tungstenite::protocol::Role::Client;
                    return Ok(tokio_tungstenite::WebSocketStream::from_raw_socket(tcp, role, Some(config)).await);
                }
                let tcp = connect_from(index, server).await.map_err(|e| format!("connect: {e}"))?;
                let (mut ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
                    .await
                    .map_err(|e| format!("handshake: {e}"))?;
                ws.send(Message::text("x")).await.map_err(|e| format!("echo: {e}"))?;
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(_))) => break Ok(ws),
                        Some(Ok(_)) => continue,
                        Some(Err(e)) => break Err(format!("echo: {e}")),
                        None => break Err("echo: closed".to_string()),
                    }
                }
            })
            .await
            .unwrap_or_else(|_| Err("timed out".to_string()));
            drop(permit);
            let mut ws = match opened {
                Ok(ws) => {
                    counters.opened.fetch_add(1, Ordering::Relaxed);
                    settled.add_permits(1);
                    ws
                }
                Err(error) => {
                    counters.failures.fetch_add(1, Ordering::Relaxed);
                    counters.first_error.lock().unwrap().get_or_insert(error);
                    settled.add_permits(1);
                    return false;
                }
            };
            // Hold: ping every period, count the matching Pongs; true if open at Stop.
            let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
            let timer = tokio::time::sleep_until(far);
            tokio::pin!(timer);
            let mut pinging = false;
            let mut seq = 0u32;
            let mut awaiting: Option<[u8; 8]> = None;
            loop {
                tokio::select! {
                    message = ws.next() => match message {
                        Some(Ok(Message::Pong(payload))) => {
                            if awaiting.is_some_and(|p| payload[..] == p[..]) {
                                awaiting = None;
                                counters.pongs.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return false,
                    },
                    changed = phase.changed() => {
                        if changed.is_err() {
                            return true;
                        }
                        match *phase.borrow_and_update() {
                            Hold::Connecting => {}
                            Hold::Pinging(since) => {
                                pinging = true;
                                let offset = period.mul_f64(index as f64 / conns as f64);
                                timer.as_mut().reset(since + offset);
                            }
                            Hold::Draining => {
                                pinging = false;
                                timer.as_mut().reset(far);
                            }
                            Hold::Stop => return true,
                        }
                    }
                    () = &mut timer, if pinging => {
                        seq += 1;
                        let mut payload = [0u8; 8];
                        payload[..4].copy_from_slice(&(index as u32).to_be_bytes());
                        payload[4..].copy_from_slice(&seq.to_be_bytes());
                        awaiting = Some(payload);
                        if ws.send(Message::Ping(payload.to_vec().into())).await.is_err() {
                            return false;
                        }
                        counters.pings.fetch_add(1, Ordering::Relaxed);
                        let next = timer.deadline() + period;
                        timer.as_mut().reset(next);
                    }
                }
            }
        }));
    }
    let _all = settled.acquire_many(conns as u32).await.unwrap();
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    println!("READY");
    use std::io::Write;
    std::io::stdout().flush().ok();
    let cpu_start = cpu_seconds();
    let started = tokio::time::Instant::now();
    phase_tx.send_replace(Hold::Pinging(started));
    tokio::time::sleep(Duration::from_secs_f64((secs - 1.0).max(0.0))).await;
    phase_tx.send_replace(Hold::Draining);
    tokio::time::sleep(Duration::from_secs_f64(secs.min(1.0))).await;
    let held = started.elapsed().as_secs_f64();
    phase_tx.send_replace(Hold::Stop);
    let mut open_at_end = 0u64;
    for task in tasks {
        if task.await.unwrap_or(false) {
            open_at_end += 1;
        }
    }
    let cpu = cpu_seconds() - cpu_start;
    let first_error = counters.first_error.lock().unwrap().clone();
    println!(
        "{}",
        serde_json::json!({
            "requested": conns,
            "opened": counters.opened.load(Ordering::Relaxed),
            "open_at_end": open_at_end,
            "pings_sent": counters.pings.load(Ordering::Relaxed),
            "pongs_received": counters.pongs.load(Ordering::Relaxed),
            "connect_failures": counters.failures.load(Ordering::Relaxed),
            "first_error": first_error,
            "connect_seconds": connect_seconds,
            "seconds": held,
            "loadgen_cpu_s": cpu,
        })
    );
    // Close nothing by hand: the process exits and the kernel closes every socket.
    std::process::exit(0);
}
