//! Scenarios over the chat corpus (bench/corpus/chat.jsonl), each with permessage-deflate
//! offered as a browser offers it (`deflate`) or not offered (`plain`):
//! - `loadgen corpus-echo URL CONNS IN_FLIGHT CORPUS SECS deflate|plain`: like `echo`, the
//!   messages taken from the corpus in turn (each connection from its own starting
//!   point); every echo is inflated and compared with what was sent.
//! - `loadgen corpus-wire URL CORPUS deflate|plain`: one connection sends every corpus
//!   message once, in order, and reads each echo; the bytes on the wire both ways.
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::deflate::{BROWSER_OFFER, Client, load_corpus};
use crate::{connect_from, cpu_seconds, split_ws_url};

/// `deflate` → the browser's offer; `plain` → none.
pub fn offer(arg: &str) -> Option<&'static str> {
    match arg {
        "deflate" => Some(BROWSER_OFFER),
        "plain" => None,
        other => panic!("expected deflate or plain, got {other}"),
    }
}

async fn open(index: usize, url: &str, offer: Option<&str>) -> Client {
    let (server, path) = split_ws_url(url);
    let tcp = connect_from(index, server).await.expect("connect");
    Client::connect(tcp, &server.to_string(), &path, offer)
        .await
        .expect("handshake")
}

pub async fn echo(args: &[String]) {
    assert!(
        args.len() == 8,
        "usage: loadgen corpus-echo URL CONNS IN_FLIGHT CORPUS SECS deflate|plain"
    );
    let url = args[2].clone();
    let conns: usize = args[3].parse().unwrap();
    let in_flight: usize = args[4].parse().unwrap();
    let corpus = Arc::new(load_corpus(&args[5]));
    let secs: u64 = args[6].parse().unwrap();
    let offer = offer(&args[7]);

    let mut clients = Vec::with_capacity(conns);
    for index in 0..conns {
        clients.push(open(index, &url, offer).await);
    }
    let extensions = clients[0].extensions.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let cpu_start = cpu_seconds();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (index, mut client) in clients.into_iter().enumerate() {
        let (stop, corpus) = (stop.clone(), corpus.clone());
        tasks.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new(3).unwrap();
            let mut sent: VecDeque<(Instant, usize)> = VecDeque::with_capacity(in_flight);
            let (mut done, mut mismatched, mut payload_bytes) = (0u64, 0u64, 0u64);
            let mut next = index * 7919;
            let mut received = Vec::with_capacity(4096);
            // Queues the next corpus message, noting when and which.
            let mut feed_next = |client: &mut Client, sent: &mut VecDeque<(Instant, usize)>| {
                let which = next % corpus.len();
                client.feed_text(&corpus[which]).unwrap();
                payload_bytes += corpus[which].len() as u64;
                sent.push_back((Instant::now(), which));
                next += 1;
            };
            for _ in 0..in_flight {
                feed_next(&mut client, &mut sent);
            }
            client.flush().await.unwrap();
            loop {
                let Ok(message) = client.receive(&mut received).await else { break };
                if message.opcode != 0x1 {
                    continue;
                }
                let (at, which) = sent.pop_front().expect("an echo we sent");
                histogram.record(at.elapsed().as_micros() as u64).unwrap();
                if received != corpus[which] {
                    mismatched += 1;
                }
                done += 1;
                if stop.load(Ordering::Relaxed) {
                    if sent.is_empty() {
                        break;
                    }
                    continue;
                }
                feed_next(&mut client, &mut sent);
                client.flush().await.unwrap();
            }
            (done, mismatched, payload_bytes, client.wire_out, client.wire_in, histogram)
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    let elapsed_at_stop = started.elapsed();
    let (mut total, mut mismatched, mut payload, mut wire_out, mut wire_in) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut histogram = Histogram::<u64>::new(3).unwrap();
    for task in tasks {
        let (done, bad, bytes, out, inn, h) = task.await.unwrap();
        total += done;
        mismatched += bad;
        payload += bytes;
        wire_out += out;
        wire_in += inn;
        histogram.add(h).unwrap();
    }
    let cpu = cpu_seconds() - cpu_start;
    println!(
        "{}",
        serde_json::json!({
            "messages": total,
            "mismatched": mismatched,
            "seconds": elapsed_at_stop.as_secs_f64(),
            "msgs_per_sec": total as f64 / elapsed_at_stop.as_secs_f64(),
            "p50_us": histogram.value_at_quantile(0.5),
            "p99_us": histogram.value_at_quantile(0.99),
            "loadgen_cpu_s": cpu,
            "payload_bytes_sent": payload,
            "wire_bytes_out": wire_out,
            "wire_bytes_in": wire_in,
            "extensions": extensions,
        })
    );
}

pub async fn wire(args: &[String]) {
    assert!(args.len() == 5, "usage: loadgen corpus-wire URL CORPUS deflate|plain");
    let corpus = load_corpus(&args[3]);
    let mut client = open(0, &args[2], offer(&args[4])).await;
    let mut received = Vec::with_capacity(4096);
    let (mut compressed_in, mut mismatched) = (0u64, 0u64);
    for message in &corpus {
        client.feed_text(message).unwrap();
        client.flush().await.unwrap();
        let echo = client.receive(&mut received).await.expect("an echo");
        compressed_in += u64::from(echo.compressed);
        mismatched += u64::from(received != *message);
    }
    println!(
        "{}",
        serde_json::json!({
            "messages": corpus.len(),
            "mismatched": mismatched,
            "compressed_in": compressed_in,
            "payload_bytes": corpus.iter().map(Vec::len).sum::<usize>(),
            "wire_bytes_out": client.wire_out,
            "wire_bytes_in": client.wire_in,
            "extensions": client.extensions,
        })
    );
}
