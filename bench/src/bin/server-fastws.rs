//! Peer "fastws": fastwebsockets behind a hyper 1 HTTP/1.1 upgrade, echoing text and
//! binary messages. fastwebsockets' defaults: auto-close and auto-pong on, vectored
//! writes, 64 MiB message limit; `FragmentCollector` hands over whole messages, as the
//! other peers do. Any path is accepted (like "raw"); a request that is not a WebSocket
//! upgrade gets 400. One task per connection: it serves the HTTP request, then runs the
//! echo loop on the upgraded stream itself.
//! usage: server-fastws ADDR
use std::sync::{Arc, Mutex};

use fastwebsockets::upgrade::{UpgradeFut, is_upgrade_request, upgrade};
use fastwebsockets::{FragmentCollector, OpCode, WebSocketError};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Where the request handler leaves the upgrade for the connection's task.
type Slot = Arc<Mutex<Option<UpgradeFut>>>;

fn handshake(mut req: Request<Incoming>, slot: &Slot) -> Response<Empty<Bytes>> {
    if !is_upgrade_request(&req) {
        return status(StatusCode::BAD_REQUEST);
    }
    match upgrade(&mut req) {
        Ok((response, fut)) => {
            *slot.lock().unwrap() = Some(fut);
            response
        }
        Err(_) => status(StatusCode::BAD_REQUEST),
    }
}

fn status(code: StatusCode) -> Response<Empty<Bytes>> {
    let mut response = Response::new(Empty::new());
    *response.status_mut() = code;
    response
}

async fn connection(stream: TcpStream) -> Result<(), WebSocketError> {
    let slot: Slot = Arc::default();
    let service = {
        let slot = slot.clone();
        service_fn(move |req| {
            let response = handshake(req, &slot);
            async move { Ok::<_, std::convert::Infallible>(response) }
        })
    };
    // Boxed, so that hyper's connection state is freed once the upgrade is done instead of
    // staying inside this task's future for the life of the WebSocket. The connection
    // future completes once the 101 is written and the upgrade is handed over.
    let serving = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
    let served = Box::pin(serving).await;
    let Some(upgrading) = slot.lock().unwrap().take() else { return Ok(()) };
    if served.is_err() {
        return Ok(());
    }
    let mut ws = FragmentCollector::new(upgrading.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".into());
    let listener = TcpListener::bind(&addr).await.expect("bind");
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = connection(stream).await;
        });
    }
}
