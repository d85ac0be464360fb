//! Peer "obvious" broadcast: axum ws + `tokio::sync::broadcast`, one forwarding task per
//! subscriber, one socket write per message per subscriber. `/sub` subscribes, `/pub`
//! publishes every text it receives.
//! usage: server-obvious-bcast ADDR
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::sync::broadcast;

type Tx = broadcast::Sender<Message>;

async fn sub(ws: WebSocketUpgrade, State(tx): State<Tx>) -> Response {
    ws.on_upgrade(move |mut socket: WebSocket| async move {
        let mut rx = tx.subscribe();
        loop {
            match rx.recv().await {
                Ok(message) => {
                    if socket.send(message).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

async fn publish(ws: WebSocketUpgrade, State(tx): State<Tx>) -> Response {
    ws.on_upgrade(move |mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if let Message::Text(_) = message {
                let _ = tx.send(message);
            }
        }
    })
}

#[tokio::main]
async fn main() {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".into());
    let (tx, _) = broadcast::channel(1024);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .expect("bind")
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let app = Router::new()
        .route("/sub", get(sub))
        .route("/pub", get(publish))
        .with_state(tx);
    axum::serve(listener, app).await.expect("serve");
}
