//! [`TypedHeader`] (feature `headers`): one header decoded by its type from the
//! `headers` crate (`UserAgent`, `Authorization<Bearer>`, `Origin`, …), as axum-extra's
//! `TypedHeader` does. Only reads the request's headers.

use crate::{FromHandshake, HandshakeRequest, OptionalFromHandshake, Rejection};

/// A header decoded as `H`, a type of the [`headers`](https://docs.rs/headers) crate.
///
/// A missing header answers 400 naming it, and so does one that does not decode;
/// `Option<TypedHeader<H>>` is `None` when the header is missing (a value that does not
/// decode still answers 400).
///
/// ```
/// use headers::UserAgent;
/// use headers::authorization::{Authorization, Bearer};
/// use wsframe::prelude::*;
/// use wsframe::TypedHeader;
/// use wsframe::testing::TestClient;
///
/// #[websocket("/ws")]
/// async fn hello(
///     ws: WebSocket,
///     TypedHeader(auth): TypedHeader<Authorization<Bearer>>,
///     agent: Option<TypedHeader<UserAgent>>,
/// ) -> wsframe::Result<()> {
///     let agent = agent.map(|TypedHeader(a)| a.to_string());
///     ws.send_text(format!("{} {agent:?}", auth.token())).await
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> wsframe::Result<()> {
/// let client = TestClient::new(App::new().route(hello))?;
/// let mut ws = client.connect("/ws").header("authorization", "Bearer t0k").await?;
/// assert_eq!(ws.receive_text().await?, "t0k None");
///
/// let err = client.connect("/ws").await.unwrap_err();
/// assert_eq!(err.to_string(), "handshake refused with 400 Bad Request: missing header `authorization`");
/// let err = client.connect("/ws").header("authorization", "Basic Zm9v").await.unwrap_err();
/// assert_eq!(err.to_string(), "handshake refused with 400 Bad Request: invalid header `authorization`");
/// # Ok(()) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypedHeader<H>(pub H);

/// `Ok(None)` when the request has no `H` header, else `H` decoded or a 400.
fn decode<H: headers::Header>(req: &HandshakeRequest) -> Result<Option<H>, Rejection> {
    let name = H::name();
    let mut values = req.headers().get_all(name).iter().peekable();
    if values.peek().is_none() {
        return Ok(None);
    }
    H::decode(&mut values)
        .map(Some)
        .map_err(|_| Rejection::bad_request(format!("invalid header `{name}`")))
}

#[diagnostic::do_not_recommend]
impl<H: headers::Header + Send + 'static> FromHandshake for TypedHeader<H> {
    type Rejection = Rejection;

    async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
        match decode::<H>(req)? {
            Some(header) => Ok(TypedHeader(header)),
            None => Err(Rejection::bad_request(format!(
                "missing header `{}`",
                H::name()
            ))),
        }
    }

    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        doc.field(described::<H>());
    }
}

#[diagnostic::do_not_recommend]
impl<H: headers::Header + Send + 'static> OptionalFromHandshake for TypedHeader<H> {
    type Rejection = Rejection;

    async fn optional_from_handshake(req: &HandshakeRequest) -> Result<Option<Self>, Rejection> {
        Ok(decode::<H>(req)?.map(TypedHeader))
    }

    fn describe(doc: &mut crate::asyncapi::RouteDoc) {
        doc.field(described::<H>());
    }
}

/// The header `H`, as the AsyncAPI document lists it.
fn described<H: headers::Header>() -> crate::asyncapi::Field {
    crate::asyncapi::Field::header(H::name().as_str()).of::<H>()
}
