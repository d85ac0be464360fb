//! Responses of plain HTTP routes (a health check, the page that opens the WebSocket).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::Full;

use crate::HandshakeRequest;

/// The HTTP response type wsframe serves.
///
/// Every [`IntoResponse`] value converts into one; build on it for headers of your own.
///
/// ```
/// use wsframe::http::{HeaderValue, StatusCode, header};
/// use wsframe::testing::TestClient;
/// use wsframe::{App, IntoResponse, Response};
///
/// async fn ready() -> Response {
///     let mut response = (StatusCode::ACCEPTED, "warming up").into_response();
///     let no_store = HeaderValue::from_static("no-store");
///     response.headers_mut().insert(header::CACHE_CONTROL, no_store);
///     response
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().get("/ready", |_req| ready()))?;
/// let answer = client.get("/ready").await?;
/// assert_eq!(answer.status, StatusCode::ACCEPTED);
/// assert_eq!(answer.headers["cache-control"], "no-store");
/// assert_eq!(answer.text(), "warming up");
/// # Ok(()) }
/// ```
pub type Response = http::Response<Full<Bytes>>;

pub(crate) type BoxedHttpHandler = Arc<
    dyn Fn(Arc<HandshakeRequest>) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync,
>;

/// Turns a value into an HTTP response.
///
/// ```
/// use wsframe::{Html, IntoResponse};
/// use http::StatusCode;
/// assert_eq!("ok".into_response().status(), StatusCode::OK);
/// assert_eq!((StatusCode::CREATED, "made").into_response().status(), StatusCode::CREATED);
/// let page = Html("<h1>hi</h1>").into_response();
/// assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
/// ```
pub trait IntoResponse {
    /// Build the response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

fn with_type(body: Bytes, content_type: &'static str) -> Response {
    let mut response = http::Response::new(Full::new(body));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_type(
            Bytes::from_static(self.as_bytes()),
            "text/plain; charset=utf-8",
        )
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(Bytes::from(self), "text/plain; charset=utf-8")
    }
}

impl IntoResponse for StatusCode {
    fn into_response(self) -> Response {
        let mut response = self.canonical_reason().unwrap_or("").into_response();
        *response.status_mut() = self;
        response
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        *response.status_mut() = self.0;
        response
    }
}

/// An HTML body (`text/html; charset=utf-8`).
///
/// It holds anything that converts into [`Bytes`] (a `&'static str`, a `String`, a
/// `Vec<u8>`) and is sent as it is: nothing is escaped.
///
/// ```
/// use wsframe::testing::TestClient;
/// use wsframe::{App, Html};
///
/// const PAGE: &str = "<script>const ws = new WebSocket('/ws');</script>";
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().get("/", |_req| async { Html(PAGE) }))?;
/// let page = client.get("/").await?;
/// assert_eq!(page.headers["content-type"], "text/html; charset=utf-8");
/// assert_eq!(page.text(), PAGE);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Html<T>(pub T);

impl<T: Into<Bytes>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        with_type(self.0.into(), "text/html; charset=utf-8")
    }
}

/// A JSON body (`application/json`).
///
/// A value that fails to serialize answers 500.
///
/// ```
/// use wsframe::testing::TestClient;
/// use wsframe::{App, Hub, Json};
///
/// #[derive(serde::Serialize)]
/// struct Stats {
///     connections: usize,
///     rooms: Vec<String>,
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let app = App::new();
/// let hub: Hub = app.hub();
/// let app = app.get("/stats", move |_req| {
///     let stats = Stats { connections: hub.connection_count(), rooms: hub.rooms() };
///     async move { Json(stats) }
/// });
/// let client = TestClient::new(app)?;
/// let answer = client.get("/stats").await?;
/// assert_eq!(answer.headers["content-type"], "application/json");
/// assert_eq!(answer.text(), r#"{"connections":0,"rooms":[]}"#);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => with_type(Bytes::from(body), "application/json"),
            Err(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("response is not JSON: {e}"),
            )
                .into_response(),
        }
    }
}

pub(crate) fn boxed_http<F, Fut, R>(handler: F) -> BoxedHttpHandler
where
    F: Fn(Arc<HandshakeRequest>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoResponse,
{
    Arc::new(move |req| {
        let fut = handler(req);
        Box::pin(async move { fut.await.into_response() })
    })
}

pub(crate) fn plain(status: StatusCode, body: &'static str) -> Response {
    (status, body).into_response()
}
