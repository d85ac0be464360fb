//! What `#[websocket]` and `#[dependency]` expand into. Not a public API: names and
//! signatures here change without notice.

use std::future::Future;
use std::sync::Arc;

use crate::{
    Dependency, FromHandshake, FromParam, HandshakeRequest, Rejection, Result, Route, WebSocket,
};

/// A WebSocket route whose handler does its own extraction.
pub fn websocket_route<F, Fut>(pattern: &str, handler: F) -> Route
where
    F: Fn(WebSocket, Arc<HandshakeRequest>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send + 'static,
{
    Route::from_boxed(pattern, Arc::new(move |ws, req| Box::pin(handler(ws, req))))
}

/// Answer the handshake with `rejection`; the handler then ends.
pub async fn reject(mut ws: WebSocket, rejection: Rejection) -> Result<()> {
    ws.reject(rejection).await;
    Ok(())
}

/// A path parameter through [`FromParam`].
pub fn path_param<T: FromParam>(req: &HandshakeRequest, name: &str) -> Result<T, Rejection> {
    req.params().parse(name)
}

/// A required query parameter: missing or unparsable is a 400 naming it.
pub fn query_param<T: FromParam>(req: &HandshakeRequest, name: &str) -> Result<T, Rejection> {
    match optional_query_param(req, name)? {
        Some(value) => Ok(value),
        None => Err(Rejection::bad_request(format!(
            "missing query parameter `{name}`"
        ))),
    }
}

/// An optional query parameter: missing is `None`, unparsable is a 400 naming it.
pub fn optional_query_param<T: FromParam>(
    req: &HandshakeRequest,
    name: &str,
) -> Result<Option<T>, Rejection> {
    req.query_param(name)
        .map(|raw| {
            T::from_param(&raw).map_err(|e| {
                Rejection::bad_request(format!("invalid query parameter `{name}`: {e}"))
            })
        })
        .transpose()
}

/// A required cookie: missing or unparsable is a 400 naming it.
pub fn cookie<T: FromParam>(req: &HandshakeRequest, name: &str) -> Result<T, Rejection> {
    match optional_cookie(req, name)? {
        Some(value) => Ok(value),
        None => Err(Rejection::bad_request(format!("missing cookie `{name}`"))),
    }
}

/// An optional cookie.
pub fn optional_cookie<T: FromParam>(
    req: &HandshakeRequest,
    name: &str,
) -> Result<Option<T>, Rejection> {
    req.cookie(name)
        .map(|raw| {
            T::from_param(&raw)
                .map_err(|e| Rejection::bad_request(format!("invalid cookie `{name}`: {e}")))
        })
        .transpose()
}

/// An extractor or guard.
pub async fn extract<T: FromHandshake>(req: &HandshakeRequest) -> Result<T, Rejection> {
    T::from_handshake(req).await.map_err(Into::into)
}

/// A dependency, resolved once per handshake.
pub async fn depend<D: Dependency>(
    req: &HandshakeRequest,
    dependency: D,
) -> Result<D::Output, Rejection> {
    crate::depends::depend(req, dependency).await
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

/// Checks a handler's return type where the user wrote it.
pub fn assert_handler_result<T: crate::HandlerResult>() {}
