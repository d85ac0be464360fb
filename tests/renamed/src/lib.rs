//! A crate that depends on wsframe as `ws`: the attributes take `crate = "ws"` and the
//! expansion names nothing else.
#![deny(warnings)]

/// A re-export, as a framework built on wsframe would offer it.
pub mod framework {
    pub use ws as wsframe;
}

use ws::{Rejection, WebSocket};

/// A dependency through the renamed crate.
#[ws::dependency(crate = "ws")]
pub async fn token(#[query] value: Option<String>) -> Result<String, Rejection> {
    value.ok_or_else(|| Rejection::unauthorized("token required"))
}

/// A handler through the renamed crate.
#[ws::websocket("/hello/<name>", crate = "ws")]
pub async fn hello(
    ws: WebSocket,
    name: String,
    #[depends(token)] secret: String,
) -> ws::Result<()> {
    ws.send_text(format!("hello {name} ({secret})")).await
}

/// A handler through a re-export path.
#[framework::wsframe::websocket("/bye", crate = "framework::wsframe")]
pub async fn bye(ws: WebSocket) -> ws::Result<()> {
    ws.send_text("bye").await
}

/// The app.
pub fn app() -> ws::App {
    ws::App::new().routes(ws::routes![hello, bye])
}

#[cfg(test)]
mod tests {
    use ws::testing::TestClient;

    #[tokio::test]
    async fn renamed_crate_routes_work() {
        let client = TestClient::new(super::app()).unwrap();
        let mut socket = client.connect("/hello/ada?value=t").await.unwrap();
        assert_eq!(socket.receive_text().await.unwrap(), "hello ada (t)");
        let mut socket = client.connect("/bye").await.unwrap();
        assert_eq!(socket.receive_text().await.unwrap(), "bye");
        let err = client.connect("/hello/ada").await.unwrap_err();
        assert_eq!(err.status().unwrap().as_u16(), 401);
    }
}
