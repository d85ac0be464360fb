//! wsframe's echo route with permessage-deflate in its dedicated mode: server context
//! takeover, one compression context per connection (kept between messages as the last
//! window of bytes sent, restored into a pooled compressor). Otherwise the same as
//! server-wsframe.rs, whose default Config uses the shared mode.
//! usage: server-wsframe-dedicated ADDR
use wsframe::prelude::*;
use wsframe::{Compression, CompressionMode};

#[websocket("/ws")]
async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    while let Ok(message) = ws.receive().await {
        ws.send(message).await?;
    }
    Ok(())
}

#[tokio::main]
async fn main() -> wsframe::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:9004".into());
    let compression = Compression::default().mode(CompressionMode::Dedicated);
    let limits = wsframe::Limits::default().compression(compression);
    let config = wsframe::Config::default().max_connections(19_000).limits(limits);
    App::new().config(config).routes(routes![echo]).serve(addr).await
}
