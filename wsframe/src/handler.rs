//! Handlers: async functions that take a socket handle and extractors.
//!
//! [`WsHandler`] is implemented for every `Fn(S, T1, …, Tn) -> impl Future` where `S` is
//! a socket handle ([`WebSocket`] or [`TypedWebSocket`](crate::TypedWebSocket)) and each
//! `Ti` is a [`FromHandshake`] extractor. Extractors run in order before the handler
//! body; the first rejection answers the handshake and the body never runs.
//! The `#[websocket]` attribute generates the same calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{Error, FromHandshake, HandshakeRequest, Requirements, Result, WebSocket};

/// A boxed, type-erased WebSocket handler as stored in the router.
pub(crate) type BoxedWsHandler = Arc<
    dyn Fn(WebSocket, Arc<HandshakeRequest>) -> Pin<Box<dyn Future<Output = Result<()>> + Send>>
        + Send
        + Sync,
>;

/// What a handler may return: `()` or `Result<(), E>` with `E: Into<wsframe::Error>`.
///
/// An error (other than a disconnect) closes the connection with 1011 and is logged.
///
/// ```
/// use wsframe::testing::TestClient;
/// use wsframe::{App, CloseCode, Error, WebSocket};
///
/// // An error type of your own, converted into wsframe's.
/// struct DatabaseDown;
///
/// impl From<DatabaseDown> for Error {
///     fn from(_: DatabaseDown) -> Error {
///         Error::custom("database down") // logged, not sent to the client
///     }
/// }
///
/// async fn hello(ws: WebSocket) {
///     let _ = ws.send_text("hello").await; // `()`: the connection closes with 1000
/// }
///
/// async fn lookup(ws: WebSocket) -> Result<(), DatabaseDown> {
///     let _ = ws.send_text("looking up").await;
///     Err(DatabaseDown)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new().websocket("/hello", hello).websocket("/lookup", lookup);
/// let client = TestClient::new(app)?;
/// let mut ws = client.connect("/hello").await?;
/// assert_eq!(ws.receive_text().await?, "hello");
/// assert_eq!(ws.receive_close().await?.code, Some(CloseCode::NORMAL));
///
/// let mut ws = client.connect("/lookup").await?;
/// assert_eq!(ws.receive_text().await?, "looking up");
/// assert_eq!(ws.receive_close().await?.code, Some(CloseCode::INTERNAL_ERROR));
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid return type for a WebSocket handler",
    label = "handlers return `()` or `Result<(), E>`",
    note = "return `wsframe::Result<()>` to use `?` on wsframe's errors, or `()`"
)]
pub trait HandlerResult: Send {
    /// The result as wsframe's error type.
    fn into_result(self) -> Result<()>;
}

#[diagnostic::do_not_recommend]
impl HandlerResult for () {
    fn into_result(self) -> Result<()> {
        Ok(())
    }
}

#[diagnostic::do_not_recommend]
impl<E: Into<Error> + Send> HandlerResult for std::result::Result<(), E> {
    fn into_result(self) -> Result<()> {
        self.map_err(Into::into)
    }
}

/// A socket handle a handler can take as its first argument.
///
/// Implemented for [`WebSocket`] and [`TypedWebSocket`](crate::TypedWebSocket);
/// implement it to hand your handlers a wrapper of your own. The first argument of a
/// handler is its socket, converted through this trait, for
/// [`App::websocket`](crate::App::websocket) and for the
/// [`#[websocket]`](crate::websocket) attribute alike (which takes the first argument
/// whatever its type is called, so an alias works too):
///
/// ```
/// use wsframe::testing::TestClient;
/// use wsframe::{App, FromWebSocket, WebSocket};
///
/// /// A socket whose every message is signed by the bot.
/// struct Bot(WebSocket);
///
/// impl FromWebSocket for Bot {
///     fn from_websocket(ws: WebSocket) -> Self {
///         Bot(ws)
///     }
/// }
///
/// impl Bot {
///     async fn say(&self, text: &str) -> wsframe::Result<()> {
///         self.0.send_text(format!("[bot] {text}")).await
///     }
/// }
///
/// async fn greeter(bot: Bot) -> wsframe::Result<()> {
///     bot.say("hello").await
/// }
///
/// #[wsframe::websocket("/bot/<name>")]
/// async fn named(bot: Bot, name: String) -> wsframe::Result<()> {
///     bot.say(&format!("hello {name}")).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().websocket("/bot", greeter).route(named))?;
/// assert_eq!(client.connect("/bot").await?.receive_text().await?, "[bot] hello");
/// assert_eq!(client.connect("/bot/ann").await?.receive_text().await?, "[bot] hello ann");
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket handle",
    label = "a handler's first argument is its socket",
    note = "take `WebSocket` or `TypedWebSocket<In, Out>` first, or implement `wsframe::FromWebSocket` for `{Self}`"
)]
pub trait FromWebSocket: Send + Sized {
    /// Wrap the raw handle.
    fn from_websocket(ws: WebSocket) -> Self;

    /// What the handle's messages are, for the app's AsyncAPI document: text or binary
    /// unless it says otherwise (`TypedWebSocket<In, Out>` says JSON of `In` and `Out`).
    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        let _ = doc;
    }
}

#[diagnostic::do_not_recommend]
impl FromWebSocket for WebSocket {
    fn from_websocket(ws: WebSocket) -> Self {
        ws
    }
}

#[diagnostic::do_not_recommend]
impl<In: Send, Out: Send> FromWebSocket for crate::TypedWebSocket<In, Out> {
    fn from_websocket(ws: WebSocket) -> Self {
        ws.typed()
    }

    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        doc.json_messages::<In, Out>();
    }
}

/// An async function usable as a WebSocket route handler; see the module docs.
///
/// ```
/// use wsframe::{App, Query, WebSocket};
///
/// #[derive(serde::Deserialize)]
/// struct Params { name: String }
///
/// async fn greet(mut ws: WebSocket, Query(p): Query<Params>) -> wsframe::Result<()> {
///     ws.send_text(format!("hello {}", p.name)).await
/// }
///
/// let app = App::new().websocket("/greet", greet);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket handler",
    label = "not an async fn of a socket and extractors",
    note = "a handler is an `async fn` whose first argument is the socket (`WebSocket`, `TypedWebSocket<In, Out>` or a `FromWebSocket` type), whose other arguments (up to 10) implement `FromHandshake`, and which returns `()` or `Result<(), E>`"
)]
pub trait WsHandler<Args>: Clone + Send + Sync + 'static {
    /// Run extraction and then the handler.
    fn call(
        self,
        ws: WebSocket,
        req: Arc<HandshakeRequest>,
    ) -> impl Future<Output = Result<()>> + Send;

    /// What the extractors need from the app, checked when the app is built (see
    /// [`Requirements`]). Nothing by default.
    fn requirements(needs: &mut Requirements) {
        let _ = needs;
    }

    /// What the handler's extractors read from the handshake, for the app's AsyncAPI
    /// document (see [`FromHandshake::describe`]).
    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        let _ = doc;
    }
}

macro_rules! impl_ws_handler {
    ($($T:ident),*) => {
        impl<F, Fut, R, S, $($T,)*> WsHandler<(S, $($T,)*)> for F
        where
            F: Fn(S, $($T,)*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future<Output = R> + Send,
            R: HandlerResult,
            S: FromWebSocket,
            $($T: FromHandshake + 'static,)*
        {
            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn call(self, mut ws: WebSocket, req: Arc<HandshakeRequest>) -> impl Future<Output = Result<()>> + Send {
                async move {
                    $(
                        let $T = match crate::__private::extracted(&req, $T::from_handshake(&req)).await {
                            Ok(value) => value,
                            Err(rejection) => {
                                ws.reject(rejection).await;
                                return Ok(());
                            }
                        };
                    )*
                    drop(req);
                    self(S::from_websocket(ws), $($T,)*).await.into_result()
                }
            }

            #[allow(unused_variables)]
            fn requirements(needs: &mut Requirements) {
                $(<$T as FromHandshake>::requirements(needs);)*
            }

            #[allow(unused_variables)]
            fn describe(doc: &mut crate::asyncapi::RouteDoc) {
                S::describe(doc);
                $(<$T as FromHandshake>::describe(doc);)*
            }
        }
    };
}

impl_ws_handler!();
impl_ws_handler!(T1);
impl_ws_handler!(T1, T2);
impl_ws_handler!(T1, T2, T3);
impl_ws_handler!(T1, T2, T3, T4);
impl_ws_handler!(T1, T2, T3, T4, T5);
impl_ws_handler!(T1, T2, T3, T4, T5, T6);
impl_ws_handler!(T1, T2, T3, T4, T5, T6, T7);
impl_ws_handler!(T1, T2, T3, T4, T5, T6, T7, T8);
impl_ws_handler!(T1, T2, T3, T4, T5, T6, T7, T8, T9);
impl_ws_handler!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10);

pub(crate) fn boxed<H: WsHandler<Args>, Args: 'static>(handler: H) -> BoxedWsHandler {
    Arc::new(move |ws, req| Box::pin(handler.clone().call(ws, req)))
}
