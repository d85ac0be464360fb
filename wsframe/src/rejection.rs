//! [`Rejection`]: how a guard (or a handler that has not accepted yet) refuses a
//! handshake.
//!
//! A rejection is answered before the upgrade, as an HTTP response with a status and a
//! short body; or, when a client needs a close code, as accept-then-close.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::Full;

use crate::CloseCode;

/// A refused handshake.
///
/// ```
/// use wsframe::{CloseCode, Rejection};
/// let r = Rejection::unauthorized("missing token");
/// assert_eq!(r.status(), 401);
/// assert_eq!(r.body(), b"missing token");
///
/// #[derive(serde::Serialize)]
/// struct Problem { error: &'static str }
/// let r = Rejection::json(http::StatusCode::FORBIDDEN, &Problem { error: "banned" });
/// assert_eq!(r.body(), br#"{"error":"banned"}"#);
///
/// let r = Rejection::close(CloseCode::POLICY_VIOLATION, "token expired");
/// assert_eq!(r.close_code(), Some(CloseCode::POLICY_VIOLATION));
/// ```
#[derive(Clone, Debug)]
pub struct Rejection(Box<Inner>);

/// Boxed so that `Result<T, Rejection>` stays small on the success path.
#[derive(Clone, Debug)]
struct Inner {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    headers: HeaderMap,
    close: Option<(CloseCode, String)>,
}

const TEXT: &str = "text/plain; charset=utf-8";

impl Rejection {
    /// Answer with `status` and a text body.
    pub fn new(status: StatusCode, body: impl Into<String>) -> Rejection {
        Rejection(Box::new(Inner {
            status,
            body: Bytes::from(body.into()),
            content_type: TEXT,
            headers: HeaderMap::new(),
            close: None,
        }))
    }

    /// Answer with `status` and a JSON body.
    pub fn json<T: serde::Serialize + ?Sized>(status: StatusCode, value: &T) -> Rejection {
        match serde_json::to_vec(value) {
            Ok(body) => Rejection(Box::new(Inner {
                status,
                body: Bytes::from(body),
                content_type: "application/json",
                headers: HeaderMap::new(),
                close: None,
            })),
            Err(e) => Rejection::internal(format!("rejection body is not JSON: {e}")),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(body: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, body)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(body: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::UNAUTHORIZED, body)
    }

    /// 403 Forbidden.
    pub fn forbidden(body: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::FORBIDDEN, body)
    }

    /// 404 Not Found.
    pub fn not_found(body: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::NOT_FOUND, body)
    }

    /// 500 Internal Server Error.
    pub fn internal(body: impl Into<String>) -> Rejection {
        Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, body)
    }

    /// Accept the upgrade, then close at once with `code` and `reason`, for clients
    /// that need a close code rather than an HTTP status (browsers hide the status of
    /// a refused handshake from scripts).
    pub fn close(code: CloseCode, reason: impl Into<String>) -> Rejection {
        let mut rejection = Rejection::new(StatusCode::SWITCHING_PROTOCOLS, "");
        rejection.0.close = Some((code, reason.into()));
        rejection
    }

    /// This rejection with an extra response header (e.g. `WWW-Authenticate`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Rejection {
        self.0.headers.append(name, value);
        self
    }

    /// The HTTP status (101 for accept-then-close).
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The response body.
    pub fn body(&self) -> &[u8] {
        &self.0.body
    }

    /// The close code, for accept-then-close rejections.
    pub fn close_code(&self) -> Option<CloseCode> {
        self.0.close.as_ref().map(|(c, _)| *c)
    }

    pub(crate) fn take_close(&mut self) -> Option<(CloseCode, String)> {
        self.0.close.take()
    }

    pub(crate) fn into_response(self) -> http::Response<Full<Bytes>> {
        let mut inner = *self.0;
        if !(inner.status.is_client_error() || inner.status.is_server_error()) {
            // A refusal must not look like success (a bare 101 would be a broken
            // handshake); the guard's mistake is logged and answered as a server error.
            tracing::error!(status = %inner.status, "a rejection must carry a 4xx or 5xx status");
            inner.status = StatusCode::INTERNAL_SERVER_ERROR;
        }
        let mut response = http::Response::new(Full::new(inner.body));
        *response.status_mut() = inner.status;
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(inner.content_type),
        );
        for (name, value) in &inner.headers {
            headers.append(name, value.clone());
        }
        response
    }
}

impl From<StatusCode> for Rejection {
    fn from(status: StatusCode) -> Self {
        Rejection::new(status, status.canonical_reason().unwrap_or(""))
    }
}

impl From<std::convert::Infallible> for Rejection {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
