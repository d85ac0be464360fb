//! [`HandshakeRequest`]: what guards and extractors see of an upgrade request.
//!
//! Owns the request head after routing (path, parameters, query, headers, cookies, peer,
//! offered subprotocols, app state). Its `Debug` output never shows the query string,
//! which often carries tokens.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::PathParams;

/// The head of a WebSocket handshake (or plain HTTP) request after routing.
///
/// Guards read it through [`FromHandshake`](crate::FromHandshake); plain HTTP routes
/// receive it directly.
///
/// ```
/// use wsframe::HandshakeRequest;
/// let req = HandshakeRequest::new("/ws/42?token=abc")
///     .with_header("cookie", "session=s1; theme=dark")
///     .with_header("sec-websocket-protocol", "chat.v2, chat.v1");
/// assert_eq!(req.path(), "/ws/42");
/// assert_eq!(req.query_param("token").as_deref(), Some("abc"));
/// assert_eq!(req.cookie("session").as_deref(), Some("s1"));
/// assert_eq!(req.protocols(), ["chat.v2", "chat.v1"]);
/// assert!(!format!("{req:?}").contains("abc"));
/// ```
pub struct HandshakeRequest {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) params: PathParams,
    pub(crate) route: Arc<str>,
    pub(crate) peer: SocketAddr,
    /// The client's address (the peer's, or what a trusted proxy forwarded).
    pub(crate) client: std::net::IpAddr,
    /// The host a trusted proxy forwarded (`X-Forwarded-Host` or `host=`), if one did.
    pub(crate) forwarded_host: Option<String>,
    pub(crate) protocols: Vec<String>,
    pub(crate) state: Arc<http::Extensions>,
    /// Dependency results of this handshake (FastAPI's per-request cache).
    pub(crate) cache: std::sync::Mutex<http::Extensions>,
    /// A TestClient's doubles for dependencies and guards (never set in a server).
    pub(crate) overrides: Option<Arc<crate::overrides::Overrides>>,
    /// A plain GET request came over TLS (ours, or a trusted proxy's); the AsyncAPI
    /// route names its server `wss` then. (Not set for handshakes.)
    pub(crate) secure: bool,
}

impl HandshakeRequest {
    /// A request for `uri` (path and optional query) from 127.0.0.1, for unit tests of
    /// guards; the server builds real ones itself.
    pub fn new(uri: &str) -> HandshakeRequest {
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p.to_string(), Some(q.to_string())),
            None => (uri.to_string(), None),
        };
        HandshakeRequest {
            method: Method::GET,
            route: Arc::from(path.as_str()),
            path,
            query,
            headers: HeaderMap::new(),
            params: PathParams::default(),
            peer: SocketAddr::from(([127, 0, 0, 1], 0)),
            client: std::net::IpAddr::from([127, 0, 0, 1]),
            forwarded_host: None,
            protocols: Vec::new(),
            state: Arc::new(http::Extensions::new()),
            cache: Default::default(),
            overrides: None,
            secure: false,
        }
    }

    /// This request with one more header (panics on an invalid name or value, which
    /// only a test would pass).
    pub fn with_header(mut self, name: &str, value: &str) -> HandshakeRequest {
        let name = HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
        let value = HeaderValue::from_str(value).expect("valid header value");
        if name == http::header::SEC_WEBSOCKET_PROTOCOL {
            self.protocols = parse_protocols(std::iter::once(&value));
        }
        self.headers.append(name, value);
        self
    }

    /// This request with the given path parameters.
    pub fn with_params(mut self, params: PathParams) -> HandshakeRequest {
        self.params = params;
        self
    }

    /// This request as if a trusted proxy had forwarded it for `host` (see
    /// [`host`](Self::host)), for unit tests of guards that read the host.
    pub fn with_forwarded_host(mut self, host: &str) -> HandshakeRequest {
        self.forwarded_host = Some(host.to_string());
        self
    }

    /// This request from the given peer address.
    pub fn with_peer(mut self, peer: SocketAddr) -> HandshakeRequest {
        self.peer = peer;
        self
    }

    /// The HTTP method (GET for every handshake).
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The route pattern that matched, as registered (e.g. `/ws/<client_id>`).
    pub fn route(&self) -> &str {
        &self.route
    }

    /// The raw query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        form_urlencoded_pairs(query)
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// All headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value, when present and valid text.
    pub fn header(&self, name: impl http::header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A cookie's value, from the `Cookie` header(s).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies().get(name).map(str::to_string)
    }

    /// All cookies sent with the request.
    pub fn cookies(&self) -> crate::Cookies {
        crate::Cookies::from_headers(&self.headers)
    }

    /// Path parameters of the matched route.
    pub fn params(&self) -> &PathParams {
        &self.params
    }

    /// One path parameter's decoded value.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// The peer's socket address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// The client's address: the TCP peer's, or, when the peer is a trusted proxy
    /// ([`Config::trust_proxy`](crate::Config::trust_proxy)), the address it forwarded
    /// (`Forwarded` or `X-Forwarded-For`).
    ///
    /// ```
    /// let req = wsframe::HandshakeRequest::new("/ws").with_header("x-forwarded-for", "203.0.113.7");
    /// // A request built for a test has no trusted proxy: the header is not believed.
    /// assert_eq!(req.client_addr().to_string(), "127.0.0.1");
    /// ```
    pub fn client_addr(&self) -> std::net::IpAddr {
        self.client
    }

    /// The host (and port, if one was given) the client addressed: the `Host` header,
    /// or, with [`Config::trust_forwarded_host`](crate::Config::trust_forwarded_host)
    /// when the peer is a trusted proxy that stated one, the host it forwarded
    /// (`X-Forwarded-Host`, or `host=` in `Forwarded`), since a proxy may rewrite
    /// `Host` for its upstream. The same-origin check compares `Origin` with this host.
    ///
    /// ```
    /// let req = wsframe::HandshakeRequest::new("/ws")
    ///     .with_header("host", "backend:8080")
    ///     .with_header("x-forwarded-host", "evil.example");
    /// // A request built for a test has no trusted proxy: the header is not believed.
    /// assert_eq!(req.host(), Some("backend:8080"));
    /// let proxied = req.with_forwarded_host("chat.example.com");
    /// assert_eq!(proxied.host(), Some("chat.example.com"));
    /// ```
    pub fn host(&self) -> Option<&str> {
        self.forwarded_host
            .as_deref()
            .or_else(|| self.header(http::header::HOST))
    }

    /// Subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// App state of type `T`, registered with [`App::state`](crate::App::state).
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.state.get::<T>().cloned()
    }

    pub(crate) fn cached<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get::<T>()
            .cloned()
    }

    pub(crate) fn store<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(value);
    }
}

impl fmt::Debug for HandshakeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandshakeRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("route", &self.route)
            .field("params", &self.params)
            .field("peer", &self.peer)
            .field("protocols", &self.protocols)
            .finish_non_exhaustive()
    }
}

pub(crate) fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode_component(k), decode_component(v))
    })
}

fn decode_component(s: &str) -> String {
    let plus_as_space = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

/// Parse `Sec-WebSocket-Protocol` values (comma-separated tokens, possibly in several
/// headers) in order.
pub(crate) fn parse_protocols<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Vec<String> {
    values
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_params_are_decoded() {
        let req = HandshakeRequest::new("/x?a=1&b=hello+world&c=%2F&flag");
        assert_eq!(req.query_param("b").as_deref(), Some("hello world"));
        assert_eq!(req.query_param("c").as_deref(), Some("/"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("missing"), None);
    }
}
