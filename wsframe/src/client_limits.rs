//! Per-client limits, both off by default: WebSocket connections open at once per client
//! address (over it: 503) and handshakes per client address over time (over it: 429
//! with `Retry-After`).
//!
//! The address is the one left after trusted-proxy resolution
//! ([`Config::trust_proxy`](crate::Config::trust_proxy)), so clients behind a trusted
//! proxy are counted one by one; behind a proxy that is not trusted they would all be
//! one client, which is why nothing is limited unless asked. Owns the per-address table
//! and the slot a connection holds; never answers a request itself.
//!
//! A client is an IPv4 address (a v4-mapped IPv6 address is that IPv4 address) or an
//! IPv6 /64: one host is routinely given a whole /64, so a per-address key would let it
//! pass both limits. The table holds at most [`MAX_TRACKED`] clients: when it is full and
//! no entry can be forgotten yet, a new client's handshake is throttled (429) until one
//! can, while the clients already known go on as before.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::token_bucket::TokenBucket;

/// Most clients the table tracks at once (about 10 MB).
pub(crate) const MAX_TRACKED: usize = 1 << 17;

/// How many handshakes one client address may make: `n` per period on average, in
/// bursts of up to `burst` (a token bucket; the burst defaults to `n`). Set it with
/// [`Config::max_handshakes_per_client`](crate::Config::max_handshakes_per_client).
///
/// ```
/// use std::time::Duration;
/// use wsframe::HandshakeRate;
/// let rate = HandshakeRate::per_second(5).burst(20);
/// assert_eq!(rate.get_burst(), 20);
/// assert_eq!(HandshakeRate::per_minute(30).get_interval(), Duration::from_secs(2));
/// assert_eq!(HandshakeRate::per_second(0).get_burst(), 1); // at least one
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeRate {
    /// Time to earn one handshake back.
    interval: Duration,
    burst: u32,
}

impl HandshakeRate {
    /// `n` handshakes per second on average (at least 1), bursts of up to `n`.
    pub fn per_second(n: u32) -> HandshakeRate {
        HandshakeRate::per(n, Duration::from_secs(1))
    }

    /// `n` handshakes per minute on average (at least 1), bursts of up to `n`.
    pub fn per_minute(n: u32) -> HandshakeRate {
        HandshakeRate::per(n, Duration::from_secs(60))
    }

    fn per(n: u32, period: Duration) -> HandshakeRate {
        let n = n.max(1);
        HandshakeRate {
            interval: period / n,
            burst: n,
        }
    }

    /// Allow bursts of up to `n` handshakes (at least 1).
    pub fn burst(mut self, n: u32) -> HandshakeRate {
        self.burst = n.max(1);
        self
    }

    /// The time in which one handshake is earned back.
    pub fn get_interval(&self) -> Duration {
        self.interval
    }

    /// The largest burst.
    pub fn get_burst(&self) -> u32 {
        self.burst
    }
}

/// One client address's share.
struct Client {
    /// WebSocket connections holding a [`ClientSlot`].
    open: usize,
    /// The handshake bucket.
    bucket: TokenBucket,
}

impl Client {
    /// Nothing to remember: no connection and a full bucket, as if new.
    fn is_idle(&self, now: Instant) -> bool {
        self.open == 0 && self.bucket.full_at() <= now
    }
}

/// The key a client is counted under: an IPv4 address, or an IPv6 /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
    }
}

/// The table of client addresses, shared by an app's connections.
pub(crate) struct ClientLimits {
    max_open: Option<usize>,
    rate: Option<HandshakeRate>,
    clients: Mutex<Table>,
}

struct Table {
    clients: HashMap<IpAddr, Client>,
    /// Forget idle clients when the table grows past this.
    sweep_at: usize,
    /// At most this many clients.
    capacity: usize,
    /// The earliest instant an entry the last sweep kept (or a connection released
    /// since) can be forgotten: a full table is swept again only then.
    next_idle: Option<Instant>,
}

const MIN_SWEEP: usize = 1024;

/// The answer to a client's handshake.
pub(crate) enum Admission {
    /// Go on; hold the slot for as long as the connection lives.
    Admitted(ClientSlot),
    /// Already `max_connections_per_client` open: 503.
    TooManyConnections,
    /// Over its handshake rate: 429, with the time until the next one is allowed.
    TooManyHandshakes { retry_after: Duration },
}

impl ClientLimits {
    pub(crate) fn new(max_open: Option<usize>, rate: Option<HandshakeRate>) -> Arc<ClientLimits> {
        ClientLimits::with_capacity(max_open, rate, MAX_TRACKED)
    }

    fn with_capacity(
        max_open: Option<usize>,
        rate: Option<HandshakeRate>,
        capacity: usize,
    ) -> Arc<ClientLimits> {
        Arc::new(ClientLimits {
            max_open,
            rate,
            clients: Mutex::new(Table {
                clients: HashMap::new(),
                sweep_at: MIN_SWEEP.min(capacity),
                capacity,
                next_idle: None,
            }),
        })
    }

    /// Admit a handshake from `client` at `now`, or say why not.
    pub(crate) fn admit(self: &Arc<Self>, client: IpAddr, now: Instant) -> Admission {
        // Off, or an address the host server did not give (a mounted app): not limited.
        if (self.max_open.is_none() && self.rate.is_none()) || client.is_unspecified() {
            return Admission::Admitted(ClientSlot(None));
        }
        let client = client_key(client);
        let mut table = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if !table.clients.contains_key(&client) {
            if table.clients.len() >= table.sweep_at
                && (table.clients.len() < table.capacity
                    || table.next_idle.is_some_and(|at| at <= now))
            {
                table.sweep(now);
            }
            if table.clients.len() >= table.capacity {
                // Full, and nothing to forget before `next_idle`: a new client waits.
                let retry_after = table
                    .next_idle
                    .map_or(Duration::from_secs(1), |at| at - now);
                return Admission::TooManyHandshakes { retry_after };
            }
        }
        let entry = table.clients.entry(client).or_insert(Client {
            open: 0,
            bucket: TokenBucket::full(now),
        });
        if let Some(rate) = self.rate
            && let Err(retry_after) = entry.bucket.take(now, rate.interval, rate.burst)
        {
            return Admission::TooManyHandshakes { retry_after };
        }
        if self.max_open.is_some_and(|max| entry.open >= max) {
            return Admission::TooManyConnections;
        }
        entry.open += 1;
        Admission::Admitted(ClientSlot(Some((self.clone(), client))))
    }

    fn release(&self, client: IpAddr) {
        let mut table = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = table.clients.get_mut(&client) {
            entry.open = entry.open.saturating_sub(1);
            if entry.is_idle(Instant::now()) {
                table.clients.remove(&client);
            } else if entry.open == 0 {
                let at = entry.bucket.full_at();
                table.next_idle = Some(table.next_idle.map_or(at, |next| next.min(at)));
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clients
            .len()
    }
}

impl Table {
    /// Forget clients with no connection and a full bucket: they are as if new.
    /// Runs when the table doubled since the last sweep, so its cost is spread over
    /// the handshakes that grew it; a full table, only once an entry can be forgotten.
    fn sweep(&mut self, now: Instant) {
        let mut next_idle: Option<Instant> = None;
        self.clients.retain(|_, client| {
            let keep = !client.is_idle(now);
            if keep && client.open == 0 {
                let at = client.bucket.full_at();
                next_idle = Some(next_idle.map_or(at, |next| next.min(at)));
            }
            keep
        });
        self.next_idle = next_idle;
        self.sweep_at = (self.clients.len() * 2).max(MIN_SWEEP).min(self.capacity);
    }
}

/// A client's share of `max_connections_per_client`, held by its connection from the
/// handshake to the close; dropping it frees the share.
pub(crate) struct ClientSlot(Option<(Arc<ClientLimits>, IpAddr)>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        if let Some((limits, client)) = self.0.take() {
            limits.release(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn connections_are_counted_per_address_until_their_slot_drops() {
        let limits = ClientLimits::new(Some(2), None);
        let now = Instant::now();
        let a = ip("203.0.113.1");
        let first = limits.admit(a, now);
        let second = limits.admit(a, now);
        assert!(matches!(
            limits.admit(a, now),
            Admission::TooManyConnections
        ));
        assert!(matches!(
            limits.admit(ip("203.0.113.2"), now),
            Admission::Admitted(_)
        ));
        drop(first);
        assert!(matches!(limits.admit(a, now), Admission::Admitted(_)));
        drop(second);
        // Unknown addresses (a mounted app without the peer) are not limited.
        let unknown = ip("0.0.0.0");
        let held: Vec<_> = (0..5).map(|_| limits.admit(unknown, now)).collect();
        assert!(held.iter().all(|a| matches!(a, Admission::Admitted(_))));
    }

    #[tokio::test(start_paused = true)]
    async fn handshakes_are_a_token_bucket_per_address() {
        let limits = ClientLimits::new(None, Some(HandshakeRate::per_second(2).burst(3)));
        let a = ip("203.0.113.1");
        let now = Instant::now();
        for _ in 0..3 {
            assert!(matches!(limits.admit(a, now), Admission::Admitted(_)));
        }
        match limits.admit(a, now) {
            Admission::TooManyHandshakes { retry_after } => {
                assert_eq!(retry_after, Duration::from_millis(500));
            }
            _ => panic!("a fourth handshake at once is over the burst"),
        }
        assert!(matches!(
            limits.admit(ip("203.0.113.2"), now),
            Admission::Admitted(_)
        ));
        let later = now + Duration::from_millis(500);
        assert!(matches!(limits.admit(a, later), Admission::Admitted(_)));
        assert!(matches!(
            limits.admit(a, later),
            Admission::TooManyHandshakes { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_addresses_are_forgotten() {
        let limits = ClientLimits::new(Some(1), Some(HandshakeRate::per_second(1)));
        let now = Instant::now();
        for i in 1..=3000u32 {
            let client = IpAddr::from(i.to_be_bytes());
            drop(limits.admit(client, now));
        }
        assert_eq!(
            limits.tracked(),
            3000,
            "each bucket is full again only in 1 s"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        let later = Instant::now();
        for i in 3001..=6000u32 {
            drop(limits.admit(IpAddr::from(i.to_be_bytes()), later));
        }
        assert!(
            limits.tracked() < 5000,
            "the first 3000 were swept: {}",
            limits.tracked()
        );
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_table_throttles_new_clients_until_an_entry_can_be_forgotten() {
        let rate = HandshakeRate::per_second(1).burst(2);
        let limits = ClientLimits::with_capacity(None, Some(rate), 4);
        let now = Instant::now();
        for i in 1..=4u8 {
            drop(limits.admit(IpAddr::from([203, 0, 113, i]), now));
        }
        assert_eq!(limits.tracked(), 4);
        match limits.admit(ip("198.51.100.1"), now) {
            Admission::TooManyHandshakes { retry_after } => {
                assert_eq!(retry_after, Duration::from_secs(1), "when one is idle");
            }
            _ => panic!("a fifth client does not fit"),
        }
        assert_eq!(limits.tracked(), 4, "refused, not added");
        // Clients already known are not affected.
        assert!(matches!(
            limits.admit(ip("203.0.113.1"), now),
            Admission::Admitted(_)
        ));
        tokio::time::advance(Duration::from_secs(1)).await;
        let later = Instant::now();
        assert!(matches!(
            limits.admit(ip("198.51.100.1"), later),
            Admission::Admitted(_)
        ));
        assert!(limits.tracked() <= 4, "{}", limits.tracked());
    }

    #[test]
    fn a_client_is_an_ipv4_address_or_an_ipv6_64() {
        assert_eq!(client_key(ip("::ffff:203.0.113.1")), ip("203.0.113.1"));
        assert_eq!(client_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("203.0.113.1")), ip("203.0.113.1"));
    }
}
