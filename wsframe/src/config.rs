//! Server configuration: app-wide [`Config`], per-connection [`Limits`] and the
//! per-route overrides in [`RouteLimits`].
//!
//! Every default is chosen to be safe for a public server; each is documented on its
//! setter.

use std::time::Duration;

use crate::{Compression, NodeId};

/// Limits that apply to each WebSocket connection. Routes may override them with
/// [`RouteLimits`].
///
/// ```
/// use std::time::Duration;
/// use wsframe::Limits;
/// let limits = Limits::default().max_message_size(64 << 20).idle_timeout(Duration::from_secs(30));
/// assert_eq!(limits.get_max_message_size(), 64 << 20);
/// // the frame limit never exceeds the message limit
/// assert!(Limits::default().max_message_size(1000).get_max_frame_size() <= 1000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    max_message_size: usize,
    max_frame_size: usize,
    idle_timeout: Duration,
    ping_interval: Duration,
    max_message_rate: Option<MessageRate>,
    compression: Compression,
}

/// A per-connection limit on incoming data messages: `per_second` on average, with
/// bursts of up to `burst` (a token bucket). A client over it is closed with 1008
/// (policy violation) and counted in `MetricsSnapshot::rate_limited`.
///
/// ```
/// use wsframe::{Limits, MessageRate};
/// let limits = Limits::default().max_message_rate(MessageRate::per_second(50).burst(100));
/// assert_eq!(limits.get_max_message_rate(), Some(MessageRate::per_second(50).burst(100)));
/// assert_eq!(Limits::default().get_max_message_rate(), None); // off by default
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageRate {
    per_second: u32,
    burst: u32,
}

impl MessageRate {
    /// `n` messages per second on average, in bursts of up to `n` (at least 1).
    pub fn per_second(n: u32) -> MessageRate {
        let n = n.max(1);
        MessageRate {
            per_second: n,
            burst: n,
        }
    }

    /// Allow bursts of up to `n` messages (at least 1).
    pub fn burst(mut self, n: u32) -> MessageRate {
        self.burst = n.max(1);
        self
    }

    /// The average rate.
    pub fn get_per_second(&self) -> u32 {
        self.per_second
    }

    /// The largest burst.
    pub fn get_burst(&self) -> u32 {
        self.burst
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            idle_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(20),
            max_message_rate: None,
            compression: Compression::default(),
        }
    }
}

impl Limits {
    /// Close a connection whose client sends data messages faster than `rate` (off by
    /// default); see [`MessageRate`].
    pub fn max_message_rate(mut self, rate: MessageRate) -> Self {
        self.max_message_rate = Some(rate);
        self
    }

    /// The message-rate limit, if any.
    pub fn get_max_message_rate(&self) -> Option<MessageRate> {
        self.max_message_rate
    }

    /// Largest complete message accepted (default 1 MiB). A larger one closes the
    /// connection with 1009 before it is buffered whole.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Largest single frame accepted (default 1 MiB, never above the message size).
    /// A larger frame is refused from its header with 1009.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// How long the peer may stay silent (no data, ping or pong) before the server
    /// closes the connection with 1001 (default 60 s).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// After this much silence from the peer the server sends a ping (default 20 s);
    /// a live client's pong keeps the connection open.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// The message size limit.
    pub fn get_max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The frame size limit (clamped to the message size limit).
    pub fn get_max_frame_size(&self) -> usize {
        self.max_frame_size.min(self.max_message_size)
    }

    /// The idle timeout.
    pub fn get_idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The ping interval.
    pub fn get_ping_interval(&self) -> Duration {
        self.ping_interval
    }

    /// permessage-deflate for the connections (on by default); see [`Compression`].
    /// Inflated bytes count against [`max_message_size`](Self::max_message_size) while
    /// they come out: a small message that inflates past it is closed with 1009.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// The compression settings.
    pub fn get_compression(&self) -> &Compression {
        &self.compression
    }
}

/// Per-route overrides of the app-wide [`Limits`]; unset fields keep the app's value.
///
/// ```
/// use wsframe::{Limits, RouteLimits};
/// let route = RouteLimits::new().max_message_size(64 << 20).max_frame_size(16 << 20);
/// let resolved = route.resolve(&Limits::default());
/// assert_eq!(resolved.get_max_frame_size(), 16 << 20);
/// assert_eq!(resolved.get_idle_timeout(), Limits::default().get_idle_timeout());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteLimits {
    max_message_size: Option<usize>,
    max_frame_size: Option<usize>,
    idle_timeout: Option<Duration>,
    ping_interval: Option<Duration>,
    max_message_rate: Option<MessageRate>,
    compression: Option<Compression>,
}

impl RouteLimits {
    /// No overrides.
    pub fn new() -> Self {
        Self::default()
    }

    /// Override [`Limits::max_message_size`].
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = Some(bytes);
        self
    }

    /// Override [`Limits::max_frame_size`].
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = Some(bytes);
        self
    }

    /// Override [`Limits::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Override [`Limits::ping_interval`].
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = Some(interval);
        self
    }

    /// Override [`Limits::max_message_rate`].
    pub fn max_message_rate(mut self, rate: MessageRate) -> Self {
        self.max_message_rate = Some(rate);
        self
    }

    /// Override [`Limits::compression`] (also the `compression = ...` option of
    /// `#[websocket]`).
    ///
    /// ```
    /// use wsframe::{Compression, Limits, RouteLimits};
    /// let route = RouteLimits::new().compression(Compression::disabled());
    /// assert!(!route.resolve(&Limits::default()).get_compression().is_enabled());
    /// ```
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// `self`'s overrides over `base`'s: a field set in either is set, `self` winning.
    pub(crate) fn over(self, base: RouteLimits) -> RouteLimits {
        RouteLimits {
            max_message_size: self.max_message_size.or(base.max_message_size),
            max_frame_size: self.max_frame_size.or(base.max_frame_size),
            idle_timeout: self.idle_timeout.or(base.idle_timeout),
            ping_interval: self.ping_interval.or(base.ping_interval),
            max_message_rate: self.max_message_rate.or(base.max_message_rate),
            compression: self.compression.or(base.compression),
        }
    }

    /// These overrides applied over `defaults`. When a route raises the message size
    /// without naming a frame size, the frame limit follows the app's frame limit.
    pub fn resolve(&self, defaults: &Limits) -> Limits {
        Limits {
            max_message_size: self.max_message_size.unwrap_or(defaults.max_message_size),
            max_frame_size: self.max_frame_size.unwrap_or(defaults.max_frame_size),
            idle_timeout: self.idle_timeout.unwrap_or(defaults.idle_timeout),
            ping_interval: self.ping_interval.unwrap_or(defaults.ping_interval),
            max_message_rate: self.max_message_rate.or(defaults.max_message_rate),
            compression: self
                .compression
                .clone()
                .unwrap_or_else(|| defaults.compression.clone()),
        }
    }
}

/// Which browser origins may open WebSockets (protection against cross-site WebSocket
/// hijacking). Requests without an `Origin` header (non-browser clients) are always
/// allowed.
///
/// Origins are compared as browsers define them: scheme, host and port, with the
/// scheme's default port filled in (`https://a.example` is `https://a.example:443`) and
/// the host case-insensitive. The request's own origin is its scheme (`https` when
/// wsframe terminates TLS, else the one a [trusted proxy](Config::trust_proxy) states,
/// else `http`) with its `Host` (or, with
/// [`Config::trust_forwarded_host`], the host that proxy states).
///
/// ```
/// use wsframe::Origins;
/// let origins = Origins::same_origin().allow("https://app.example.com");
/// assert!(origins.allows("https://app.example.com", "http", Some("api.example.com")));
/// assert!(origins.allows("http://localhost:8080", "http", Some("localhost:8080")));
/// assert!(origins.allows("https://a.example", "https", Some("a.example:443")));
/// assert!(!origins.allows("https://a.example", "http", Some("a.example"))); // scheme
/// assert!(!origins.allows("https://evil.example", "http", Some("localhost:8080")));
/// assert!(Origins::any().allows("https://evil.example", "http", None));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origins {
    any: bool,
    same_origin: bool,
    allowed: Vec<crate::origin::Origin>,
    /// Entries given to [`Origins::allow`] that are not origins: reported when the app
    /// is built.
    invalid: Vec<String>,
}

impl Default for Origins {
    fn default() -> Self {
        Self::same_origin()
    }
}

impl Origins {
    /// The default: an `Origin` equal to the request's own origin, its scheme and
    /// host (see above).
    pub fn same_origin() -> Self {
        Origins {
            any: false,
            same_origin: true,
            allowed: Vec::new(),
            invalid: Vec::new(),
        }
    }

    /// Only the origins added with [`Origins::allow`] (for deployments where the
    /// `Host` seen by the server is not the one the browser used).
    pub fn only() -> Self {
        Origins {
            same_origin: false,
            ..Self::same_origin()
        }
    }

    /// Every origin: turns the check off. Only for servers that authenticate without
    /// cookies.
    pub fn any() -> Self {
        Origins {
            any: true,
            same_origin: false,
            ..Self::same_origin()
        }
    }

    /// Also allow this origin, a full `scheme://host[:port]` (a default port may be
    /// left out or written; scheme and host are compared case-insensitively). Browsers
    /// name the page's origin, so `wss://` and `ws://` stand for `https://` and
    /// `http://`. Anything else (no scheme, a path, `null`) is an error when the app is
    /// built.
    ///
    /// ```
    /// use wsframe::{App, Config, Origins};
    /// let origins = Origins::only().allow("https://app.example.com:443");
    /// assert!(origins.allows("https://APP.example.com", "http", None));
    /// let origins = Origins::only().allow("wss://app.example.com");
    /// assert!(origins.allows("https://app.example.com", "http", None));
    ///
    /// let typo = Config::default().origins(Origins::only().allow("app.example.com"));
    /// let err = wsframe::testing::TestClient::new(App::new().config(typo)).err().unwrap();
    /// assert!(err.to_string().contains("`app.example.com` is not an origin"), "{err}");
    /// ```
    pub fn allow(mut self, origin: impl Into<String>) -> Self {
        let origin: String = origin.into();
        match crate::origin::Origin::parse_allowed(&origin) {
            Some(parsed) => self.allowed.push(parsed),
            None => self.invalid.push(origin),
        }
        self
    }

    /// Whether a browser request with this `Origin`, arriving with this scheme
    /// (`"http"` or `"https"`) and this `Host`, may connect.
    pub fn allows(&self, origin: &str, scheme: &str, host: Option<&str>) -> bool {
        self.allows_request(origin, crate::forwarded::Scheme::parse(scheme), host)
    }

    /// [`Origins::allows`] for the scheme the server resolved (`None`: not a scheme a
    /// request arrives with, so only the allow-list applies).
    pub(crate) fn allows_request(
        &self,
        origin: &str,
        scheme: Option<crate::forwarded::Scheme>,
        host: Option<&str>,
    ) -> bool {
        if self.any {
            return true;
        }
        let Some(origin) = crate::origin::Origin::parse(origin) else {
            return false; // `null` (sandboxed pages, files) or garbage
        };
        if self.allowed.contains(&origin) {
            return true;
        }
        self.same_origin
            && scheme
                .zip(host)
                .and_then(|(scheme, host)| crate::origin::Origin::of_request(scheme, host))
                .is_some_and(|own| own == origin)
    }

    /// The first entry given to [`Origins::allow`] that is not an origin, as an error.
    pub(crate) fn check(&self) -> Result<(), String> {
        match self.invalid.first() {
            Some(entry) => Err(format!(
                "`Origins::allow`: `{entry}` is not an origin; write it as \
                 `scheme://host[:port]`, like `https://app.example.com`"
            )),
            None => Ok(()),
        }
    }
}

/// App-wide configuration. Build it with the setters; every field has a safe default.
///
/// ```
/// use std::time::Duration;
/// use wsframe::{Config, Limits};
/// let config = Config::default()
///     .max_connections(50_000)
///     .handshake_timeout(Duration::from_secs(5))
///     .limits(Limits::default().max_message_size(4 << 20));
/// assert_eq!(config.get_max_connections(), 50_000);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) limits: Limits,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) outgoing_queue: usize,
    pub(crate) outgoing_queue_bytes: usize,
    pub(crate) incoming_queue: usize,
    pub(crate) origins: Origins,
    pub(crate) shutdown_grace: Duration,
    pub(crate) close_timeout: Duration,
    pub(crate) max_header_bytes: usize,
    pub(crate) trusted_proxies: Vec<crate::forwarded::TrustedProxy>,
    pub(crate) trust_forwarded_host: bool,
    pub(crate) max_connections_per_client: Option<usize>,
    pub(crate) max_handshakes_per_client: Option<crate::HandshakeRate>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::TlsConfig>,
    pub(crate) node_id: NodeId,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            read_buffer_size: 4 << 10,
            outgoing_queue: 256,
            outgoing_queue_bytes: 4 << 20,
            incoming_queue: 16,
            origins: Origins::default(),
            shutdown_grace: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            max_header_bytes: 16 << 10,
            trusted_proxies: Vec::new(),
            trust_forwarded_host: false,
            max_connections_per_client: None,
            max_handshakes_per_client: None,
            #[cfg(feature = "tls")]
            tls: None,
            node_id: NodeId::random(),
        }
    }
}

impl Config {
    /// App-wide connection limits (see [`Limits`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Time from TCP accept to the upgrade decision (default 10 s). A client that has
    /// not sent its request (or finished its TLS handshake) by then is disconnected; a
    /// guard or handler that has not decided by then is cancelled and the client gets
    /// HTTP 503 (`the handshake was not decided in time`). Also bounds how long an idle
    /// keep-alive HTTP connection stays open.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Most connections served at once (default 10,000); further clients get HTTP 503.
    /// At start the server raises its soft descriptor limit to the hard limit.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Bytes read from the socket at once (default 4 KiB): many small frames arrive
    /// with one system call. The buffer is held only while received bytes wait to be
    /// parsed, so an idle connection holds none (tungstenite's default, a 128 KiB buffer
    /// kept for the connection's life, costs about 135 KiB per idle connection). A frame
    /// larger than this is read into room reserved for the whole frame once its header
    /// has arrived (at most the route's `max_frame_size`).
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes.max(256);
        self
    }

    /// No effect: it sized the write buffer of the protocol library wsframe used
    /// before it wrote its own frames. Control frames (pongs, pings, close frames) now
    /// go to the socket between data frames in the same vectored writes, with no buffer
    /// of their own.
    #[deprecated(note = "has no effect: wsframe writes its control frames without a buffer")]
    pub fn write_buffer_size(self, _bytes: usize) -> Self {
        self
    }

    /// Capacity, in messages, of each connection's outgoing queue (default 256). A
    /// handler's `send_*().await` waits for room when the queue is full; a hub message
    /// that does not fit meets the slow-consumer policy.
    pub fn outgoing_queue(mut self, messages: usize) -> Self {
        self.outgoing_queue = messages.max(1);
        self
    }

    /// Capacity, in bytes, of each connection's outgoing queue (default 4 MiB, at least
    /// 1): the frames' bytes on the wire, counted until the socket has taken them. A
    /// client that stops reading costs the server at most the larger of this bound and
    /// one message: a message larger than the bound is admitted only into an empty
    /// queue. At the bound a handler's `send_*().await` waits (in line with the other
    /// waiting sends) and a hub message meets the slow-consumer policy, as at the
    /// message bound; `SlowConsumer::Close` closes only a client whose unwritten hub
    /// messages fill the bound, and drops the hub message when the handler's own sends
    /// hold the room. Keep the bound above the largest message you send. The app-wide total is the
    /// [`queued_bytes`](crate::MetricsSnapshot::queued_bytes) gauge.
    ///
    /// ```
    /// use wsframe::Config;
    /// assert_eq!(Config::default().get_outgoing_queue_bytes(), 4 << 20);
    /// let config = Config::default().outgoing_queue_bytes(1 << 20);
    /// assert_eq!(config.get_outgoing_queue_bytes(), 1 << 20);
    /// ```
    pub fn outgoing_queue_bytes(mut self, bytes: usize) -> Self {
        self.outgoing_queue_bytes = bytes.max(1);
        self
    }

    /// The byte bound of each connection's outgoing queue.
    pub fn get_outgoing_queue_bytes(&self) -> usize {
        self.outgoing_queue_bytes
    }

    /// Messages read ahead of the handler (default 16). When the handler does not keep
    /// up, the server stops reading from the socket and TCP pushes back on the client.
    pub fn incoming_queue(mut self, messages: usize) -> Self {
        self.incoming_queue = messages.max(1);
        self
    }

    /// Which browser origins may connect (default: same origin only; requests without
    /// `Origin` are allowed). A refused origin gets HTTP 403.
    pub fn origins(mut self, origins: Origins) -> Self {
        self.origins = origins;
        self
    }

    /// How long graceful shutdown waits for handlers after sending 1001 (default 10 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// How long the server waits for the peer's reply to its close frame (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Serve `wss://` with these TLS settings (feature `tls`); see
    /// [`TlsConfig`](crate::TlsConfig).
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Believe `header` from this proxy (an address or a network; nobody by default):
    /// [`HandshakeRequest::client_addr`](crate::HandshakeRequest::client_addr) is then
    /// the address the proxy saw, and the Origin check uses the scheme it states
    /// (`X-Forwarded-Proto` with [`ProxyHeader::XForwardedFor`](crate::ProxyHeader),
    /// `proto=` with `Forwarded`); the host it states only with
    /// [`trust_forwarded_host`](Config::trust_forwarded_host). Name the header the proxy writes: the other one is
    /// never read, since a proxy passes on whatever a client put in it. The header is
    /// read from the right, past hops that are trusted proxies writing the same header,
    /// to the first one that is not: the client. From any other peer the headers are
    /// ignored, so clients cannot spoof their address.
    ///
    /// ```
    /// use wsframe::{Config, ProxyHeader, ProxyNet};
    /// let nginx: ProxyNet = "127.0.0.1".parse().unwrap();
    /// let balancers: ProxyNet = "10.0.0.0/8".parse().unwrap();
    /// let config = Config::default()
    ///     .trust_proxy(nginx, ProxyHeader::XForwardedFor)
    ///     .trust_proxy(balancers, ProxyHeader::XForwardedFor);
    /// # let _ = config;
    /// ```
    pub fn trust_proxy(
        mut self,
        proxy: impl Into<crate::ProxyNet>,
        header: crate::ProxyHeader,
    ) -> Self {
        self.trusted_proxies.push(crate::forwarded::TrustedProxy {
            net: proxy.into(),
            header,
        });
        self
    }

    /// Also believe the host the [trusted proxies](Config::trust_proxy) state: from
    /// such a proxy, `X-Forwarded-Host` (with [`ProxyHeader::XForwardedFor`]) or the
    /// `host=` of `Forwarded` is the request's host, for the Origin check, for
    /// [`HandshakeRequest::host`](crate::HandshakeRequest::host) and for the server the
    /// AsyncAPI route names. Off by default: turn it on only when every trusted proxy
    /// *sets* that header (for a proxy that rewrites `Host` for its upstream). Most
    /// proxies pass a client's own `X-Forwarded-Host` on unless told to set it, and a
    /// value passed on lines up with the proxy's own hop, so it would be believed.
    /// A stated host that is not a plain `host[:port]` is ignored.
    ///
    /// [`ProxyHeader::XForwardedFor`]: crate::ProxyHeader::XForwardedFor
    ///
    /// ```
    /// use wsframe::{Config, ProxyHeader, ProxyNet};
    /// // nginx with `proxy_set_header X-Forwarded-Host $http_host;`
    /// let nginx: ProxyNet = "127.0.0.1".parse().unwrap();
    /// let config = Config::default()
    ///     .trust_proxy(nginx, ProxyHeader::XForwardedFor)
    ///     .trust_forwarded_host();
    /// # let _ = config;
    /// ```
    pub fn trust_forwarded_host(mut self) -> Self {
        self.trust_forwarded_host = true;
        self
    }

    /// Most WebSocket connections open at once from one client address (off by
    /// default); a handshake over it gets HTTP 503, counted in
    /// `MetricsSnapshot::client_connections_refused`. The address is the one left after
    /// [`trust_proxy`](Config::trust_proxy): trust your proxy first, or everyone behind
    /// it is one client.
    ///
    /// A client is an IPv4 address or an IPv6 /64 (a v4-mapped address is its IPv4
    /// address). At most 131072 clients are tracked at once; when the table is full and
    /// none can be forgotten yet, a new client's handshake gets 429 until one can.
    ///
    /// ```
    /// use wsframe::{Config, HandshakeRate};
    /// let config = Config::default()
    ///     .max_connections_per_client(20)
    ///     .max_handshakes_per_client(HandshakeRate::per_second(5).burst(20));
    /// assert_eq!(config.get_max_connections_per_client(), Some(20));
    /// assert_eq!(Config::default().get_max_connections_per_client(), None);
    /// ```
    pub fn max_connections_per_client(mut self, max: usize) -> Self {
        self.max_connections_per_client = Some(max);
        self
    }

    /// How many handshakes one client address may make (a token bucket, see
    /// [`HandshakeRate`](crate::HandshakeRate); off by default). One over it gets HTTP
    /// 429 with `Retry-After` (seconds until the next is allowed), counted in
    /// `MetricsSnapshot::handshakes_throttled`; guards do not run. The address is the
    /// one left after [`trust_proxy`](Config::trust_proxy).
    pub fn max_handshakes_per_client(mut self, rate: crate::HandshakeRate) -> Self {
        self.max_handshakes_per_client = Some(rate);
        self
    }

    /// The per-client connection limit, if any.
    pub fn get_max_connections_per_client(&self) -> Option<usize> {
        self.max_connections_per_client
    }

    /// The per-client handshake rate, if any.
    pub fn get_max_handshakes_per_client(&self) -> Option<crate::HandshakeRate> {
        self.max_handshakes_per_client
    }

    /// Largest request head (request line plus headers) accepted (default 16 KiB,
    /// at least 8 KiB); larger heads get 431.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes.max(8 << 10);
        self
    }

    /// This node's id, carried by every [`ConnectionId`](crate::ConnectionId) it makes
    /// (default: random per process).
    pub fn node_id(mut self, node: NodeId) -> Self {
        self.node_id = node;
        self
    }

    /// The configured connection limit.
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// The app-wide limits.
    pub fn get_limits(&self) -> &Limits {
        &self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        let o = Origins::default();
        assert!(o.allows("http://127.0.0.1:8080", "http", Some("127.0.0.1:8080")));
        assert!(!o.allows("http://127.0.0.1:8081", "http", Some("127.0.0.1:8080")));
        assert!(!o.allows("null", "http", Some("127.0.0.1:8080")));
        assert!(!o.allows("http://127.0.0.1:8080", "http", None));
        assert!(!Origins::only().allows("http://a:1", "http", Some("a:1")));
        // Default ports, either side.
        assert!(o.allows("https://a.example", "https", Some("a.example:443")));
        assert!(o.allows("https://a.example:443", "https", Some("a.example")));
        assert!(o.allows("http://A.EXAMPLE", "http", Some("a.example:80")));
        // The scheme counts.
        assert!(!o.allows("https://a.example", "http", Some("a.example")));
        assert!(!o.allows("http://a.example", "https", Some("a.example")));
        assert!(!o.allows("https://a.example:443", "http", Some("a.example:443")));
        // An allow-list entry is a full origin.
        let listed = Origins::only().allow("https://App.example.com/");
        assert!(listed.allows("https://app.example.com:443", "http", None));
        assert!(!listed.allows("http://app.example.com", "http", None));
        assert!(listed.check().is_ok());
        assert!(Origins::only().allow("null").check().is_err());
    }
}
