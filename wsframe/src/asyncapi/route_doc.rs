//! What a WebSocket route tells about itself: its summary, parameters, credentials
//! and messages, gathered from the handler's attribute, its doc comment and the
//! `describe` methods of its extractors, guards and dependencies.

/// Where a handshake value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    /// The query string (`?name=value`).
    Query,
    /// A request header.
    Header,
    /// A cookie (a property of the `Cookie` header).
    Cookie,
}

impl Location {
    /// The name AsyncAPI's `httpApiKey` scheme gives it (`in`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Location::Query => "query",
            Location::Header => "header",
            Location::Cookie => "cookie",
        }
    }
}

/// One value a route reads from the handshake: a query parameter, a header or a
/// cookie.
///
/// A custom guard describes what it reads with these, in
/// [`FromHandshake::describe`](crate::FromHandshake::describe):
///
/// ```
/// use wsframe::asyncapi::{Field, RouteDoc};
///
/// let mut doc = RouteDoc::default();
/// doc.field(Field::header("authorization").credential().description("`Bearer <token>`"));
/// doc.field(Field::query("limit").of::<u32>().optional());
/// assert_eq!(doc.fields().len(), 2);
/// assert!(doc.fields()[0].is_credential());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub(crate) name: String,
    pub(crate) location: Location,
    pub(crate) rust_type: Option<&'static str>,
    pub(crate) required: bool,
    pub(crate) credential: bool,
    pub(crate) description: Option<String>,
}

impl Field {
    fn new(location: Location, name: &str) -> Field {
        Field {
            name: name.to_string(),
            location,
            rust_type: None,
            required: true,
            credential: false,
            description: None,
        }
    }

    /// A query parameter.
    pub fn query(name: &str) -> Field {
        Field::new(Location::Query, name)
    }

    /// A request header (case-insensitive; documented in lower case).
    pub fn header(name: &str) -> Field {
        Field::new(Location::Header, &name.to_ascii_lowercase())
    }

    /// A cookie.
    pub fn cookie(name: &str) -> Field {
        Field::new(Location::Cookie, name)
    }

    /// The Rust type the value is parsed into (its JSON type in the document).
    pub fn of<T: ?Sized>(mut self) -> Field {
        self.rust_type = Some(std::any::type_name::<T>());
        self
    }

    /// The handshake goes on without it (required by default).
    pub fn optional(mut self) -> Field {
        self.required = false;
        self
    }

    /// It proves who the client is: listed as an `httpApiKey` security scheme too.
    pub fn credential(mut self) -> Field {
        self.credential = true;
        self
    }

    /// What it means.
    pub fn description(mut self, description: impl Into<String>) -> Field {
        self.description = Some(description.into());
        self
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it comes from.
    pub fn location(&self) -> Location {
        self.location
    }

    /// Whether it is listed as a security scheme.
    pub fn is_credential(&self) -> bool {
        self.credential
    }

    /// Whether the handshake needs it.
    pub fn is_required(&self) -> bool {
        self.required
    }
}

/// A path parameter: `<name>` in the route, parsed into a Rust type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathParam {
    pub(crate) name: String,
    pub(crate) rust_type: &'static str,
}

/// What a route's messages are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Messages {
    /// Text or binary, either way (a plain `WebSocket`).
    #[default]
    Untyped,
    /// JSON text both ways (a `TypedWebSocket<In, Out>`).
    Json {
        /// What the app receives (`In`).
        incoming: JsonMessage,
        /// What the app sends (`Out`).
        outgoing: JsonMessage,
    },
}

/// A typed message: its Rust type and, with the `schemas` feature and a type that
/// derives `JsonSchema`, its JSON Schema.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JsonMessage {
    pub(crate) rust_type: &'static str,
    /// The schema's name (the type's name without its path, without the feature).
    pub(crate) name: String,
    /// The payload's schema: inline, or a reference into `definitions`.
    pub(crate) schema: Option<serde_json::Value>,
    /// Named schemas it references, for `#/components/schemas/`.
    pub(crate) definitions: std::collections::BTreeMap<String, serde_json::Value>,
}

impl JsonMessage {
    /// `T`, known by its name only.
    pub(crate) fn unknown<T: ?Sized>() -> JsonMessage {
        let rust_type = std::any::type_name::<T>();
        JsonMessage {
            rust_type,
            name: super::document::short_type(rust_type),
            schema: None,
            definitions: Default::default(),
        }
    }
}

/// What a WebSocket route tells about itself, for its AsyncAPI channel.
///
/// `#[websocket]` fills it in: the handler's name, its `///` doc comment (first
/// paragraph as the summary, the whole as the description), its path, query, header and
/// cookie arguments, and whatever its guards, dependencies and extractors describe
/// ([`FromHandshake::describe`](crate::FromHandshake::describe)).
///
/// ```
/// use wsframe::asyncapi::{Field, RouteDoc};
///
/// let mut doc = RouteDoc::default();
/// doc.field(Field::cookie("session").credential());
/// doc.field(Field::cookie("session").credential()); // described twice: kept once
/// assert_eq!(doc.fields().len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteDoc {
    pub(crate) name: Option<String>,
    pub(crate) summary: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) path: Vec<PathParam>,
    pub(crate) fields: Vec<Field>,
    pub(crate) messages: Messages,
}

impl RouteDoc {
    /// Add a value the route reads from the handshake. One already described (same
    /// place, same name) is kept as first described, made a credential if either is.
    pub fn field(&mut self, field: Field) -> &mut RouteDoc {
        match self
            .fields
            .iter_mut()
            .find(|f| f.location == field.location && f.name == field.name)
        {
            Some(known) => known.credential |= field.credential,
            None => self.fields.push(field),
        }
        self
    }

    /// What `describe` describes, every value made optional: the route goes on without
    /// them (an `Option<G>` or `Result<G, _>` guard).
    pub(crate) fn optional(&mut self, describe: impl FnOnce(&mut RouteDoc)) {
        let mut inner = RouteDoc::default();
        describe(&mut inner);
        for field in inner.fields {
            self.field(field.optional());
        }
    }

    /// The values the route reads from the handshake, as described.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The route's name (its handler's): `#[websocket]` sets it.
    #[doc(hidden)]
    pub fn __name(&mut self, name: &str) {
        self.name = Some(name.to_string());
    }

    /// The handler's doc comment, one attribute line at a time: `#[websocket]` calls it.
    #[doc(hidden)]
    pub fn __docs(&mut self, lines: &[&str]) {
        let text = doc_text(lines);
        if text.is_empty() {
            return;
        }
        self.summary = Some(text.split("\n\n").next().unwrap_or("").replace('\n', " "));
        self.description = Some(text);
    }

    /// JSON messages, `In` received and `Out` sent, known by their names only: what
    /// `TypedWebSocket<In, Out>` says without the `schemas` feature, and what a handle
    /// of your own can say in [`FromWebSocket::describe`](crate::FromWebSocket::describe).
    ///
    /// ```
    /// use wsframe::asyncapi::RouteDoc;
    ///
    /// struct Ask;
    /// struct Answer;
    ///
    /// let mut doc = RouteDoc::default();
    /// doc.json_messages::<Ask, Answer>();
    /// # let _ = doc;
    /// ```
    pub fn json_messages<In: ?Sized, Out: ?Sized>(&mut self) {
        self.messages = Messages::Json {
            incoming: JsonMessage::unknown::<In>(),
            outgoing: JsonMessage::unknown::<Out>(),
        };
    }

    /// JSON messages with their schemas: `#[websocket]` calls it for a
    /// `TypedWebSocket<In, Out>` whose types derive `JsonSchema`.
    #[cfg(feature = "schemas")]
    #[doc(hidden)]
    pub fn __json_schemas<In: schemars::JsonSchema + ?Sized, Out: schemars::JsonSchema + ?Sized>(
        &mut self,
    ) {
        self.messages = Messages::Json {
            incoming: super::schemas::message::<In>(true),
            outgoing: super::schemas::message::<Out>(false),
        };
    }

    /// The route's tags (`tags = [..]`): `#[websocket]` calls it.
    #[doc(hidden)]
    pub fn __tags(&mut self, tags: &[&str]) {
        self.tags = tags.iter().map(|t| t.to_string()).collect();
    }

    /// A path parameter `<name>` parsed into `T`: `#[websocket]` calls it.
    #[doc(hidden)]
    pub fn __path<T: ?Sized>(&mut self, name: &str) {
        if !self.path.iter().any(|p| p.name == name) {
            self.path.push(PathParam {
                name: name.to_string(),
                rust_type: std::any::type_name::<T>(),
            });
        }
    }
}

/// Doc-comment lines (each with the space rustdoc keeps after `///`) as Markdown.
fn doc_text(lines: &[&str]) -> String {
    let text = lines
        .iter()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_paragraph_of_the_doc_comment_is_the_summary() {
        let mut doc = RouteDoc::default();
        doc.__docs(&[" Chat in a room:", " everyone hears you.", "", " Details."]);
        assert_eq!(
            doc.summary.as_deref(),
            Some("Chat in a room: everyone hears you.")
        );
        assert_eq!(
            doc.description.as_deref(),
            Some("Chat in a room:\neveryone hears you.\n\nDetails.")
        );
    }

    #[test]
    fn no_doc_comment_leaves_no_summary() {
        let mut doc = RouteDoc::default();
        doc.__docs(&[]);
        assert_eq!(doc.summary, None);
    }

    #[test]
    fn a_field_described_twice_is_kept_once_and_a_credential_if_either_says_so() {
        let mut doc = RouteDoc::default();
        doc.field(Field::query("token").optional());
        doc.field(Field::query("token").credential());
        doc.field(Field::header("Token"));
        assert_eq!(doc.fields().len(), 2);
        assert!(doc.fields()[0].is_credential());
        assert!(!doc.fields()[0].is_required());
        assert_eq!(doc.fields()[1].name(), "token");
    }
}
