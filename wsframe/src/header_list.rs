//! Comma-separated header lists (RFC 9110 §5.6.1), read item by item over every line of
//! a header. Owns splitting and decoding; never interprets an item.
//!
//! An item is decoded on its own, so one that is not ASCII (obs-text, which httparse
//! and proxies let through) is unusable by itself and leaves its neighbours readable: a
//! proxy that joins a client's bad value and its own into one line must not lose its own.

use http::HeaderMap;
use http::header::AsHeaderName;

/// Every list item of every `name` line, in order, trimmed; `None` for an item that is
/// not ASCII.
pub(crate) fn items<'a>(
    headers: &'a HeaderMap,
    name: impl AsHeaderName,
) -> impl Iterator<Item = Option<&'a str>> + 'a {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|line| line.as_bytes().split(|b| *b == b','))
        .map(|item| {
            item.is_ascii()
                .then(|| std::str::from_utf8(item).ok())
                .flatten()
                .map(str::trim)
        })
}

/// Whether some item of a `name` line is `token`, case-insensitively.
pub(crate) fn has_token(headers: &HeaderMap, name: impl AsHeaderName, token: &str) -> bool {
    items(headers, name).any(|item| item.is_some_and(|t| t.eq_ignore_ascii_case(token)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn a_bad_item_leaves_its_neighbours_readable() {
        let mut headers = HeaderMap::new();
        let joined = HeaderValue::from_bytes(b"\xff, 203.0.113.9").unwrap();
        headers.append("x-forwarded-for", joined);
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.1 ,"));
        let items: Vec<_> = items(&headers, "x-forwarded-for").collect();
        assert_eq!(
            items,
            [None, Some("203.0.113.9"), Some("10.0.0.1"), Some("")]
        );
        headers.append(
            "connection",
            HeaderValue::from_bytes(b"\xfe, Upgrade").unwrap(),
        );
        assert!(has_token(&headers, "connection", "upgrade"));
        assert!(!has_token(&headers, "connection", "close"));
    }
}
