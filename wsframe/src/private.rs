//! What `#[websocket]` and `#[dependency]` expand into. Not a public API: names and
//! signatures here change without notice.

use std::future::Future;
use std::sync::Arc;

use crate::{HandshakeRequest, Rejection, Requirements, Result, Route, WebSocket};

/// A WebSocket route whose handler does its own extraction; `requirements` declares
/// what its extractors need from the app.
pub fn websocket_route<F, Fut>(
    pattern: &str,
    requirements: fn(&mut Requirements),
    describe: fn(&mut crate::asyncapi::RouteDoc),
    handler: F,
) -> Route
where
    F: Fn(WebSocket, Arc<HandshakeRequest>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Route::from_boxed(
        pattern,
        requirements,
        describe,
        Arc::new(move |ws, req| Box::pin(handler(ws, req))),
    )
}

/// Answer the handshake with `rejection`; the handler then ends.
pub async fn reject(mut ws: WebSocket, rejection: Rejection) -> Result<()> {
    ws.reject(rejection).await;
    Ok(())
}

/// The parser of a parameter type, `<T as FromParam>::from_param`: the macro names the
/// trait at the user's type so that a missing impl is reported there.
pub type Parse<T> = fn(&str) -> Result<T, String>;

/// A path parameter.
pub fn path_param<T>(req: &HandshakeRequest, name: &str, parse: Parse<T>) -> Result<T, Rejection> {
    let raw = req
        .params()
        .get(name)
        .ok_or_else(|| Rejection::bad_request(format!("missing path parameter `{name}`")))?;
    parse(raw).map_err(|e| Rejection::bad_request(format!("invalid path parameter `{name}`: {e}")))
}

/// A required query parameter: missing or unparsable is a 400 naming it.
pub fn query_param<T>(req: &HandshakeRequest, name: &str, parse: Parse<T>) -> Result<T, Rejection> {
    required(
        optional_query_param(req, name, parse)?,
        "query parameter",
        name,
    )
}

/// An optional query parameter: missing is `None`, unparsable is a 400 naming it.
pub fn optional_query_param<T>(
    req: &HandshakeRequest,
    name: &str,
    parse: Parse<T>,
) -> Result<Option<T>, Rejection> {
    parsed(req.query_param(name), "query parameter", name, parse)
}

/// A required cookie: missing or unparsable is a 400 naming it.
pub fn cookie<T>(req: &HandshakeRequest, name: &str, parse: Parse<T>) -> Result<T, Rejection> {
    required(optional_cookie(req, name, parse)?, "cookie", name)
}

/// An optional cookie.
pub fn optional_cookie<T>(
    req: &HandshakeRequest,
    name: &str,
    parse: Parse<T>,
) -> Result<Option<T>, Rejection> {
    parsed(req.cookie(name), "cookie", name, parse)
}

/// A required header: missing, not text, or unparsable is a 400 naming it.
pub fn header<T>(req: &HandshakeRequest, name: &str, parse: Parse<T>) -> Result<T, Rejection> {
    required(optional_header(req, name, parse)?, "header", name)
}

/// An optional header: missing is `None`; present but not text or unparsable is a 400.
pub fn optional_header<T>(
    req: &HandshakeRequest,
    name: &str,
    parse: Parse<T>,
) -> Result<Option<T>, Rejection> {
    let Some(value) = req.headers().get(name) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| {
        Rejection::bad_request(format!("invalid header `{name}`: not visible ASCII text"))
    })?;
    parsed(Some(text.to_string()), "header", name, parse)
}

fn parsed<T>(
    raw: Option<String>,
    what: &str,
    name: &str,
    parse: Parse<T>,
) -> Result<Option<T>, Rejection> {
    raw.map(|raw| {
        parse(&raw).map_err(|e| Rejection::bad_request(format!("invalid {what} `{name}`: {e}")))
    })
    .transpose()
}

fn required<T>(value: Option<T>, what: &str, name: &str) -> Result<T, Rejection> {
    value.ok_or_else(|| Rejection::bad_request(format!("missing {what} `{name}`")))
}

/// An extractor's result with its rejection converted, or what a TestClient's double for
/// `T` gives instead (then `real` is dropped unpolled: the real extractor never runs).
pub async fn extracted<T: 'static, R: Into<Rejection>>(
    req: &HandshakeRequest,
    real: impl Future<Output = Result<T, R>>,
) -> Result<T, Rejection> {
    if let Some(double) = req.overrides.as_ref().and_then(|o| o.extract::<T>(req)) {
        return double;
    }
    real.await.map_err(Into::into)
}

/// Turn a dependency function's return value into its result.
pub trait DependencyResult<T> {
    /// The value, or the rejection.
    fn into_dependency_result(self) -> Result<T, Rejection>;
}

impl<T, E: Into<Rejection>> DependencyResult<T> for std::result::Result<T, E> {
    fn into_dependency_result(self) -> Result<T, Rejection> {
        self.map_err(Into::into)
    }
}

/// What `#[websocket]` asks of its socket argument's type for the AsyncAPI document:
/// `(&&&SocketDoc::<T>::new()).describe_socket(doc)` picks [`DescribeTyped`] for a
/// `TypedWebSocket<In, Out>` whose types derive `JsonSchema` (feature `schemas`),
/// [`DescribeSocket`] (the type's own [`FromWebSocket::describe`](crate::FromWebSocket::describe))
/// for another handle, and [`DescribeNothing`] for a type that is no handle at all, whose
/// error the handler's call reports (this one must not add a second, stranger error).
pub struct SocketDoc<T>(std::marker::PhantomData<T>);

impl<T> SocketDoc<T> {
    #[allow(clippy::new_without_default)]
    pub fn new() -> SocketDoc<T> {
        SocketDoc(std::marker::PhantomData)
    }
}

/// The fallback: the handle's own description.
pub trait DescribeSocket {
    fn describe_socket(&self, doc: &mut crate::asyncapi::RouteDoc);
}

impl<T: crate::FromWebSocket> DescribeSocket for &SocketDoc<T> {
    fn describe_socket(&self, doc: &mut crate::asyncapi::RouteDoc) {
        T::describe(doc);
    }
}

/// A typed handle whose messages have schemas (feature `schemas`).
pub trait DescribeTyped {
    fn describe_socket(&self, doc: &mut crate::asyncapi::RouteDoc);
}

/// Not a handle: nothing to describe (the handler's call reports the error).
pub trait DescribeNothing {
    fn describe_socket(&self, doc: &mut crate::asyncapi::RouteDoc);
}

impl<T> DescribeNothing for SocketDoc<T> {
    fn describe_socket(&self, _doc: &mut crate::asyncapi::RouteDoc) {}
}

#[cfg(feature = "schemas")]
impl<In, Out> DescribeTyped for &&SocketDoc<crate::TypedWebSocket<In, Out>>
where
    In: schemars::JsonSchema,
    Out: schemars::JsonSchema,
{
    fn describe_socket(&self, doc: &mut crate::asyncapi::RouteDoc) {
        doc.__json_schemas::<In, Out>();
    }
}
