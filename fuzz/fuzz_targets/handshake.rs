//! The handshake request handling: method, version, headers and Origin checks, and what
//! guards read (query, cookies, subprotocols, the client address behind a proxy).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], &str, Vec<(&[u8], &[u8])>, bool)| {
    let (method, uri, headers, http2) = input;
    wsframe::fuzzing::handshake(method, uri, &headers, http2);
});
