//! The frame reader against tungstenite's (issue 14): any bytes, as a client's stream
//! cut into pieces, are read alike by both, or differ only as a named difference by
//! design allows (`wsframe::fuzzing::differential` panics otherwise).
//!
//! The first three bytes choose the limits and the piece sizes; the rest is the stream.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// A limit from one byte: small ones (0 to 63, 64 to 316: around a control frame's
/// 125), 1 KiB or 64 KiB.
fn limit(byte: u8) -> usize {
    let low = usize::from(byte & 63);
    match byte >> 6 {
        0 => low,
        1 => 64 + low * 4,
        2 => 1024,
        _ => 65_536,
    }
}

fuzz_target!(|bytes: &[u8]| {
    let [frame, message, cut, stream @ ..] = bytes else {
        return;
    };
    // 0: all at once; else two piece sizes, cycled.
    let pieces = match *cut {
        0 => Vec::new(),
        c => vec![usize::from(c & 15) + 1, usize::from(c >> 4) * 7 + 1],
    };
    wsframe::fuzzing::differential(stream, &pieces, limit(*frame), limit(*message));
});
