//! Running out of file descriptors never stops the accept loop. This test binary lowers
//! its own descriptor limit (so it runs alone in its process), exhausts it with
//! connections, then frees them and checks that the server serves again.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use wsframe::{App, WebSocket};
use wsframe_tests::*;

async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_accept_loop_survives_running_out_of_descriptors() {
    // Both the soft and the hard limit, so the server cannot raise it back.
    rlimit::setrlimit(rlimit::Resource::NOFILE, 96, 96).unwrap();
    let server = TestServer::start(App::new().websocket("/ws", echo)).await;

    let mut hogs = Vec::new();
    let mut failed_connects = 0;
    while server.metrics().accept_errors == 0 && failed_connects < 50 {
        match TcpStream::connect(server.addr).await {
            Ok(tcp) => hogs.push(tcp),
            Err(_) => {
                failed_connects += 1;
                // Give the accept loop a turn to hit the limit too.
                tokio::task::yield_now().await;
            }
        }
        if hogs.len() > 200 {
            break;
        }
    }
    wait_until("the server ran out of descriptors", || {
        server.metrics().accept_errors > 0
    })
    .await;

    drop(hogs);
    // Once descriptors are free again, a client is served.
    let mut ws = within(async {
        loop {
            if let Ok(ws) = try_connect(server.addr, "/ws", &[]).await {
                break ws;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    ws.send(WsMessage::text("back")).await.unwrap();
    assert_eq!(
        within(ws.next()).await.unwrap().unwrap(),
        WsMessage::text("back")
    );
}
