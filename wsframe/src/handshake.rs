//! Validation of WebSocket upgrade requests (RFC 6455 §4.2.1) and the `101` answer.
//!
//! Pure functions over request heads: no I/O, no user code. A bad request gets a status
//! and a short reason that says what was wrong.

use http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::Origins;
use crate::forwarded::Scheme;
use crate::response::{IntoResponse, Response};

/// Whether the request asks to upgrade to WebSocket.
pub(crate) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    crate::header_list::has_token(headers, header::UPGRADE, "websocket")
}

/// Check an upgrade request that arrived with `scheme` (TLS ours or a trusted proxy's),
/// addressed to `forwarded_host` when a trusted proxy stated one (else to its `Host`);
/// returns the `Sec-WebSocket-Key` or the answer to send.
#[allow(clippy::result_large_err)] // cold path: once per refused handshake
pub(crate) fn validate(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
    origins: &Origins,
    scheme: Scheme,
    forwarded_host: Option<&str>,
) -> Result<HeaderValue, Response> {
    if method != Method::GET {
        let mut r = (
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket handshake must use GET",
        )
            .into_response();
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Err(r);
    }
    // Exactly 1.1: a mounted app's host server may speak HTTP/2, where a 101 cannot be sent.
    if version != Version::HTTP_11 {
        return Err(bad("a WebSocket handshake needs HTTP/1.1"));
    }
    if !crate::header_list::has_token(headers, header::CONNECTION, "upgrade") {
        return Err(bad("missing `Connection: Upgrade` header"));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut r = (
            StatusCode::UPGRADE_REQUIRED,
            "unsupported Sec-WebSocket-Version; this server speaks version 13",
        )
            .into_response();
        r.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Err(r);
    }
    let key = match headers
        .get_all(header::SEC_WEBSOCKET_KEY)
        .iter()
        .collect::<Vec<_>>()[..]
    {
        [key] if is_valid_key(key.as_bytes()) => key.clone(),
        [] => return Err(bad("missing Sec-WebSocket-Key header")),
        _ => {
            return Err(bad(
                "invalid Sec-WebSocket-Key header: expected one base64-encoded 16-byte value",
            ));
        }
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = forwarded_host.or_else(|| headers.get(header::HOST)?.to_str().ok());
        let allowed = origin
            .to_str()
            .map(|o| origins.allows_request(o, Some(scheme), host))
            .unwrap_or(false);
        if !allowed {
            return Err((StatusCode::FORBIDDEN, "origin not allowed").into_response());
        }
    }
    Ok(key)
}

fn bad(reason: &'static str) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && data_encoding::BASE64
            .decode(key)
            .is_ok_and(|decoded| decoded.len() == 16)
}

/// The `101 Switching Protocols` answer.
pub(crate) fn switching_protocols(
    key: &HeaderValue,
    protocol: Option<&str>,
    extra: HeaderMap,
) -> Response {
    let mut response = http::Response::new(Default::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    for (name, value) in &extra {
        headers.append(name, value.clone());
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol.and_then(|p| HeaderValue::from_str(p).ok()) {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

/// The answer to a plain request on a WebSocket-only route.
pub(crate) fn upgrade_required() -> Response {
    let mut r = (
        StatusCode::UPGRADE_REQUIRED,
        "this route serves WebSocket connections; send a WebSocket upgrade request",
    )
        .into_response();
    let headers = r.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    const GOOD: &[(&str, &str)] = &[
        ("host", "localhost:1"),
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    fn check(
        extra: &[(&'static str, &'static str)],
        drop: &str,
    ) -> Result<HeaderValue, StatusCode> {
        let mut pairs: Vec<_> = GOOD.iter().copied().filter(|(k, _)| *k != drop).collect();
        pairs.extend_from_slice(extra);
        validate(
            &Method::GET,
            Version::HTTP_11,
            &headers(&pairs),
            &Origins::default(),
            Scheme::Http,
            None,
        )
        .map_err(|r| r.status())
    }

    #[test]
    fn accepts_a_good_request_and_derives_the_rfc_accept_key() {
        let key = check(&[], "").unwrap();
        let r = switching_protocols(&key, Some("chat"), HeaderMap::new());
        assert_eq!(
            r.headers()["sec-websocket-accept"],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(r.headers()["sec-websocket-protocol"], "chat");
    }

    #[test]
    fn rejects_each_defect_with_its_status() {
        assert_eq!(
            check(&[], "sec-websocket-key"),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            check(&[("sec-websocket-key", "short")], "sec-websocket-key"),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            check(&[("sec-websocket-version", "8")], "sec-websocket-version"),
            Err(StatusCode::UPGRADE_REQUIRED)
        );
        assert_eq!(check(&[], "connection"), Err(StatusCode::BAD_REQUEST));
        assert_eq!(
            check(&[("origin", "http://evil.example")], ""),
            Err(StatusCode::FORBIDDEN)
        );
        assert!(check(&[("origin", "http://localhost:1")], "").is_ok());
        let post = validate(
            &Method::POST,
            Version::HTTP_11,
            &headers(GOOD),
            &Origins::default(),
            Scheme::Http,
            None,
        );
        assert_eq!(post.unwrap_err().status(), StatusCode::METHOD_NOT_ALLOWED);
        for version in [Version::HTTP_10, Version::HTTP_2] {
            let refused = validate(
                &Method::GET,
                version,
                &headers(GOOD),
                &Origins::default(),
                Scheme::Http,
                None,
            );
            assert_eq!(refused.unwrap_err().status(), StatusCode::BAD_REQUEST);
        }
    }
}
