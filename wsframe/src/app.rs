//! [`App`]: routes, state and configuration, turned into a running server by
//! [`App::serve`] or [`App::bind`], or into a [`TestClient`](crate::testing::TestClient).

use std::future::Future;
use std::sync::Arc;

use crate::asyncapi::{DocumentedRoute, Info, RouteDoc, Served};
use crate::handler::{BoxedWsHandler, WsHandler};
use crate::lifecycle::Lifecycle;
use crate::metrics::{Counters, Metrics};
use crate::overrides::Overrides;
use crate::response::{BoxedHttpHandler, IntoResponse, Response};
use crate::router::{RoutePattern, Router};
use crate::{Config, Error, HandshakeRequest, Hub, Limits, Requirements, Result, RouteLimits};

/// One route: a WebSocket endpoint or a plain HTTP GET endpoint at a pattern.
///
/// ```
/// use wsframe::{Route, RouteLimits, WebSocket};
///
/// async fn chat(ws: WebSocket) {}
///
/// let route = Route::websocket("/ws/<room>", chat)
///     .protocols(["chat.v2", "chat.v1"])
///     .limits(RouteLimits::new().max_message_size(64 << 10));
/// assert_eq!(route.pattern(), "/ws/<room>");
/// ```
pub struct Route {
    pattern: String,
    kind: RouteKind,
    protocols: Vec<String>,
    limits: RouteLimits,
    /// What the route tells about itself (WebSocket routes), for the AsyncAPI document.
    doc: RouteDoc,
}

enum RouteKind {
    /// The handler, and what its extractors need from the app (checked at build).
    WebSocket(BoxedWsHandler, fn(&mut Requirements)),
    Get(BoxedHttpHandler),
}

impl Route {
    /// A WebSocket route served by `handler` (see [`WsHandler`]).
    pub fn websocket<H: WsHandler<Args>, Args: 'static>(pattern: &str, handler: H) -> Route {
        Route::from_boxed(
            pattern,
            <H as WsHandler<Args>>::requirements,
            <H as WsHandler<Args>>::describe,
            crate::handler::boxed(handler),
        )
    }

    pub(crate) fn from_boxed(
        pattern: &str,
        requirements: fn(&mut Requirements),
        describe: fn(&mut RouteDoc),
        handler: BoxedWsHandler,
    ) -> Route {
        let mut doc = RouteDoc::default();
        describe(&mut doc);
        Route {
            pattern: pattern.to_string(),
            kind: RouteKind::WebSocket(handler, requirements),
            protocols: Vec::new(),
            limits: RouteLimits::default(),
            doc,
        }
    }

    /// A plain HTTP GET (and HEAD) route.
    pub fn get<F, Fut, R>(pattern: &str, handler: F) -> Route
    where
        F: Fn(Arc<HandshakeRequest>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        Route {
            pattern: pattern.to_string(),
            kind: RouteKind::Get(crate::response::boxed_http(handler)),
            protocols: Vec::new(),
            limits: RouteLimits::default(),
            doc: RouteDoc::default(),
        }
    }

    /// Subprotocols this route supports. The first one in the client's list that the
    /// route supports is selected (the client's order of preference wins), unless the
    /// handler's `accept_with` names another offered one; with no match none is
    /// selected.
    pub fn protocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, protocols: I) -> Route {
        self.protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// Limits for this route over the app-wide ones. Fields set here override those set
    /// before (for instance by the `#[websocket]` attribute's options); fields left unset
    /// keep their earlier value.
    ///
    /// ```
    /// use wsframe::prelude::*;
    /// use wsframe::{IntoRoute, MessageRate};
    ///
    /// #[websocket("/ws", max_message_size = 1024)]
    /// async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
    ///     while let Ok(m) = ws.receive().await {
    ///         ws.send(m).await?;
    ///     }
    ///     Ok(())
    /// }
    ///
    /// // Adds a rate limit; the attribute's 1 KiB message limit stays.
    /// let route = echo.into_route().limits(RouteLimits::new().max_message_rate(MessageRate::per_second(50)));
    /// let app = App::new().route(route);
    /// # let _ = app;
    /// ```
    pub fn limits(mut self, limits: RouteLimits) -> Route {
        self.limits = limits.over(self.limits);
        self
    }

    /// The pattern as written.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// What the route tells about itself in the app's AsyncAPI document (see
    /// [`asyncapi`](crate::asyncapi)).
    ///
    /// ```
    /// use wsframe::{Route, WebSocket};
    ///
    /// async fn chat(ws: WebSocket) {}
    ///
    /// let route = Route::websocket("/ws/<room>", chat);
    /// assert!(route.doc().fields().is_empty());
    /// ```
    pub fn doc(&self) -> &RouteDoc {
        &self.doc
    }

    /// The WebSocket route as the document needs it; `None` for a GET route.
    fn documented(&self) -> Option<DocumentedRoute<'_>> {
        matches!(self.kind, RouteKind::WebSocket(..)).then(|| DocumentedRoute {
            pattern: &self.pattern,
            protocols: &self.protocols,
            doc: &self.doc,
        })
    }
}

/// Anything that can be registered as a route: a [`Route`], or the item a
/// `#[websocket]` handler becomes.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a route",
    note = "annotate the handler with `#[websocket(\"/path\")]`, or build a `Route::websocket(..)`"
)]
pub trait IntoRoute {
    /// The route.
    fn into_route(self) -> Route;
}

impl IntoRoute for Route {
    fn into_route(self) -> Route {
        self
    }
}

/// A list of routes for [`App::routes`]: `routes![chat, echo]`.
///
/// ```
/// use wsframe::{routes, App, Route, WebSocket};
/// async fn echo(ws: WebSocket) {}
/// let app = App::new().routes(routes![Route::websocket("/echo", echo)]);
/// ```
#[macro_export]
macro_rules! routes {
    ($($route:expr),* $(,)?) => {
        ::std::vec![$($crate::IntoRoute::into_route($route)),*]
    };
}

/// A WebSocket application: routes, shared state and configuration.
///
/// ```no_run
/// use wsframe::{App, WebSocket};
///
/// async fn echo(mut ws: WebSocket) -> wsframe::Result<()> {
///     while let Ok(msg) = ws.receive().await {
///         ws.send(msg).await?;
///     }
///     Ok(())
/// }
///
/// #[tokio::main]
/// async fn main() -> wsframe::Result<()> {
///     App::new().websocket("/ws", echo).serve("127.0.0.1:8080").await
/// }
/// ```
pub struct App {
    config: Config,
    routes: Vec<Route>,
    state: http::Extensions,
    metrics: Metrics,
    hub: Hub,
    backplane: Option<Arc<dyn crate::backplane::Backplane>>,
    info: Info,
    /// Where the AsyncAPI document is served, if it is.
    asyncapi_route: Option<String>,
    /// Where the docs page is served, if it is.
    docs_route: Option<String>,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    /// An app with no routes and the default [`Config`].
    pub fn new() -> App {
        let counters = Arc::new(Counters::default());
        App {
            config: Config::default(),
            routes: Vec::new(),
            state: http::Extensions::new(),
            hub: Hub::new(counters.clone()),
            metrics: Metrics(counters),
            backplane: None,
            info: Info::default(),
            asyncapi_route: None,
            docs_route: None,
        }
    }

    /// The title, version and description of the app's AsyncAPI document.
    ///
    /// ```
    /// use wsframe::App;
    /// use wsframe::asyncapi::Info;
    ///
    /// let app = App::new().info(Info::new("Chat", "2.1.0").description("Rooms."));
    /// assert_eq!(app.asyncapi()["info"]["title"], "Chat");
    /// ```
    pub fn info(mut self, info: Info) -> App {
        self.info = info;
        self
    }

    /// The app's WebSocket routes as an AsyncAPI 3.0 document (see
    /// [`asyncapi`](crate::asyncapi)), without `servers`: the document served by
    /// [`asyncapi_route`](Self::asyncapi_route) names the server that answered.
    ///
    /// ```
    /// let doc = wsframe::App::new().asyncapi();
    /// assert_eq!(doc["asyncapi"], "3.0.0");
    /// assert!(doc["channels"].as_object().unwrap().is_empty());
    /// ```
    pub fn asyncapi(&self) -> serde_json::Value {
        let routes: Vec<DocumentedRoute<'_>> =
            self.routes.iter().filter_map(Route::documented).collect();
        crate::asyncapi::document(&self.info, &routes, None)
    }

    /// Serve the app's AsyncAPI document as JSON at `pattern` (a GET route, e.g.
    /// `/asyncapi.json`), with the server that answered (the request's
    /// [`host`](crate::HandshakeRequest::host) and scheme) under `servers`. It
    /// documents every WebSocket route of the app, whenever added.
    ///
    /// ```
    /// use wsframe::App;
    /// use wsframe::testing::TestClient;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().asyncapi_route("/asyncapi.json"))?;
    /// let response = client.get("/asyncapi.json").await?;
    /// assert_eq!(response.status, 200);
    /// let doc: serde_json::Value = serde_json::from_str(&response.text()).unwrap();
    /// assert_eq!(doc["asyncapi"], "3.0.0");
    /// # Ok(())
    /// # }
    /// ```
    pub fn asyncapi_route(mut self, pattern: &str) -> App {
        self.asyncapi_route = Some(pattern.to_string());
        self
    }

    /// Serve a docs page at `pattern` (a GET route, e.g. `/docs`): every WebSocket route
    /// of the app with its parameters, credentials, subprotocols and message schemas,
    /// and a live console per route (fill in the parameters, connect, send text or JSON
    /// made from the schema's example, watch what arrives, with the close code and
    /// reason). The page is self-contained: HTML, CSS and JavaScript from the binary,
    /// nothing fetched from elsewhere.
    ///
    /// ```
    /// use wsframe::App;
    /// use wsframe::testing::TestClient;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().docs_route("/docs"))?;
    /// let page = client.get("/docs").await?;
    /// assert_eq!(page.status, 200);
    /// assert!(page.text().contains("WebSocket routes"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn docs_route(mut self, pattern: &str) -> App {
        self.docs_route = Some(pattern.to_string());
        self
    }

    /// The app's broadcast hub, for code outside handlers (handlers take `hub: Hub`).
    pub fn hub(&self) -> Hub {
        self.hub.clone()
    }

    /// Join this app's hub to the hubs of other nodes (see [`backplane`](crate::backplane));
    /// without one the hub is in-process.
    ///
    /// ```no_run
    /// # #[cfg(feature = "redis")]
    /// # async fn run() -> wsframe::Result<()> {
    /// let backplane = wsframe::backplane::RedisBackplane::new("redis://127.0.0.1:6379")?;
    /// wsframe::App::new().backplane(backplane).serve("127.0.0.1:8080").await
    /// # }
    /// ```
    pub fn backplane(mut self, backplane: impl crate::backplane::Backplane) -> App {
        self.backplane = Some(Arc::new(backplane));
        self
    }

    /// Replace the configuration.
    pub fn config(mut self, config: Config) -> App {
        self.config = config;
        self
    }

    /// Add a route: a [`Route`], or a handler annotated with `#[websocket]`.
    pub fn route(mut self, route: impl IntoRoute) -> App {
        self.routes.push(route.into_route());
        self
    }

    /// Add several routes.
    pub fn routes(mut self, routes: impl IntoIterator<Item = Route>) -> App {
        self.routes.extend(routes);
        self
    }

    /// Add a WebSocket route with default options.
    pub fn websocket<H: WsHandler<Args>, Args: 'static>(self, pattern: &str, handler: H) -> App {
        self.route(Route::websocket(pattern, handler))
    }

    /// Add a plain HTTP GET route.
    pub fn get<F, Fut, R>(self, pattern: &str, handler: F) -> App
    where
        F: Fn(Arc<HandshakeRequest>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: IntoResponse,
    {
        self.route(Route::get(pattern, handler))
    }

    /// Register shared state, read by the [`State<T>`](crate::State) extractor.
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> App {
        self.state.insert(value);
        self
    }

    /// A handle to this app's counters, usable before and during serving.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// Serve this app's counters at `pattern` (a GET route, e.g. `/metrics`) in
    /// Prometheus' text format ([`MetricsSnapshot::to_prometheus`]). The route is public
    /// like any other: expose it on an internal network or guard it at the proxy.
    ///
    /// ```
    /// use wsframe::App;
    /// use wsframe::testing::TestClient;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> wsframe::Result<()> {
    /// let client = TestClient::new(App::new().metrics_route("/metrics"))?;
    /// let response = client.get("/metrics").await?;
    /// assert_eq!(response.status, 200);
    /// assert!(response.text().contains("wsframe_connections_open 0\n"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// [`MetricsSnapshot::to_prometheus`]: crate::MetricsSnapshot::to_prometheus
    pub fn metrics_route(self, pattern: &str) -> App {
        let metrics = self.metrics.clone();
        self.get(pattern, move |_| {
            let response = crate::prometheus::response(&metrics);
            async move { response }
        })
    }

    /// Build the router; every malformed or conflicting route is reported.
    pub(crate) fn build(mut self) -> Result<Arc<AppInner>> {
        let parts = Arc::new(self.asyncapi_parts());
        if let Some(pattern) = self.asyncapi_route.take() {
            let parts = parts.clone();
            self = self.get(&pattern, move |req| {
                let response = crate::Json(parts.document(&req)).into_response();
                async move { varies_with_the_server(response) }
            });
        }
        if let Some(pattern) = self.docs_route.take() {
            self = self.get(&pattern, move |req| {
                let response =
                    crate::Html(crate::asyncapi::page(&parts.document(&req))).into_response();
                async move { varies_with_the_server(response) }
            });
        }
        let mut endpoints: Vec<(RoutePattern, Endpoint)> = Vec::new();
        let mut errors = Vec::new();
        // What each WebSocket route's extractors need, checked once the state is complete.
        let mut needs: Vec<(String, Requirements)> = Vec::new();
        for route in self.routes {
            let pattern = match RoutePattern::parse(&route.pattern) {
                Ok(p) => p,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let index = match endpoints.iter().position(|(p, _)| *p == pattern) {
                Some(i) => i,
                None => {
                    endpoints.push((pattern.clone(), Endpoint::default()));
                    endpoints.len() - 1
                }
            };
            let endpoint = &mut endpoints[index].1;
            let twice = match route.kind {
                RouteKind::WebSocket(handler, requirements) => {
                    let mut route_needs = Requirements::default();
                    requirements(&mut route_needs);
                    needs.push((pattern.as_str().to_string(), route_needs));
                    endpoint
                        .ws
                        .replace(WsEndpoint {
                            handler,
                            protocols: route.protocols.into(),
                            limits: route.limits.resolve(&self.config.limits),
                            route: Arc::from(pattern.as_str()),
                        })
                        .is_some()
                }
                RouteKind::Get(handler) => endpoint.get.replace(handler).is_some(),
            };
            if twice {
                errors.push(format!(
                    "route error: route `{}` is registered twice",
                    pattern.as_str()
                ));
            }
        }
        let mut router = Router::new();
        for (pattern, endpoint) in endpoints {
            if let Err(e) = router.insert(pattern, endpoint) {
                errors.push(e.to_string());
            }
        }
        self.config.origins.check().map_err(Error::Custom)?;
        if !errors.is_empty() {
            return Err(Error::Route(
                errors
                    .iter()
                    .map(|e| e.trim_start_matches("route error: "))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ));
        }
        let mut state = self.state;
        state.insert(self.hub.clone());
        let missing: Vec<String> = needs
            .iter()
            .flat_map(|(route, needs)| {
                needs.missing_states(&state).into_iter().map(move |ty| {
                    format!(
                        "route `{route}` needs state `{ty}`, which was never registered; add it with `App::state(..)` or take `Option<State<{ty}>>`"
                    )
                })
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingState(missing.join("\n")));
        }
        self.hub.attach(self.config.node_id, self.backplane);
        let client_limits = crate::client_limits::ClientLimits::new(
            self.config.max_connections_per_client,
            self.config.max_handshakes_per_client,
        );
        Ok(Arc::new(AppInner {
            client_limits,
            config: self.config,
            router,
            state: Arc::new(state),
            counters: self.metrics.0,
            lifecycle: Lifecycle::default(),
            hub: self.hub,
            overrides: Default::default(),
        }))
    }
}

/// A built app, shared by every connection.
pub(crate) struct AppInner {
    pub(crate) config: Config,
    pub(crate) router: Router<Endpoint>,
    pub(crate) state: Arc<http::Extensions>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) lifecycle: Lifecycle,
    pub(crate) hub: Hub,
    pub(crate) client_limits: Arc<crate::client_limits::ClientLimits>,
    /// A TestClient's doubles (`None` in a server), handed to each handshake.
    pub(crate) overrides: std::sync::RwLock<Option<Arc<Overrides>>>,
}

impl AppInner {
    /// The doubles that this app's handshakes see now.
    pub(crate) fn overrides(&self) -> Option<Arc<Overrides>> {
        self.overrides
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Change the doubles (for handshakes that start from now on).
    pub(crate) fn set_overrides(&self, change: impl FnOnce(&mut Overrides)) {
        let mut slot = self.overrides.write().unwrap_or_else(|e| e.into_inner());
        let mut overrides = slot.as_deref().cloned().unwrap_or_default();
        change(&mut overrides);
        *slot = Some(Arc::new(overrides));
    }
}

#[derive(Default)]
pub(crate) struct Endpoint {
    pub(crate) ws: Option<WsEndpoint>,
    pub(crate) get: Option<BoxedHttpHandler>,
}

pub(crate) struct WsEndpoint {
    pub(crate) handler: BoxedWsHandler,
    pub(crate) protocols: Arc<[String]>,
    pub(crate) limits: Limits,
    pub(crate) route: Arc<str>,
}

/// What the AsyncAPI route needs to answer: the document's parts, the server left out.
struct AsyncApiParts {
    info: Info,
    routes: Vec<(String, Vec<String>, RouteDoc)>,
}

impl App {
    fn asyncapi_parts(&self) -> AsyncApiParts {
        AsyncApiParts {
            info: self.info.clone(),
            routes: self
                .routes
                .iter()
                .filter_map(Route::documented)
                .map(|r| (r.pattern.to_string(), r.protocols.to_vec(), r.doc.clone()))
                .collect(),
        }
    }
}

/// A response that names the server it was asked on: caches key it on the headers that
/// say which server that was (`Host` always is).
fn varies_with_the_server(mut response: Response) -> Response {
    response.headers_mut().append(
        http::header::VARY,
        http::HeaderValue::from_static("X-Forwarded-Host, X-Forwarded-Proto, Forwarded"),
    );
    response
}

impl AsyncApiParts {
    /// The document, with the server that answered `req`.
    fn document(&self, req: &HandshakeRequest) -> serde_json::Value {
        let routes: Vec<DocumentedRoute<'_>> = self
            .routes
            .iter()
            .map(|(pattern, protocols, doc)| DocumentedRoute {
                pattern,
                protocols,
                doc,
            })
            .collect();
        let host = req.host().unwrap_or("localhost");
        let served = Served {
            host,
            secure: req.secure,
        };
        crate::asyncapi::document(&self.info, &routes, Some(served))
    }
}
