//! A real `redis-server` for a test: started on a free loopback port with persistence
//! off, stopped when dropped; it can be killed and started again on the same port.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Extra arguments, kept for a restart.
    args: Vec<String>,
    tls: bool,
}

impl RedisServer {
    /// Start one, or `None` (outside CI only; under CI a missing redis-server fails)
    /// when `redis-server` is not installed.
    pub fn start() -> Option<RedisServer> {
        let mut server = RedisServer::start_stopped()?;
        server.start_again();
        Some(server)
    }

    /// A free port and no process yet; `None` when redis-server is missing (see
    /// [`start`](RedisServer::start)).
    fn start_stopped() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            crate::skip_missing(
                "redis-server is not installed",
                "apt-get install redis-server",
            );
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Some(RedisServer {
            port,
            child: None,
            args: Vec::new(),
            tls: false,
        })
    }

    /// Start one with extra arguments (`requirepass`, users); with `tls` (certificate
    /// and key files), it speaks TLS only, and its URL is `rediss://localhost:PORT`.
    pub fn start_with(args: &[&str], tls: Option<(&Path, &Path)>) -> Option<RedisServer> {
        let mut server = RedisServer::start_stopped()?;
        server.args = args.iter().map(|arg| arg.to_string()).collect();
        if let Some((cert, key)) = tls {
            let port = server.port.to_string();
            let (cert, key) = (cert.display().to_string(), key.display().to_string());
            server.args.extend(
                [
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-cert-file",
                    &cert,
                    "--tls-key-file",
                    &key,
                    "--tls-ca-cert-file",
                    &cert,
                    "--tls-auth-clients",
                    "no",
                ]
                .map(String::from),
            );
            server.tls = true;
        }
        server.start_again();
        Some(server)
    }

    /// `redis://127.0.0.1:PORT` (`rediss://localhost:PORT` with TLS).
    pub fn url(&self) -> String {
        if self.tls {
            format!("rediss://localhost:{}", self.port)
        } else {
            format!("redis://127.0.0.1:{}", self.port)
        }
    }

    /// The URL with credentials: `user` may be empty (a password only).
    pub fn url_as(&self, user: &str, password: &str) -> String {
        self.url()
            .replacen("://", &format!("://{user}:{password}@"), 1)
    }

    /// Run `redis-cli` against it; its output, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        assert!(output.status.success(), "redis-cli {args:?} failed");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// How many connections subscribe to `channel` (`PUBSUB NUMSUB`).
    pub fn subscribers(&self, channel: &str) -> u64 {
        let reply = self.cli(&["PUBSUB", "NUMSUB", channel]);
        reply
            .lines()
            .last()
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("PUBSUB NUMSUB answered {reply:?}"))
    }

    /// Kill it (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it (again) on the same port, empty, and wait until it answers.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        // With TLS or a password PING needs more than a plain socket: listening is enough.
        let plain = !self.tls && self.args.is_empty();
        while !(if plain {
            answers_ping(addr)
        } else {
            listens(addr)
        }) {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {addr}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn listens(addr: SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

fn answers_ping(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut tcp) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
    else {
        return false;
    };
    let _ = tcp.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    tcp.write_all(b"PING\r\n").is_ok()
        && tcp.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real Redis Cluster for a test: 3 masters with a replica each, on loopback ports,
/// `cluster-node-timeout 1000`, made with `redis-cli --cluster create`; stopped when
/// dropped. One of its processes can be killed (a master, to see a failover).
pub struct RedisCluster {
    dir: std::path::PathBuf,
    nodes: Vec<(u16, Option<Child>)>,
}

impl RedisCluster {
    /// Start one, or `None` (outside CI only) when redis-server or redis-cli is missing.
    pub fn start() -> Option<RedisCluster> {
        for program in ["redis-server", "redis-cli"] {
            if Command::new(program).arg("--version").output().is_err() {
                crate::skip_missing(
                    &format!("{program} is not installed"),
                    "apt-get install redis-server redis-tools",
                );
                return None;
            }
        }
        static CLUSTERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = CLUSTERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("wsframe-cluster-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = RedisCluster {
            dir,
            nodes: Vec::new(),
        };
        for _ in 0..6 {
            let port = cluster_port();
            let child = cluster.spawn(port);
            cluster.nodes.push((port, Some(child)));
        }
        for (port, _) in &cluster.nodes {
            let addr = SocketAddr::from(([127, 0, 0, 1], *port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while !answers_ping(addr) {
                assert!(
                    Instant::now() < deadline,
                    "redis-server did not start on {addr}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_ok();
        Some(cluster)
    }

    fn spawn(&self, port: u16) -> Child {
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server")
    }

    /// Wait until every live node says `cluster_state:ok` and knows every slot.
    pub fn wait_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self
                .nodes
                .iter()
                .filter(|(_, child)| child.is_some())
                .all(|(port, _)| {
                    let info = self.cli(*port, &["CLUSTER", "INFO"]);
                    // A replica that never synced with its master cannot take over.
                    let replication = self.cli(*port, &["INFO", "replication"]);
                    info.contains("cluster_state:ok")
                        && info.contains("cluster_slots_ok:16384")
                        && (replication.contains("role:master")
                            || replication.contains("master_link_status:up"))
                });
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ok");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:P1,redis://127.0.0.1:P2,...`: every node (masters first).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|(port, _)| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Run `redis-cli` against the node on `port`; its output, trimmed.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The port of the master that serves `key` (or channel) now.
    pub fn master_of(&self, key: &str) -> u16 {
        let (port, _) = self.nodes.iter().find(|(_, c)| c.is_some()).unwrap();
        let slot = self.cli(*port, &["CLUSTER", "KEYSLOT", key]);
        let nodes = self.cli(*port, &["CLUSTER", "NODES"]);
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") || fields[2].contains("fail") {
                continue;
            }
            let slot: u32 = slot.parse().unwrap();
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse::<u32>().unwrap()..=b.parse().unwrap()).contains(&slot),
                None => range.parse::<u32>().ok() == Some(slot),
            });
            if serves {
                let addr = fields[1].split('@').next().unwrap();
                return addr.rsplit(':').next().unwrap().parse().unwrap();
            }
        }
        panic!("no master serves {key} (slot {slot}):\n{nodes}");
    }

    /// How many connections subscribe to the sharded `channel` on its master.
    pub fn shard_subscribers(&self, channel: &str) -> u64 {
        let port = self.master_of(channel);
        let reply = self.cli(port, &["PUBSUB", "SHARDNUMSUB", channel]);
        reply
            .lines()
            .last()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Kill the node on `port` (SIGKILL).
    pub fn kill(&mut self, port: u16) {
        for (p, child) in &mut self.nodes {
            if *p == port
                && let Some(mut child) = child.take()
            {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// Ports of the live nodes.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(p, _)| *p)
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free port whose cluster bus port (+10,000) is free too.
fn cluster_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 5_000) as u16;
    loop {
        let port = start + NEXT.fetch_add(1, Ordering::Relaxed) % 20_000;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if port + 10_000 < 65_535 && free(port) && free(port + 10_000) {
            return port;
        }
    }
}
