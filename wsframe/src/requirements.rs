//! [`Requirements`]: what a route needs from the app (the state its extractors read),
//! declared by each extractor and dependency and checked once, when the app is built,
//! as Rocket's sentinels do. Never runs user code: the declarations are plain functions
//! of the types.

/// What a route's extractors need from the app, checked when the app is built
/// (`bind`, `serve`, `TestClient::new`): a missing piece is a start-up error naming the
/// type and the route, not a 500 on every handshake.
///
/// [`State<T>`](crate::State) declares its `T`; `Option<State<T>>` declares nothing. A
/// guard of your own that reads state with [`HandshakeRequest::state`] declares it in
/// [`FromHandshake::requirements`](crate::FromHandshake::requirements):
///
/// ```
/// use wsframe::prelude::*;
/// use wsframe::{Error, Requirements};
/// use wsframe::testing::TestClient;
///
/// #[derive(Clone)]
/// struct Tokens(Vec<&'static str>);
///
/// struct User;
///
/// impl FromHandshake for User {
///     type Rejection = Rejection;
///
///     async fn from_handshake(req: &HandshakeRequest) -> Result<Self, Rejection> {
///         let tokens = req.state::<Tokens>().ok_or_else(|| Rejection::internal("no tokens"))?;
///         match req.header("authorization") {
///             Some(t) if tokens.0.contains(&t) => Ok(User),
///             _ => Err(Rejection::unauthorized("unknown token")),
///         }
///     }
///
///     fn requirements(needs: &mut Requirements) {
///         needs.state::<Tokens>();
///     }
/// }
///
/// #[websocket("/me")]
/// async fn me(ws: WebSocket, _user: User) -> wsframe::Result<()> {
///     ws.send_text("hello").await
/// }
///
/// let err = TestClient::new(App::new().route(me)).err().unwrap();
/// assert!(matches!(err, Error::MissingState(_)));
/// assert!(err.to_string().contains("route `/me` needs state `"));
/// assert!(err.to_string().contains("::Tokens`, which was never registered"));
/// assert!(TestClient::new(App::new().state(Tokens(vec!["t"])).route(me)).is_ok());
/// ```
///
/// [`HandshakeRequest::state`]: crate::HandshakeRequest::state
#[derive(Default)]
pub struct Requirements {
    states: Vec<StateNeed>,
}

struct StateNeed {
    name: &'static str,
    registered: fn(&http::Extensions) -> bool,
}

impl Requirements {
    /// The app must have state of type `T` ([`App::state`](crate::App::state)).
    pub fn state<T: Clone + Send + Sync + 'static>(&mut self) -> &mut Requirements {
        let name = std::any::type_name::<T>();
        if !self.states.iter().any(|s| s.name == name) {
            self.states.push(StateNeed {
                name,
                registered: |state| state.get::<T>().is_some(),
            });
        }
        self
    }

    /// The names of the state types required here that `state` does not hold.
    pub(crate) fn missing_states(&self, state: &http::Extensions) -> Vec<&'static str> {
        self.states
            .iter()
            .filter(|s| !(s.registered)(state))
            .map(|s| s.name)
            .collect()
    }
}

impl std::fmt::Debug for Requirements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requirements")
            .field(
                "states",
                &self.states.iter().map(|s| s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}
