//! Per-client limits, both off by default: WebSocket connections open at once per client
//! address (over it: 503) and handshakes per client address over time (over it: 429
//! with `Retry-After`).
//!
//! The address is the one left after trusted-proxy resolution
//! ([`Config::trust_proxy`](crate::Config::trust_proxy)), so clients behind a trusted
//! proxy are counted one by one; behind a proxy that is not trusted they would all be
//! one client, which is why nothing is limited unless asked. Owns the per-address table
//! and the slot a connection holds; never answers a request itself.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

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

    /// Time for an empty bucket to fill up again.
    fn refill_time(&self) -> Duration {
        self.interval * self.burst
    }
}

/// One client address's share.
struct Client {
    /// WebSocket connections holding a [`ClientSlot`].
    open: usize,
    /// The handshake bucket: the instant at which it will be full again (the
    /// "theoretical arrival time" form of a token bucket: one instant instead of a
    /// count and a refill time).
    full_at: Instant,
}

/// The table of client addresses, shared by an app's connections.
pub(crate) struct ClientLimits {
    max_open: Option<usize>,
    rate: Option<HandshakeRate>,
    clients: Mutex<Table>,
}

struct Table {
    clients: HashMap<IpAddr, Client>,
    /// Forget idle addresses when the table grows past this.
    sweep_at: usize,
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
        Arc::new(ClientLimits {
            max_open,
            rate,
            clients: Mutex::new(Table {
                clients: HashMap::new(),
                sweep_at: MIN_SWEEP,
            }),
        })
    }

    /// Admit a handshake from `client` at `now`, or say why not.
    pub(crate) fn admit(self: &Arc<Self>, client: IpAddr, now: Instant) -> Admission {
        // Off, or an address the host server did not give (a mounted app): not limited.
        if (self.max_open.is_none() && self.rate.is_none()) || client.is_unspecified() {
            return Admission::Admitted(ClientSlot(None));
        }
        let mut table = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if table.clients.len() >= table.sweep_at {
            table.sweep(now);
        }
        let entry = table.clients.entry(client).or_insert(Client {
            open: 0,
            full_at: now,
        });
        if let Some(rate) = self.rate {
            // Taking one handshake moves the full-again instant one interval later;
            // the bucket holds at most `burst` intervals.
            let full_at = entry.full_at.max(now) + rate.interval;
            let limit = now + rate.refill_time();
            if full_at > limit {
                return Admission::TooManyHandshakes {
                    retry_after: full_at - limit,
                };
            }
            entry.full_at = full_at;
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
            if entry.open == 0 && entry.full_at <= Instant::now() {
                table.clients.remove(&client);
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
    /// Forget addresses with no connection and a full bucket: they are as if new.
    /// Runs when the table doubled since the last sweep, so its cost is spread over
    /// the handshakes that grew it.
    fn sweep(&mut self, now: Instant) {
        self.clients
            .retain(|_, client| client.open > 0 || client.full_at > now);
        self.sweep_at = (self.clients.len() * 2).max(MIN_SWEEP);
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
        for i in 0..3000u32 {
            let client = IpAddr::from(i.to_be_bytes());
            drop(limits.admit(client, now));
        }
        assert!(limits.tracked() <= 3000);
        tokio::time::advance(Duration::from_secs(2)).await;
        let later = Instant::now();
        for i in 3000..6000u32 {
            drop(limits.admit(IpAddr::from(i.to_be_bytes()), later));
        }
        assert!(
            limits.tracked() < 5000,
            "the first 3000 were swept: {}",
            limits.tracked()
        );
    }
}
