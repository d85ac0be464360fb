//! Origins as browsers compare them (RFC 6454 §4-5): a scheme, a host and a port, the
//! scheme's default port filled in, scheme and host compared case-insensitively.
//!
//! Owns parsing an `Origin` header, an allow-list entry and the request's own origin
//! (its scheme and `Host`). It never decides who may connect: that is
//! [`Origins`](crate::Origins).

use http::uri::Authority;

use crate::forwarded::Scheme;

/// One origin, normalised: lowercase scheme and host, the port always present when the
/// scheme has a default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    /// `scheme://host[:port]` (one trailing `/` is tolerated); `None` for anything else:
    /// a path, a query, user info, no host, or the opaque origin `null`.
    pub(crate) fn parse(text: &str) -> Option<Origin> {
        let (scheme, rest) = text.trim().split_once("://")?;
        let valid_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return None;
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        Origin::from_authority(&scheme.to_ascii_lowercase(), rest)
    }

    /// An allow-list entry: an origin, where `ws`/`wss` stand for `http`/`https`, the
    /// scheme of the page a browser names in `Origin` (it never sends `wss://`).
    pub(crate) fn parse_allowed(text: &str) -> Option<Origin> {
        let mut origin = Origin::parse(text)?;
        match origin.scheme.as_str() {
            "ws" => origin.scheme = "http".to_string(),
            "wss" => origin.scheme = "https".to_string(),
            _ => {}
        }
        Some(origin)
    }

    /// The origin a request was addressed to: the scheme it arrived with and its host
    /// (`Host`, or the host a trusted proxy states when the app believes it).
    pub(crate) fn of_request(scheme: Scheme, host: &str) -> Option<Origin> {
        Origin::from_authority(scheme.as_str(), host.trim())
    }

    fn from_authority(scheme: &str, authority: &str) -> Option<Origin> {
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return None;
        }
        let authority: Authority = authority.parse().ok()?;
        if authority.host().is_empty() {
            return None;
        }
        // A port is written after the host (after `]` for an IPv6 literal).
        let after_host = authority
            .as_str()
            .rsplit_once(']')
            .map_or(authority.as_str(), |(_, rest)| rest);
        let port = if after_host.contains(':') {
            Some(authority.port_u16()?) // a number that fits, or not an origin
        } else {
            default_port(scheme)
        };
        Some(Origin {
            scheme: scheme.to_string(),
            host: authority.host().to_ascii_lowercase(),
            port,
        })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(s: &str) -> Origin {
        Origin::parse(s).unwrap_or_else(|| panic!("{s} should parse"))
    }

    #[test]
    fn default_ports_case_and_trailing_slash_are_normalised() {
        assert_eq!(origin("https://a.example"), origin("https://a.example:443"));
        assert_eq!(origin("HTTPS://A.Example/"), origin("https://a.example"));
        assert_eq!(origin("http://a.example"), origin("http://a.example:80"));
        assert_ne!(origin("http://a.example"), origin("https://a.example"));
        assert_ne!(origin("http://a.example:8080"), origin("http://a.example"));
        assert_eq!(origin("http://[::1]:8080"), origin("http://[::1]:8080"));
        assert_eq!(
            Origin::of_request(Scheme::Https, "A.example:443"),
            Some(origin("https://a.example"))
        );
        assert_eq!(
            Origin::of_request(Scheme::Http, "a.example"),
            Some(origin("http://a.example:80"))
        );
        assert_eq!(
            origin("chrome-extension://abcdef"),
            origin("chrome-extension://abcdef")
        );
    }

    #[test]
    fn a_websocket_scheme_in_the_allow_list_is_the_pages_scheme() {
        let allowed = |s: &str| Origin::parse_allowed(s).unwrap();
        assert_eq!(allowed("wss://a.example"), origin("https://a.example:443"));
        assert_eq!(
            allowed("WS://a.example:8080"),
            origin("http://a.example:8080")
        );
        assert_eq!(allowed("https://a.example"), origin("https://a.example"));
        assert_ne!(
            origin("wss://a.example"),
            origin("https://a.example"),
            "Origin as sent"
        );
    }

    #[test]
    fn what_is_not_an_origin_is_refused() {
        for bad in [
            "null",
            "",
            "a.example",
            "https://",
            "https://a.example/path",
            "https://a.example?q",
            "https://user@a.example",
            "https://a.example:99999",
            "https://a.example:",
            "1http://a.example",
            "ht tp://a.example",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
        assert_eq!(Origin::of_request(Scheme::Http, ""), None);
        assert_eq!(Origin::of_request(Scheme::Http, "a.example/x"), None);
    }
}
