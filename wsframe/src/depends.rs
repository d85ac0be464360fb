//! Dependencies (FastAPI's `Depends`): async functions marked `#[dependency]` whose
//! arguments are extracted like a handler's, used with `#[depends(f)]` on a handler
//! argument or in `guards(f)`. Each runs at most once per handshake: its result is
//! cached and cloned to every user. A TestClient may stand a double in for a dependency
//! ([`TestClient::override_dependency`](crate::testing::TestClient::override_dependency)).

use std::future::Future;

use crate::{HandshakeRequest, Rejection, Requirements};

/// A dependency: what `#[dependency]` makes of an async function.
///
/// The attribute turns the function into a unit struct of the same name that
/// implements this trait; a handler names it with `#[depends(..)]`. A unit test can
/// [`resolve`](Dependency::resolve) it against a [`HandshakeRequest`] of its own.
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::Dependency;
///
/// #[dependency]
/// async fn api_version(#[query] v: Option<u32>) -> Result<u32, Rejection> {
///     match v.unwrap_or(2) {
///         v @ 1..=2 => Ok(v),
///         v => Err(Rejection::bad_request(format!("no API version {v}"))),
///     }
/// }
///
/// #[websocket("/ws")]
/// async fn hello(ws: WebSocket, #[depends(api_version)] v: u32) -> wsframe::Result<()> {
///     ws.send_text(format!("API v{v}")).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let req = HandshakeRequest::new("/ws?v=1");
/// assert_eq!(api_version.resolve(&req).await.unwrap(), 1);
/// let req = HandshakeRequest::new("/ws?v=9");
/// assert_eq!(api_version.resolve(&req).await.unwrap_err().status(), 400);
///
/// let client = wsframe::testing::TestClient::new(App::new().route(hello))?;
/// assert_eq!(client.connect("/ws").await?.receive_text().await?, "API v2");
/// # Ok(()) }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a dependency",
    label = "not marked with `#[dependency]`",
    note = "mark the async fn with `#[wsframe::dependency]` to use it in `#[depends(..)]` or `guards(..)`"
)]
pub trait Dependency: Send + Sync + 'static {
    /// What the dependency produces (cloned to each user in the handshake).
    type Output: Clone + Send + Sync + 'static;

    /// Run the dependency (its own arguments are extracted from `req`).
    fn resolve(
        &self,
        req: &HandshakeRequest,
    ) -> impl Future<Output = Result<Self::Output, Rejection>> + Send;

    /// What the dependency's own arguments need from the app, checked when the app is
    /// built (see [`Requirements`]); `#[dependency]` writes it. Nothing by default.
    fn requirements(&self, needs: &mut Requirements) {
        let _ = needs;
    }

    /// What the dependency's own arguments read from the handshake, for the app's
    /// AsyncAPI document: `#[dependency]` writes it, its `#[cookie]`, `#[query]` and
    /// `#[header]` arguments as credentials. Nothing by default.
    fn describe(&self, doc: &mut crate::asyncapi::RouteDoc) {
        let _ = doc;
    }

    /// The dependency's output for this handshake: resolved on first use, then cloned
    /// from the handshake's cache (what `#[depends(..)]` calls).
    fn cached(
        self,
        req: &HandshakeRequest,
    ) -> impl Future<Output = Result<Self::Output, Rejection>> + Send
    where
        Self: Sized,
    {
        depend(req, self)
    }
}

/// The cache slot of dependency `D`.
struct Cached<D: Dependency>(D::Output);

impl<D: Dependency> Clone for Cached<D> {
    fn clone(&self) -> Self {
        Cached(self.0.clone())
    }
}

/// Resolve `dependency` once per handshake.
async fn depend<D: Dependency>(
    req: &HandshakeRequest,
    dependency: D,
) -> Result<D::Output, Rejection> {
    if let Some(Cached(hit)) = req.cached::<Cached<D>>() {
        return Ok(hit);
    }
    let double = match &req.overrides {
        Some(overrides) => overrides.resolve::<D>(req).await,
        None => None,
    };
    let output = match double {
        Some(output) => output?,
        None => dependency.resolve(req).await?,
    };
    req.store(Cached::<D>(output.clone()));
    Ok(output)
}
