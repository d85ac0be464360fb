//! Names that generated code must not capture: a handler called `value`, a dependency
//! called `rejection`, arguments called `req`, `ws`, `hub`; a handler in a nested module
//! registered by path; attributes below the macro; an async fn without `.await`.
#![deny(warnings)]
#![deny(clippy::pedantic)]
#![allow(clippy::needless_pass_by_value)]

use wsframe::prelude::*;

#[dependency]
async fn rejection(#[query] token: Option<String>) -> Result<String, Rejection> {
    token.ok_or_else(|| Rejection::unauthorized("no token"))
}

#[websocket("/v/<id>")]
async fn value(ws: WebSocket, id: u32, #[depends(rejection)] req: String, hub: Hub) {
    let _ = (id, req, hub.connection_count());
    drop(ws);
}

mod api {
    pub mod v1 {
        use wsframe::prelude::*;

        /// Does nothing, without awaiting: the attribute requires `async`.
        #[websocket("/api/v1/noop")]
        #[allow(unused_variables)]
        pub async fn noop(ws: WebSocket) {}
    }
}

fn main() {
    let _app = App::new().routes(routes![value, api::v1::noop]);
    let _app = App::new().route(api::v1::noop);
}
