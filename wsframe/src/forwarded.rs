//! The client's address, scheme and host behind reverse proxies. Each trusted proxy is
//! named with the one header it writes, `X-Forwarded-For` (with `X-Forwarded-Proto` and
//! `X-Forwarded-Host`, believed only with `Config::trust_forwarded_host`) or
//! `Forwarded` (RFC 7239); only that header is read, only when the TCP peer is such a
//! proxy, and only from the right (the end proxies append to) up to the first hop that
//! is not itself a trusted proxy. A client cannot spoof its address: what it sends in
//! the header is left of that hop, and the other header, which a proxy passes on
//! unchanged, is never read.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

use crate::header_list;

/// A trusted proxy: one address (`10.0.0.7`) or a network (`10.0.0.0/8`, `fd00::/8`).
///
/// ```
/// use std::net::IpAddr;
/// use wsframe::{Config, ProxyHeader, ProxyNet};
/// let net: ProxyNet = "10.0.0.0/8".parse().unwrap();
/// assert!(net.contains("10.1.2.3".parse().unwrap()));
/// assert!(!net.contains("11.0.0.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<ProxyNet>().is_err());
/// let local: IpAddr = "127.0.0.1".parse().unwrap();
/// let config = Config::default()
///     .trust_proxy(net, ProxyHeader::Forwarded)
///     .trust_proxy(local, ProxyHeader::XForwardedFor);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxyNet {
    addr: IpAddr,
    prefix: u8,
}

impl ProxyNet {
    /// Whether `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            (IpAddr::V6(_), IpAddr::V4(ip)) => self.contains(IpAddr::V6(ip.to_ipv6_mapped())),
            (IpAddr::V4(_), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| self.contains(IpAddr::V4(ip))),
        }
    }
}

impl From<IpAddr> for ProxyNet {
    fn from(addr: IpAddr) -> ProxyNet {
        ProxyNet {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }
}

impl FromStr for ProxyNet {
    type Err = String;

    fn from_str(s: &str) -> Result<ProxyNet, String> {
        let bad = || format!("`{s}` is not an IP address or network (like 10.0.0.0/8)");
        let (addr, prefix) = match s.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(bad)?,
            None => max,
        };
        Ok(ProxyNet { addr, prefix })
    }
}

/// The header a trusted proxy writes what it saw into: the client's address, and the
/// scheme the client used. Name the one your proxy writes; the other is never believed,
/// since a proxy passes on unchanged whatever the client sent in it.
///
/// ```
/// use wsframe::{Config, ProxyHeader, ProxyNet};
/// // nginx with `proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;`
/// let local: ProxyNet = "127.0.0.1".parse().unwrap();
/// let config = Config::default().trust_proxy(local, ProxyHeader::XForwardedFor);
/// # let _ = config;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyHeader {
    /// `X-Forwarded-For` for the address and `X-Forwarded-Proto` for the scheme (nginx,
    /// HAProxy, most cloud load balancers); `X-Forwarded-Host` for the host with
    /// [`Config::trust_forwarded_host`](crate::Config::trust_forwarded_host).
    XForwardedFor,
    /// `Forwarded` (RFC 7239): its `for=` and `proto=` parameters; `host=` with
    /// [`Config::trust_forwarded_host`](crate::Config::trust_forwarded_host).
    Forwarded,
}

/// A proxy named with [`Config::trust_proxy`](crate::Config::trust_proxy): its
/// addresses and the header it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TrustedProxy {
    pub(crate) net: ProxyNet,
    pub(crate) header: ProxyHeader,
}

/// What the trusted proxies in front of a request vouch for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Forwarded {
    /// The client's address (the TCP peer's when no trusted proxy is in front).
    pub(crate) client: IpAddr,
    /// The scheme the client used, as the outermost trusted proxy that stated one
    /// stated it (`X-Forwarded-Proto` or `proto=`); `None` when none did.
    pub(crate) scheme: Option<Scheme>,
    /// The host (and port) the client asked for, as the outermost trusted proxy that
    /// stated one stated it (`X-Forwarded-Host` or `host=`): a proxy that rewrites
    /// `Host` for its upstream keeps the client's here. `None` when none did.
    pub(crate) host: Option<String>,
}

/// The scheme of the client's connection to the first proxy, or to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }

    /// `http`/`ws` or `https`/`wss`, case-insensitively, quoted or not.
    pub(crate) fn parse(token: &str) -> Option<Scheme> {
        let token = token.trim().trim_matches('"');
        if token.eq_ignore_ascii_case("https") || token.eq_ignore_ascii_case("wss") {
            Some(Scheme::Https)
        } else if token.eq_ignore_ascii_case("http") || token.eq_ignore_ascii_case("ws") {
            Some(Scheme::Http)
        } else {
            None
        }
    }
}

/// One hop's address as the headers give it (`ip`, `ip:port`, `[v6]`, `[v6]:port`).
fn parse_hop(token: &str) -> Option<IpAddr> {
    let token = token.trim().trim_matches('"');
    if let Ok(ip) = token.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = token.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    let inner = token.strip_prefix('[')?.split(']').next()?;
    inner.parse().ok()
}

/// A host a proxy stated: `host` or `host:port` (1 to 5 digits that fit in a port), no
/// user info, at most one pair of quotes around it; else nothing.
fn parse_host(token: &str) -> Option<String> {
    let token = token.trim();
    let token = token
        .strip_prefix('"')
        .and_then(|quoted| quoted.strip_suffix('"'))
        .unwrap_or(token);
    let authority = token.parse::<http::uri::Authority>().ok()?;
    if authority.host().is_empty() || token.contains('@') {
        return None;
    }
    // With no user info the host begins the text. `Authority` accepts any port text
    // (`a.example:`, `a.example:+443`, `[::1]abc`) and reads it lazily.
    let port_ok = match token[authority.host().len()..].strip_prefix(':') {
        None => token.len() == authority.host().len(),
        Some(port) => {
            (1..=5).contains(&port.len())
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok()
        }
    };
    port_ok.then(|| token.to_string())
}

/// One hop as a proxy recorded it: the address it received the request from (`None`
/// when it is not an address: `unknown`, an obfuscated name, garbage), and the scheme
/// and host it received it with, if it said.
struct Hop {
    addr: Option<IpAddr>,
    scheme: Option<Scheme>,
    host: Option<String>,
}

/// The hops `header` lists, leftmost (the original client) first; their hosts only when
/// `with_hosts`.
fn hops(headers: &HeaderMap, header: ProxyHeader, with_hosts: bool) -> Vec<Hop> {
    match header {
        ProxyHeader::Forwarded => header_list::items(headers, "forwarded")
            .map(|element| {
                // An element that is not ASCII gives no address: the walk stops there.
                let element = element.unwrap_or_default();
                let param = |wanted: &str| {
                    element.split(';').find_map(|pair| {
                        let (name, value) = pair.split_once('=')?;
                        name.trim().eq_ignore_ascii_case(wanted).then_some(value)
                    })
                };
                Hop {
                    addr: param("for").and_then(parse_hop),
                    scheme: param("proto").and_then(Scheme::parse),
                    host: param("host").filter(|_| with_hosts).and_then(parse_host),
                }
            })
            .collect(),
        ProxyHeader::XForwardedFor => {
            let addrs: Vec<Option<IpAddr>> = header_list::items(headers, "x-forwarded-for")
                .map(|item| item.and_then(parse_hop))
                .collect();
            // Each proxy that appends to both lists appends to each once, so the lists
            // line up from the right; a proxy that overwrites X-Forwarded-Proto leaves
            // one value, its own, which stands for the nearest hop.
            let schemes: Vec<Option<Scheme>> = header_list::items(headers, "x-forwarded-proto")
                .map(|item| item.and_then(Scheme::parse))
                .collect();
            let mut hosts: Vec<Option<String>> = if with_hosts {
                header_list::items(headers, "x-forwarded-host")
                    .map(|item| item.and_then(parse_host))
                    .collect()
            } else {
                Vec::new()
            };
            if addrs.is_empty() {
                // The proxy stated no address, only (perhaps) the scheme and host.
                return vec![Hop {
                    addr: None,
                    scheme: schemes.last().copied().flatten(),
                    host: hosts.pop().flatten(),
                }];
            }
            let n = addrs.len();
            // The item `from_right` places from the right of a list, if it has one.
            fn nth_from_right<T: Clone>(list: &[Option<T>], from_right: usize) -> Option<T> {
                let j = list.len().checked_sub(1 + from_right)?;
                list[j].clone()
            }
            addrs
                .into_iter()
                .enumerate()
                .map(|(i, addr)| {
                    let from_right = n - 1 - i;
                    Hop {
                        addr,
                        scheme: nth_from_right(&schemes, from_right),
                        host: nth_from_right(&hosts, from_right),
                    }
                })
                .collect()
        }
    }
}

/// What the proxies in front of `peer` vouch for: nothing unless `peer` is a trusted
/// proxy; then the header that proxy writes, read from the right (the end proxies
/// append to) past the hops that are themselves trusted proxies writing that header,
/// up to the first one that is not: that is the client.
/// The host they state is read only when `with_hosts` (`Config::trust_forwarded_host`).
pub(crate) fn resolve(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[TrustedProxy],
    with_hosts: bool,
) -> Forwarded {
    let mut forwarded = Forwarded {
        client: peer,
        scheme: None,
        host: None,
    };
    let Some(header) = trusted
        .iter()
        .find(|proxy| proxy.net.contains(peer))
        .map(|proxy| proxy.header)
    else {
        return forwarded;
    };
    let is_trusted = |ip: IpAddr| {
        trusted
            .iter()
            .any(|proxy| proxy.header == header && proxy.net.contains(ip))
    };
    for hop in hops(headers, header, with_hosts).into_iter().rev() {
        // Written by a trusted proxy (every hop to its right was one): believed.
        if hop.scheme.is_some() {
            forwarded.scheme = hop.scheme;
        }
        if hop.host.is_some() {
            forwarded.host = hop.host;
        }
        match hop.addr {
            Some(ip) => {
                forwarded.client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // An address the proxy could not give: stop at the last one known.
            None => break,
        }
    }
    forwarded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn trust(net: &str, header: ProxyHeader) -> TrustedProxy {
        TrustedProxy {
            net: net.parse().unwrap(),
            header,
        }
    }

    fn client(peer: &str, h: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
        resolve(ip(peer), h, trusted, true).client
    }

    fn scheme(peer: &str, h: &HeaderMap, trusted: &[TrustedProxy]) -> Option<Scheme> {
        resolve(ip(peer), h, trusted, true).scheme
    }

    #[test]
    fn headers_are_believed_only_from_trusted_proxies() {
        let trusted = [trust("10.0.0.0/8", ProxyHeader::XForwardedFor)];
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(client("198.51.100.1", &h, &trusted), ip("198.51.100.1"));
        assert_eq!(scheme("198.51.100.1", &h, &trusted), None, "spoofed");
        assert_eq!(client("10.0.0.2", &h, &trusted), ip("203.0.113.7"));
        assert_eq!(scheme("10.0.0.2", &h, &trusted), Some(Scheme::Https));
        assert_eq!(
            client("10.0.0.2", &h, &[]),
            ip("10.0.0.2"),
            "nothing trusted"
        );
    }

    #[test]
    fn only_the_header_the_proxy_writes_is_read() {
        let xff = [trust("10.0.0.0/8", ProxyHeader::XForwardedFor)];
        let rfc = [trust("10.0.0.0/8", ProxyHeader::Forwarded)];
        // The client sent `Forwarded` itself; an X-Forwarded-For proxy passed it on.
        let h = headers(&[
            ("forwarded", "for=1.2.3.4;proto=https"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        assert_eq!(client("10.0.0.2", &h, &xff), ip("203.0.113.7"));
        assert_eq!(scheme("10.0.0.2", &h, &xff), None);
        assert_eq!(client("10.0.0.2", &h, &rfc), ip("1.2.3.4"));
        // And the other way round.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=203.0.113.7;proto=http"),
        ]);
        assert_eq!(client("10.0.0.2", &h, &rfc), ip("203.0.113.7"));
        assert_eq!(scheme("10.0.0.2", &h, &rfc), Some(Scheme::Http));
        let only_xff = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client("10.0.0.2", &only_xff, &rfc), ip("10.0.0.2"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = [trust("10.0.0.0/8", ProxyHeader::XForwardedFor)];
        // The client put a fake hop first; proxies appended what they saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.9")]);
        assert_eq!(client("10.0.0.2", &h, &trusted), ip("203.0.113.7"));
        let h = headers(&[("x-forwarded-for", "203.0.113.7:5000, not-an-ip")]);
        assert_eq!(client("10.0.0.2", &h, &trusted), ip("10.0.0.2"));
        let rfc = [trust("10.0.0.0/8", ProxyHeader::Forwarded)];
        let h = headers(&[(
            "forwarded",
            "for=1.2.3.4, for=\"[2001:db8::1]:4711\";proto=https",
        )]);
        assert_eq!(client("10.0.0.2", &h, &rfc), ip("2001:db8::1"));
        assert_eq!(scheme("10.0.0.2", &h, &rfc), Some(Scheme::Https));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(client("10.0.0.2", &h, &rfc), ip("10.0.0.2"));
        // A trusted hop that writes the other header is not passed.
        let mixed = [rfc[0], trust("192.0.2.0/24", ProxyHeader::XForwardedFor)];
        let h = headers(&[("forwarded", "for=1.2.3.4, for=192.0.2.1")]);
        assert_eq!(client("10.0.0.2", &h, &mixed), ip("192.0.2.1"));
    }

    #[test]
    fn the_scheme_is_the_outermost_trusted_proxys() {
        let trusted = [trust("10.0.0.0/8", ProxyHeader::XForwardedFor)];
        // A TLS load balancer (10.0.0.9) in front of nginx (10.0.0.2), both appending;
        // the client's own claim is on the left.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7, 10.0.0.9"),
            ("x-forwarded-proto", "http, https, http"),
        ]);
        assert_eq!(scheme("10.0.0.2", &h, &trusted), Some(Scheme::Https));
        // One proxy that overwrites the scheme with its own.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4, 203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        assert_eq!(scheme("10.0.0.2", &h, &trusted), Some(Scheme::Https));
        // A scheme without an address, and nothing the proxy understood.
        let h = headers(&[("x-forwarded-proto", "https")]);
        assert_eq!(
            resolve(ip("10.0.0.2"), &h, &trusted, true).scheme,
            Some(Scheme::Https)
        );
        let h = headers(&[("x-forwarded-proto", "gopher")]);
        assert_eq!(scheme("10.0.0.2", &h, &trusted), None);
    }

    #[test]
    fn the_host_is_the_outermost_trusted_proxys() {
        let host = |peer: &str, h: &HeaderMap, trusted: &[TrustedProxy]| {
            resolve(ip(peer), h, trusted, true).host
        };
        let xff = [trust("10.0.0.0/8", ProxyHeader::XForwardedFor)];
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-host", "chat.example.com"),
        ]);
        assert_eq!(
            host("10.0.0.2", &h, &xff).as_deref(),
            Some("chat.example.com")
        );
        assert_eq!(host("198.51.100.1", &h, &xff), None, "spoofed");
        let ip10 = ip("10.0.0.2");
        assert_eq!(resolve(ip10, &h, &xff, false).host, None, "hosts not read");
        // Two proxies appending; the client's own claim is on the left.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7, 10.0.0.9"),
            (
                "x-forwarded-host",
                "evil.example, chat.example.com:8443, internal",
            ),
        ]);
        assert_eq!(
            host("10.0.0.2", &h, &xff).as_deref(),
            Some("chat.example.com:8443")
        );
        // An IPv6 literal with a port.
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-host", "[::1]:8080"),
        ]);
        assert_eq!(host("10.0.0.2", &h, &xff).as_deref(), Some("[::1]:8080"));
        // Only a host, and what is not one.
        let h = headers(&[("x-forwarded-host", "chat.example.com")]);
        assert_eq!(
            host("10.0.0.2", &h, &xff).as_deref(),
            Some("chat.example.com")
        );
        for bad in [
            "user@chat.example.com",
            "chat.example.com/path",
            "",
            "a b",
            "a.example:",
            "a.example:abc",
            "a.example:99999",
            "a.example:+443",
            "[::1]abc",
            "\"a.example",
            "\"\"a.example\"\"",
        ] {
            let h = headers(&[
                ("x-forwarded-for", "203.0.113.7"),
                ("x-forwarded-host", bad),
            ]);
            assert_eq!(host("10.0.0.2", &h, &xff), None, "{bad:?}");
        }
        let rfc = [trust("10.0.0.0/8", ProxyHeader::Forwarded)];
        let h = headers(&[(
            "forwarded",
            "for=203.0.113.7;host=\"chat.example.com:8443\";proto=https",
        )]);
        assert_eq!(
            host("10.0.0.2", &h, &rfc).as_deref(),
            Some("chat.example.com:8443")
        );
        // Not the header this proxy writes.
        let h = headers(&[("x-forwarded-host", "chat.example.com")]);
        assert_eq!(host("10.0.0.2", &h, &rfc), None);
    }

    #[test]
    fn networks_parse_and_match() {
        let v6: ProxyNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let one = ProxyNet::from(ip("127.0.0.1"));
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(one.contains(ip("::ffff:127.0.0.1")), "v4-mapped v6");
        let all: ProxyNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/", "10.0.0.0/40", "::/129", "host.example"] {
            assert!(bad.parse::<ProxyNet>().is_err(), "{bad}");
        }
    }
}
