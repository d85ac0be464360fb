//! The frame reader with permessage-deflate negotiated (issue 15): any bytes, as a
//! client's stream cut into pieces, never make it panic, never deliver a message over
//! the limit, and read the same however the stream is cut.
//!
//! The first three bytes choose the limit, the offer (the client's window, whether it
//! keeps its context) and the piece sizes; the rest is the stream.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsframe::fuzzing::{Event, read_deflate};

fuzz_target!(|bytes: &[u8]| {
    let [limit, offer, cut, stream @ ..] = bytes else {
        return;
    };
    let limit = match limit >> 6 {
        0 => usize::from(limit & 63),
        1 => 1024,
        2 => 16 << 10,
        _ => 1 << 20,
    };
    let window = 8 + (offer & 7);
    let offer = if offer & 8 != 0 {
        format!("permessage-deflate; client_max_window_bits={window}; client_no_context_takeover")
    } else {
        format!("permessage-deflate; client_max_window_bits={window}")
    };
    let pieces = match *cut {
        0 => Vec::new(),
        c => vec![usize::from(c & 15) + 1, usize::from(c >> 4) * 7 + 1],
    };
    let whole = read_deflate(stream, &[], limit, limit, &offer);
    for event in &whole.events {
        if let Event::Text(data) | Event::Binary(data) = event {
            assert!(data.len() <= limit, "a message of {} bytes over {limit}", data.len());
        }
    }
    let cut = read_deflate(stream, &pieces, limit, limit, &offer);
    assert_eq!(whole.events, cut.events, "the cuts changed what was read");
    assert_eq!(whole.outcome, cut.outcome, "the cuts changed how it stopped");
});
