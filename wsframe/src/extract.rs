//! Extractors and guards: [`FromHandshake`] turns the handshake request into a handler
//! argument, or rejects the handshake before the upgrade; [`FromParam`] parses one path
//! or query parameter.
//!
//! Built-in extractors: [`Query`], [`Cookies`], [`PeerAddr`], [`ClientAddr`], [`State`],
//! [`http::HeaderMap`], [`PathParams`]; `Option<T>` for a `T` that can say it is absent
//! ([`OptionalFromHandshake`]), and `Result<T, T::Rejection>` (hands the guard's own
//! rejection to the handler).
//!
//! # A guard
//!
//! ```
//! use wsframe::{FromHandshake, HandshakeRequest, Rejection};
//!
//! struct User { name: String }
//!
//! impl FromHandshake for User {
//!     type Rejection = Rejection;
//!     async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
//!         match req.header("authorization") {
//!             Some("Bearer let-me-in") => Ok(User { name: "ada".into() }),
//!             _ => Err(Rejection::unauthorized("missing or wrong bearer token")),
//!         }
//!     }
//! }
//! ```

use std::future::Future;
use std::net::SocketAddr;

use http::HeaderMap;
use serde::de::DeserializeOwned;

use crate::{HandshakeRequest, PathParams, Rejection, Requirements};

/// Produces a handler argument from the handshake request, or rejects the handshake.
///
/// Runs before the upgrade; a rejection becomes the HTTP answer (see [`Rejection`]).
///
/// ```
/// use wsframe::testing::TestClient;
/// use wsframe::{App, FromHandshake, HandshakeRequest, Rejection, WebSocket};
///
/// /// A tenant named by the `x-tenant` header.
/// struct Tenant(String);
///
/// impl FromHandshake for Tenant {
///     type Rejection = Rejection;
///
///     async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
///         match req.header("x-tenant") {
///             Some(name) if !name.is_empty() => Ok(Tenant(name.to_owned())),
///             _ => Err(Rejection::bad_request("the x-tenant header is required")),
///         }
///     }
/// }
///
/// async fn feed(ws: WebSocket, Tenant(tenant): Tenant) -> wsframe::Result<()> {
///     ws.send_text(format!("feed of {tenant}")).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().websocket("/feed", feed))?;
/// let mut ws = client.connect("/feed").header("x-tenant", "acme").await?;
/// assert_eq!(ws.receive_text().await?, "feed of acme");
///
/// let err = client.connect("/feed").await.unwrap_err(); // the handler never runs
/// let expected = "handshake refused with 400 Bad Request: the x-tenant header is required";
/// assert_eq!(err.to_string(), expected);
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be extracted from a WebSocket handshake",
    label = "not a guard or extractor",
    note = "implement `wsframe::FromHandshake` for `{Self}` to use it as a guard, or use a built-in extractor such as `Query<T>`, `Cookies`, `State<T>`"
)]
pub trait FromHandshake: Sized + Send {
    /// What a failed extraction answers; converted into a [`Rejection`].
    type Rejection: Into<Rejection>;

    /// Extract `Self` from the request.
    fn from_handshake(
        req: &HandshakeRequest,
    ) -> impl Future<Output = Result<Self, Self::Rejection>> + Send;

    /// What this extractor needs from the app (state it reads), checked when the app is
    /// built so that a missing piece stops the start instead of failing every handshake
    /// (see [`Requirements`]). Nothing by default.
    fn requirements(needs: &mut Requirements) {
        let _ = needs;
    }

    /// What this extractor or guard reads from the handshake, for the app's AsyncAPI
    /// document ([`asyncapi`](crate::asyncapi)): a header, a cookie or a query
    /// parameter, marked as a credential when it proves who the client is. Nothing by
    /// default.
    ///
    /// ```
    /// use wsframe::prelude::*;
    /// use wsframe::asyncapi::{Field, RouteDoc};
    ///
    /// struct ApiKey(String);
    ///
    /// impl FromHandshake for ApiKey {
    ///     type Rejection = Rejection;
    ///
    ///     async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
    ///         req.header("x-api-key")
    ///             .map(|key| ApiKey(key.to_owned()))
    ///             .ok_or_else(|| Rejection::unauthorized("an API key is required"))
    ///     }
    ///
    ///     fn describe(doc: &mut RouteDoc) {
    ///         doc.field(Field::header("x-api-key").credential().description("The team's API key."));
    ///     }
    /// }
    ///
    /// #[websocket("/ws")]
    /// async fn feed(ws: WebSocket, _key: ApiKey) {}
    ///
    /// let doc = App::new().route(feed).asyncapi();
    /// assert_eq!(doc["components"]["securitySchemes"]["header_x_api_key"]["in"], "header");
    /// ```
    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        let _ = doc;
    }
}

/// An extractor that can tell "absent" from "failed", for `Option<Self>` arguments.
///
/// `Option<T>` is `None` only when `T` says its thing is absent (`Ok(None)`); any other
/// failure still rejects the handshake, so a guard whose backend is down answers its
/// error (503, say) instead of turning the client into "anonymous". This is axum 0.8's
/// `OptionalFromRequestParts`. Built in for [`Query<T>`] (no query string), [`State<T>`]
/// (not registered) and [`Cookies`] (no `Cookie` header).
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::OptionalFromHandshake;
/// use wsframe::http::StatusCode;
/// use wsframe::testing::TestClient;
///
/// struct User(String);
///
/// /// No `authorization` header: anonymous. The token `down` stands for an outage.
/// async fn lookup(req: &HandshakeRequest) -> Result<Option<User>, Rejection> {
///     match req.header("authorization") {
///         None => Ok(None),
///         Some("down") => Err(Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "try later")),
///         Some(token) => Ok(Some(User(token.to_owned()))),
///     }
/// }
///
/// impl FromHandshake for User {
///     type Rejection = Rejection;
///     async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
///         lookup(req).await?.ok_or_else(|| Rejection::unauthorized("log in first"))
///     }
/// }
///
/// impl OptionalFromHandshake for User {
///     type Rejection = Rejection;
///     async fn optional_from_handshake(req: &HandshakeRequest) -> Result<Option<Self>, Rejection> {
///         lookup(req).await
///     }
/// }
///
/// #[websocket("/feed")]
/// async fn feed(ws: WebSocket, user: Option<User>) -> wsframe::Result<()> {
///     ws.send_text(user.map_or("anonymous".into(), |u| u.0)).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().route(feed))?;
/// assert_eq!(client.connect("/feed").await?.receive_text().await?, "anonymous");
/// let err = client.connect("/feed").header("authorization", "down").await.unwrap_err();
/// assert_eq!(err.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`Option<{Self}>` needs `{Self}` to say when it is absent",
    label = "`{Self}` does not implement `OptionalFromHandshake`",
    note = "implement `wsframe::OptionalFromHandshake` for `{Self}` (`Ok(None)` when absent), take `Result<{Self}, <{Self} as FromHandshake>::Rejection>` to handle every failure, or drop the `Option` for an extractor that never fails"
)]
pub trait OptionalFromHandshake: Sized + Send {
    /// What a failure (other than absence) answers; converted into a [`Rejection`].
    type Rejection: Into<Rejection>;

    /// `Ok(None)` when the thing is absent, `Ok(Some(..))` when present and valid.
    fn optional_from_handshake(
        req: &HandshakeRequest,
    ) -> impl Future<Output = Result<Option<Self>, Self::Rejection>> + Send;

    /// What `Option<Self>` needs from the app, checked when the app is built (see
    /// [`FromHandshake::requirements`]). Nothing by default.
    fn requirements(needs: &mut Requirements) {
        let _ = needs;
    }

    /// What `Option<Self>` reads from the handshake, for the AsyncAPI document (see
    /// [`FromHandshake::describe`]; the values are listed as optional). Nothing by
    /// default.
    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        let _ = doc;
    }
}

/// Parses one path or query parameter from its decoded text.
///
/// Implemented for integers, floats, `bool`, `char` and `String`; implement it for your
/// own types (an id newtype, an enum).
///
/// ```
/// use wsframe::FromParam;
/// assert_eq!(u8::from_param("7").unwrap(), 7);
/// assert!(u8::from_param("300").unwrap_err().contains("300"));
/// assert!(bool::from_param("true").unwrap());
/// ```
///
/// A type of your own; a parameter that does not parse answers the handshake with 400:
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::FromParam;
/// use wsframe::testing::TestClient;
///
/// enum Channel { Stable, Beta }
///
/// impl FromParam for Channel {
///     fn from_param(param: &str) -> Result<Self, String> {
///         match param {
///             "stable" => Ok(Channel::Stable),
///             "beta" => Ok(Channel::Beta),
///             _ => Err(format!("`{param}` is not `stable` or `beta`")),
///         }
///     }
/// }
///
/// #[websocket("/releases/<channel>")]
/// async fn releases(ws: WebSocket, channel: Channel) -> wsframe::Result<()> {
///     let latest = match channel { Channel::Stable => "1.4", Channel::Beta => "1.5-beta" };
///     ws.send_text(latest).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().route(releases))?;
/// assert_eq!(client.connect("/releases/beta").await?.receive_text().await?, "1.5-beta");
/// let err = client.connect("/releases/nightly").await.unwrap_err();
/// assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
/// assert!(err.to_string().ends_with("`nightly` is not `stable` or `beta`"));
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be parsed from a route parameter",
    note = "implement `wsframe::FromParam` for `{Self}`"
)]
pub trait FromParam: Sized {
    /// Parse the parameter; the error says what was wrong with the text.
    fn from_param(param: &str) -> Result<Self, String>;
}

macro_rules! from_param_via_fromstr {
    ($($t:ty => $what:literal),* $(,)?) => {$(
        #[diagnostic::do_not_recommend]
        impl FromParam for $t {
            fn from_param(param: &str) -> Result<Self, String> {
                param
                    .parse()
                    .map_err(|_| format!("`{param}` is not {}", $what))
            }
        }
    )*};
}

from_param_via_fromstr! {
    u8 => "an integer from 0 to 255", u16 => "an integer from 0 to 65535",
    u32 => "an integer from 0 to 4294967295", u64 => "a non-negative 64-bit integer",
    u128 => "a non-negative 128-bit integer", usize => "a non-negative integer",
    i8 => "an integer from -128 to 127", i16 => "an integer from -32768 to 32767",
    i32 => "a 32-bit integer", i64 => "a 64-bit integer", i128 => "a 128-bit integer",
    isize => "an integer", f32 => "a number", f64 => "a number",
    bool => "`true` or `false`", char => "a single character",
}

/// A relative path from a `<rest..>` parameter; `..` segments are refused so that a
/// client cannot climb out of a directory.
#[diagnostic::do_not_recommend]
impl FromParam for std::path::PathBuf {
    fn from_param(param: &str) -> Result<Self, String> {
        if param.split('/').any(|s| s == "..") || param.starts_with('/') {
            return Err(format!("`{param}` leaves its directory"));
        }
        Ok(std::path::PathBuf::from(param))
    }
}

#[cfg(feature = "uuid")]
#[diagnostic::do_not_recommend]
impl FromParam for uuid::Uuid {
    fn from_param(param: &str) -> Result<Self, String> {
        param
            .parse()
            .map_err(|_| format!("`{param}` is not a UUID"))
    }
}

#[diagnostic::do_not_recommend]
impl FromParam for String {
    fn from_param(param: &str) -> Result<Self, String> {
        Ok(param.to_string())
    }
}

/// The query string deserialized into `T` with serde (`?name=ada&page=2`).
///
/// A query that does not fit `T` rejects the handshake with 400 and serde's reason.
///
/// ```
/// use serde::Deserialize;
/// use wsframe::{FromHandshake, HandshakeRequest, Query};
///
/// #[derive(Deserialize)]
/// struct Page { page: u32, q: Option<String> }
///
/// # tokio_test_block(async {
/// let req = HandshakeRequest::new("/ws?page=2");
/// let Query(p) = Query::<Page>::from_handshake(&req).await.unwrap();
/// assert_eq!((p.page, p.q), (2, None));
/// let bad = HandshakeRequest::new("/ws?page=x");
/// assert_eq!(Query::<Page>::from_handshake(&bad).await.err().unwrap().status(), 400);
/// # });
/// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query<T>(pub T);

#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned + Send> FromHandshake for Query<T> {
    type Rejection = Rejection;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        serde_urlencoded::from_str(req.query().unwrap_or(""))
            .map(Query)
            .map_err(|e| Rejection::bad_request(format!("invalid query string: {e}")))
    }
}

/// `None` without a query string; a query that does not fit `T` still answers 400.
#[diagnostic::do_not_recommend]
impl<T: DeserializeOwned + Send> OptionalFromHandshake for Query<T> {
    type Rejection = Rejection;

    async fn optional_from_handshake(req: &HandshakeRequest) -> Result<Option<Self>, Rejection> {
        match req.query() {
            None | Some("") => Ok(None),
            Some(_) => <Query<T> as FromHandshake>::from_handshake(req)
                .await
                .map(Some),
        }
    }
}

/// The request's cookies, by name.
///
/// ```
/// use wsframe::HandshakeRequest;
/// let req = HandshakeRequest::new("/").with_header("cookie", "a=1; b=two");
/// let cookies = req.cookies();
/// assert_eq!(cookies.get("b"), Some("two"));
/// assert_eq!(cookies.get("c"), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Cookies(Vec<(String, String)>);

impl Cookies {
    pub(crate) fn from_headers(headers: &HeaderMap) -> Cookies {
        let mut pairs = Vec::new();
        for value in headers.get_all(http::header::COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            for cookie in cookie::Cookie::split_parse(value).flatten() {
                pairs.push((cookie.name().to_string(), cookie.value().to_string()));
            }
        }
        Cookies(pairs)
    }

    /// A cookie's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All cookies as name/value pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[diagnostic::do_not_recommend]
impl FromHandshake for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(req.cookies())
    }
}

/// `None` without a `Cookie` header.
#[diagnostic::do_not_recommend]
impl OptionalFromHandshake for Cookies {
    type Rejection = std::convert::Infallible;

    async fn optional_from_handshake(
        req: &HandshakeRequest,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(req
            .headers()
            .contains_key(http::header::COOKIE)
            .then(|| req.cookies()))
    }
}

/// The peer's socket address.
///
/// ```
/// # let _ = |PeerAddr(addr): wsframe::PeerAddr| addr.ip();
/// use wsframe::PeerAddr;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

#[diagnostic::do_not_recommend]
impl FromHandshake for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(req.peer_addr()))
    }
}

/// The client's address: the TCP peer's, or what a trusted proxy forwarded (see
/// [`HandshakeRequest::client_addr`]).
///
/// ```
/// # let _ = |wsframe::ClientAddr(ip): wsframe::ClientAddr| ip.is_loopback();
/// use wsframe::ClientAddr;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

#[diagnostic::do_not_recommend]
impl FromHandshake for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(req.client_addr()))
    }
}

/// App state registered with [`App::state`](crate::App::state), cloned into the handler.
///
/// A missing state is a programming error, found when the app is built: `bind`,
/// `serve` and `TestClient::new` fail with [`Error::MissingState`](crate::Error::MissingState),
/// naming the type and the route. `Option<State<T>>` is exempt: it is `None` when `T`
/// was never registered.
///
/// ```
/// use std::sync::Arc;
/// use wsframe::{App, State, WebSocket};
///
/// #[derive(Clone)]
/// struct Greeting(Arc<str>);
///
/// async fn hello(mut ws: WebSocket, State(greeting): State<Greeting>) -> wsframe::Result<()> {
///     ws.send_text(&*greeting.0).await
/// }
///
/// let app = App::new().state(Greeting("hi".into())).websocket("/ws", hello);
/// ```
#[derive(Clone, Debug)]
pub struct State<T>(pub T);

#[diagnostic::do_not_recommend]
impl<T: Clone + Send + Sync + 'static> FromHandshake for State<T> {
    type Rejection = Rejection;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        req.state::<T>().map(State).ok_or_else(|| {
            let name = std::any::type_name::<T>();
            tracing::error!(
                state = name,
                "handler asks for state that was never registered"
            );
            Rejection::internal(format!(
                "state `{name}` is not registered; add it with App::state"
            ))
        })
    }

    fn requirements(needs: &mut Requirements) {
        needs.state::<T>();
    }
}

/// `None` when `T` was never registered (and no start-up check asks for it).
#[diagnostic::do_not_recommend]
impl<T: Clone + Send + Sync + 'static> OptionalFromHandshake for State<T> {
    type Rejection = std::convert::Infallible;

    async fn optional_from_handshake(
        req: &HandshakeRequest,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(req.state::<T>().map(State))
    }
}

#[diagnostic::do_not_recommend]
impl FromHandshake for HeaderMap {
    type Rejection = std::convert::Infallible;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(req.headers().clone())
    }
}

#[diagnostic::do_not_recommend]
impl FromHandshake for PathParams {
    type Rejection = std::convert::Infallible;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(req.params().clone())
    }
}

/// `None` only when `T` says it is absent; `T`'s other rejections still answer.
#[diagnostic::do_not_recommend]
impl<T: OptionalFromHandshake> FromHandshake for Option<T> {
    type Rejection = T::Rejection;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        T::optional_from_handshake(req).await
    }

    fn requirements(needs: &mut Requirements) {
        <T as OptionalFromHandshake>::requirements(needs);
    }

    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        doc.optional(<T as OptionalFromHandshake>::describe);
    }
}

/// The outcome of `T`, with `T`'s own rejection type, for the handler to inspect.
#[diagnostic::do_not_recommend]
impl<T: FromHandshake> FromHandshake for Result<T, T::Rejection>
where
    T::Rejection: Send,
{
    type Rejection = std::convert::Infallible;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Self::Rejection> {
        Ok(T::from_handshake(req).await)
    }

    fn requirements(needs: &mut Requirements) {
        T::requirements(needs);
    }

    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        // The handler gets the failure too: the route goes on without the values.
        doc.optional(T::describe);
    }
}
