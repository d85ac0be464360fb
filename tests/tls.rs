//! `wss://` with the `tls` feature: a self-signed certificate made at run time, a
//! client that trusts it, and clients that do not speak TLS or do not trust it.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::prelude::*;
use wsframe::{Config, TlsConfig};
use wsframe_tests::*;

#[websocket("/ws")]
async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

/// A certificate for `localhost` in PEM files, in a directory of this call's own that
/// lasts as long as the returned guard.
fn certificate() -> (
    rcgen::CertifiedKey,
    std::path::PathBuf,
    std::path::PathBuf,
    ScratchDir,
) {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = ScratchDir::new("tls");
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, key.cert.pem()).unwrap();
    std::fs::write(&key_path, key.key_pair.serialize_pem()).unwrap();
    (key, cert_path, key_path, dir)
}

fn client_config(trusted: Option<&rcgen::CertifiedKey>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    if let Some(key) = trusted {
        roots.add(key.cert.der().clone()).unwrap();
    }
    ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[tokio::test]
async fn wss_with_a_certificate_from_pem_files() {
    let (key, cert_path, key_path, _dir) = certificate();
    let tls = TlsConfig::from_pem_files(&cert_path, &key_path).unwrap();
    let server = TestServer::start(App::new().config(Config::default().tls(tls)).route(echo)).await;
    let connector = TlsConnector::from(Arc::new(client_config(Some(&key))));
    let name = ServerName::try_from("localhost").unwrap();

    // A client that trusts the certificate talks wss://.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = within(connector.connect(name.clone(), tcp)).await.unwrap();
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let (mut ws, _) = within(tokio_tungstenite::client_async(url, stream))
        .await
        .unwrap();
    ws.send(WsMessage::text("over TLS")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("over TLS")
    );

    // A client that does not trust it fails its handshake.
    let untrusting = TlsConnector::from(Arc::new(client_config(None)));
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    assert!(within(untrusting.connect(name.clone(), tcp)).await.is_err());

    // Plain HTTP to the TLS port gets no HTTP answer: the connection is closed.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&upgrade_request("/ws", "", &[]))
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within(tcp.read_to_end(&mut buf)).await;
    assert!(!buf.starts_with(b"HTTP/1.1 101"), "no upgrade without TLS");

    // And the server goes on serving TLS clients.
    ws.send(WsMessage::text("still here")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("still here")
    );
}

#[test]
fn unreadable_pem_files_are_clear_errors() {
    let dir = ScratchDir::new("tls-bad");
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "not a certificate").unwrap();
    let missing = dir.join("missing.pem");
    let e = TlsConfig::from_pem_files(&missing, &missing)
        .unwrap_err()
        .to_string();
    assert!(e.contains("missing.pem"), "{e}");
    let e = TlsConfig::from_pem_files(&empty, &empty)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no certificate") && e.contains("empty.pem"),
        "{e}"
    );
}

#[tokio::test]
async fn over_max_connections_a_wss_client_reads_503_inside_tls() {
    let (key, cert_path, key_path, _dir) = certificate();
    let tls = TlsConfig::from_pem_files(&cert_path, &key_path).unwrap();
    let config = Config::default().tls(tls).max_connections(1);
    let server = TestServer::start(App::new().config(config).route(echo)).await;
    let connector = TlsConnector::from(Arc::new(client_config(Some(&key))));
    let name = ServerName::try_from("localhost").unwrap();
    let url = format!("wss://localhost:{}/ws", server.addr.port());

    // The one allowed connection.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let stream = within(connector.connect(name.clone(), tcp)).await.unwrap();
    let (mut ws, _) = within(tokio_tungstenite::client_async(url.as_str(), stream))
        .await
        .unwrap();

    // The next one completes its TLS handshake and reads the 503 through it.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut refused = within(connector.connect(name.clone(), tcp)).await.unwrap();
    refused
        .write_all(&upgrade_request("/ws", "", &[]))
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = within(refused.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("too many connections"), "{answer}");
    assert_eq!(server.metrics().connections_refused, 1);

    // The first is unaffected.
    ws.send(WsMessage::text("still here")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("still here")
    );
}

#[tokio::test]
async fn with_tls_terminated_here_the_origin_is_compared_as_https() {
    let (key, cert_path, key_path, _dir) = certificate();
    let tls = TlsConfig::from_pem_files(&cert_path, &key_path).unwrap();
    // The test connects from 127.0.0.1, trusted as a proxy: even a trusted proxy's
    // `X-Forwarded-Proto: http` does not override the TLS terminated here.
    let local = "127.0.0.0/8".parse::<wsframe::ProxyNet>().unwrap();
    let config = Config::default()
        .tls(tls)
        .trust_proxy(local, wsframe::ProxyHeader::XForwardedFor);
    let server = TestServer::start(App::new().config(config).route(echo)).await;
    let connector = TlsConnector::from(Arc::new(client_config(Some(&key))));
    let port = server.addr.port();
    // The status of an upgrade request with this Host and these header lines, over TLS.
    let status = |host: String, extra: String| {
        let connector = connector.clone();
        async move {
            let tcp = TcpStream::connect(server.addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = within(connector.connect(name, tcp)).await.unwrap();
            let request = upgrade_request("/ws", &format!("Host: {host}\r\n{extra}"), &["host"]);
            tls.write_all(&request).await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                assert_eq!(within(tls.read(&mut byte)).await.unwrap(), 1, "closed");
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            head[9..12].parse::<u16>().unwrap()
        }
    };
    let cases = [
        (
            "a.example:443".to_string(),
            "Origin: https://a.example\r\n",
            101,
        ),
        (
            "a.example".to_string(),
            "Origin: https://a.example:443\r\n",
            101,
        ),
        (
            format!("localhost:{port}"),
            "Origin: https://localhost:{port}\r\n",
            101,
        ),
        (
            format!("localhost:{port}"),
            "Origin: http://localhost:{port}\r\n",
            403,
        ),
        ("a.example".to_string(), "Origin: http://a.example\r\n", 403),
        (
            "a.example".to_string(),
            "X-Forwarded-Proto: http\r\nOrigin: http://a.example\r\n",
            403,
        ),
    ];
    for (host, extra, expected) in cases {
        let extra = extra.replace("{port}", &port.to_string());
        assert_eq!(
            status(host.clone(), extra.clone()).await,
            expected,
            "Host {host}, {extra:?}"
        );
    }
}
