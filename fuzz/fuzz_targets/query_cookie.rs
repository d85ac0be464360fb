//! The query string and the Cookie header of a handshake, as guards read them.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsframe::HandshakeRequest;

fuzz_target!(|input: (&str, &str, &str)| {
    let (query, cookie, name) = input;
    let req = HandshakeRequest::new(&format!("/ws?{query}"));
    let _ = req.query_param(name);
    let _ = req.query();
    // Only values a header can carry reach a guard.
    if http::HeaderValue::from_str(cookie).is_ok() {
        let req = HandshakeRequest::new("/ws").with_header("cookie", cookie);
        let _ = req.cookie(name);
        let _ = req.cookies();
    }
});
