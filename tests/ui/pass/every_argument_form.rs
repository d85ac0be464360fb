//! Every argument and option form the attribute accepts, under `#![deny(warnings)]`.
#![deny(warnings)]

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wsframe::prelude::*;
use wsframe::{Cookies, PathParams};

#[derive(Deserialize)]
struct Filter {
    topic: String,
}

#[derive(Deserialize)]
struct In {
    n: u32,
}

#[derive(Serialize)]
struct Out {
    n: u32,
}

#[derive(Clone)]
struct Db;

/// A dependency with a nested dependency.
#[dependency]
async fn user(#[query] name: Option<String>) -> Result<String, Rejection> {
    name.ok_or_else(|| Rejection::unauthorized("log in"))
}

#[dependency]
async fn profile(#[depends(user)] name: String, State(_db): State<Db>) -> String {
    format!("profile of {name}")
}

#[dependency]
async fn require_admin(#[depends(user)] name: String) -> Result<(), Rejection> {
    if name == "admin" {
        Ok(())
    } else {
        Err(Rejection::forbidden("admins only"))
    }
}

struct RateLimit;

impl FromHandshake for RateLimit {
    type Rejection = std::convert::Infallible;
    async fn from_handshake(_: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(RateLimit)
    }
}

/// Documented handlers keep their docs; other attributes (this lint level) apply to the
/// function.
#[allow(clippy::too_many_arguments)]
#[websocket(
    "/rooms/<room_name>/<rest..>?<page>&<sort>",
    protocols = ["chat.v2", "chat.v1"],
    max_message_size = 1 << 20,
    max_frame_size = 64 << 10,
    idle_timeout = Duration::from_secs(30),
    ping_interval = Duration::from_secs(10),
    max_message_rate = wsframe::MessageRate::per_second(50).burst(100),
    guards(require_admin, RateLimit),
    crate = "wsframe",
)]
pub(crate) async fn room(
    ws: WebSocket,
    room_name: String,
    rest: std::path::PathBuf,
    page: u32,
    sort: Option<String>,
    Query(filter): Query<Filter>,
    cookies: Cookies,
    #[cookie] theme: Option<String>,
    #[query] lang: Option<String>,
    #[header] user_agent: Option<String>,
    #[header] x_page_size: u16,
    #[depends(profile)] profile_text: String,
    PeerAddr(peer): PeerAddr,
    params: PathParams,
    _headers: wsframe::http::HeaderMap,
    maybe: Option<Query<Filter>>,
    maybe_db: Option<State<Db>>,
    checked: Result<Query<Filter>, Rejection>,
) -> wsframe::Result<()> {
    let summary = format!(
        "{room_name} {rest:?} {page} {sort:?} {} {:?} {theme:?} {lang:?} {user_agent:?} {x_page_size} {profile_text} {peer} {} {} {} {}",
        filter.topic,
        cookies.get("a"),
        params.len(),
        maybe.is_some(),
        maybe_db.is_some(),
        checked.is_ok()
    );
    ws.send_text(summary).await
}

#[websocket("/typed")]
async fn typed(mut ws: TypedWebSocket<In, Out>) {
    while let Ok(In { n }) = ws.receive().await {
        if ws.send(&Out { n }).await.is_err() {
            break;
        }
    }
}

#[websocket("/unit")]
async fn unit(_ws: WebSocket) {}

fn main() {
    let _app = App::new().state(Db).routes(routes![room, typed, unit]);
}
