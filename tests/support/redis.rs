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
