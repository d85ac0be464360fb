//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, not for users): the
//! crate-private router and handshake checks, fed from arbitrary input.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Version};

use crate::Origins;
use crate::forwarded::{ProxyHeader, Scheme, TrustedProxy};
use crate::router::{RoutePattern, Router};

/// Match `path` against a fixed set of routes (parameters, a rest parameter, literal
/// braces, a root) and extract the parameters.
pub fn match_path(path: &str) -> Option<Result<Vec<(String, String)>, String>> {
    let mut router = Router::new();
    for (i, pattern) in [
        "/",
        "/ws/<client_id>",
        "/files/<path..>",
        "/a/<b>/c/<d>",
        "/x{y}/<z>",
    ]
    .iter()
    .enumerate()
    {
        router
            .insert(RoutePattern::parse(pattern).expect("valid pattern"), i)
            .expect("no conflict");
    }
    let matched = router.at(path)?;
    Some(matched.params.map(|params| {
        params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }))
}

/// Run an upgrade request's checks (method, version, headers, origin) and what guards
/// read from it (query, cookies, subprotocols, the client address) on arbitrary parts.
pub fn handshake(method: &[u8], uri: &str, headers: &[(&[u8], &[u8])], http2: bool) {
    let Ok(method) = Method::from_bytes(method) else {
        return;
    };
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            map.append(name, value);
        }
    }
    let version = if http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let _ = crate::handshake::is_upgrade_request(&map);
    let origins = Origins::same_origin().allow("https://app.example");
    for scheme in [Scheme::Http, Scheme::Https] {
        let _ = crate::handshake::validate(&method, version, &map, &origins, scheme);
    }
    let _ =
        crate::request::parse_protocols(map.get_all(http::header::SEC_WEBSOCKET_PROTOCOL).iter());
    let trusted = [ProxyHeader::XForwardedFor, ProxyHeader::Forwarded].map(|header| TrustedProxy {
        net: "10.0.0.0/8".parse().expect("valid network"),
        header,
    });
    for proxy in trusted {
        let _ = crate::forwarded::resolve([10, 0, 0, 1].into(), &map, &[proxy]);
    }
    let mut req = crate::HandshakeRequest::new(uri);
    req.headers = map;
    let _ = req.query_param("token");
    let _ = req.cookies();
}
