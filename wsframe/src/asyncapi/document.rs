//! The AsyncAPI 3.0 document of an app's WebSocket routes: one channel per route, its
//! path parameters as channel parameters, its query parameters and headers (cookies as
//! properties of `Cookie`) in the channel's WebSocket binding, its credentials as
//! `httpApiKey` security schemes (listed in the operations' `security`, which AsyncAPI
//! reads as alternatives), and two operations, the messages the app receives and the
//! messages it sends. The served document names the server by the request's `Host`.

use serde_json::{Map, Value, json};

use super::example::example as schema_example;
use super::route_doc::{Field, JsonMessage, Location, Messages, RouteDoc};

/// The document's `info`: what the API is called, its version and what it does.
///
/// ```
/// use wsframe::asyncapi::Info;
///
/// let info = Info::new("Chat", "1.2.0").description("Rooms of people talking.");
/// # let _ = info;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Info {
    pub(crate) title: String,
    pub(crate) version: String,
    pub(crate) description: Option<String>,
}

impl Info {
    /// An API called `title`, at `version`.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Info {
        Info {
            title: title.into(),
            version: version.into(),
            description: None,
        }
    }

    /// What the API does (Markdown).
    pub fn description(mut self, description: impl Into<String>) -> Info {
        self.description = Some(description.into());
        self
    }
}

impl Default for Info {
    /// "WebSocket API", version 0.1.0.
    fn default() -> Info {
        Info::new("WebSocket API", "0.1.0")
    }
}

/// A WebSocket route as the document needs it.
pub(crate) struct DocumentedRoute<'a> {
    pub(crate) pattern: &'a str,
    pub(crate) protocols: &'a [String],
    pub(crate) doc: &'a RouteDoc,
}

/// Where the document says the app is served (the JSON route fills it in from the
/// request).
pub(crate) struct Served<'a> {
    pub(crate) host: &'a str,
    pub(crate) secure: bool,
}

/// The WebSocket binding's version this document follows.
const WS_BINDING: &str = "0.1.0";

/// The document.
pub(crate) fn document(
    info: &Info,
    routes: &[DocumentedRoute<'_>],
    served: Option<Served<'_>>,
) -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut schemes = Map::new();
    let mut ids: Vec<String> = Vec::new();
    let mut schemas = Map::new();
    // Each typed message's schemas join `components/schemas`; two different schemas
    // under one name (`a::Message` and `b::Message`, `Wrapper<u8>` and
    // `Wrapper<String>`, a type read and written differently) are told apart.
    let messages: Vec<Messages> = routes
        .iter()
        .map(|route| match &route.doc.messages {
            Messages::Json { incoming, outgoing } => Messages::Json {
                incoming: register(incoming, &mut schemas),
                outgoing: register(outgoing, &mut schemas),
            },
            untyped => untyped.clone(),
        })
        .collect();
    for (route, messages) in routes.iter().zip(&messages) {
        let id = unique_id(&mut ids, route);
        let security: Vec<Value> = route
            .doc
            .fields
            .iter()
            .filter(|f| f.credential)
            .map(|field| {
                let name = scheme_name(field);
                schemes.insert(name.clone(), scheme(field));
                json!({ "$ref": format!("#/components/securitySchemes/{name}") })
            })
            .collect();
        channels.insert(id.clone(), channel(route, messages));
        for (action, what) in [
            ("receive", "What the client sends: the app receives it."),
            ("send", "What the app sends to the client."),
        ] {
            let messages: Vec<Value> = message_ids(messages, action == "receive")
                .iter()
                .map(|m| json!({ "$ref": format!("#/channels/{id}/messages/{m}") }))
                .collect();
            let mut operation = json!({
                "action": action,
                "channel": { "$ref": format!("#/channels/{id}") },
                "summary": what,
                "messages": messages,
            });
            if !security.is_empty() {
                operation["security"] = Value::Array(security.clone());
            }
            if !route.doc.tags.is_empty() {
                operation["tags"] = tags(&route.doc.tags);
            }
            operations.insert(format!("{id}.{action}"), operation);
        }
    }
    let mut info_json = json!({ "title": info.title, "version": info.version });
    if let Some(description) = &info.description {
        info_json["description"] = json!(description);
    }
    let mut doc = json!({
        "asyncapi": "3.0.0",
        "info": info_json,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
    });
    if let Some(served) = served {
        doc["servers"] = json!({
            "this": {
                "host": served.host,
                "protocol": if served.secure { "wss" } else { "ws" },
                "description": "The server that served this document.",
            }
        });
    }
    if !schemes.is_empty() {
        doc["components"]["securitySchemes"] = Value::Object(schemes);
    }
    if !schemas.is_empty() {
        doc["components"]["schemas"] = Value::Object(schemas);
    }
    doc
}

/// `message` with its named schemas added to `schemas`: under their own names, or, when
/// a different schema has the name already, under a new one that its references follow.
fn register(message: &JsonMessage, schemas: &mut Map<String, Value>) -> JsonMessage {
    let mut renamed: Vec<(String, String)> = Vec::new();
    for (name, schema) in &message.definitions {
        if schemas.get(name).is_some_and(|known| known != schema) {
            let mut n = 2;
            while schemas.contains_key(&format!("{name}{n}")) {
                n += 1;
            }
            renamed.push((name.clone(), format!("{name}{n}")));
        }
    }
    let rename = |value: &Value| {
        let mut value = value.clone();
        for (from, to) in &renamed {
            rewrite_refs(&mut value, from, to);
        }
        value
    };
    let new_name = |name: &String| {
        renamed
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name.clone(), |(_, to)| to.clone())
    };
    let message = JsonMessage {
        rust_type: message.rust_type,
        name: new_name(&message.name),
        schema: message.schema.as_ref().map(rename),
        definitions: message
            .definitions
            .iter()
            .map(|(name, schema)| (new_name(name), rename(schema)))
            .collect(),
    };
    for (name, schema) in &message.definitions {
        schemas
            .entry(name.clone())
            .or_insert_with(|| schema.clone());
    }
    message
}

/// Point every reference to the named schema `from` at `to`.
fn rewrite_refs(value: &mut Value, from: &str, to: &str) {
    let old = format!("#/components/schemas/{from}");
    match value {
        Value::Object(map) => {
            if map.get("$ref").and_then(Value::as_str) == Some(old.as_str()) {
                map.insert("$ref".into(), json!(format!("#/components/schemas/{to}")));
            }
            map.values_mut().for_each(|v| rewrite_refs(v, from, to));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, from, to)),
        _ => {}
    }
}

/// A channel id: the handler's name, else one made from the pattern; unique.
fn unique_id(ids: &mut Vec<String>, route: &DocumentedRoute<'_>) -> String {
    // The handler's name, else the pattern's words (`/plain/<rest..>` is `plain_rest`);
    // ids keep to `[A-Za-z0-9_-]`, which references and tools expect.
    let words = route.doc.name.as_deref().unwrap_or(route.pattern);
    let base = words
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    let base = if base.is_empty() {
        "root".to_string()
    } else {
        base
    };
    let mut id = base.clone();
    let mut n = 2;
    while ids.contains(&id) {
        id = format!("{base}_{n}");
        n += 1;
    }
    ids.push(id.clone());
    id
}

fn channel(route: &DocumentedRoute<'_>, typed: &Messages) -> Value {
    let doc = route.doc;
    let mut channel = json!({
        "address": address(route.pattern),
        "messages": messages(typed),
        "bindings": { "ws": binding(route) },
    });
    if let Some(summary) = &doc.summary {
        channel["summary"] = json!(summary);
    }
    if let Some(description) = &doc.description {
        channel["description"] = json!(description);
    }
    if !doc.tags.is_empty() {
        channel["tags"] = tags(&doc.tags);
    }
    let params: Map<String, Value> = path_names(route.pattern)
        .into_iter()
        .map(|name| {
            let rust_type = doc
                .path
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.rust_type);
            (name, parameter(rust_type))
        })
        .collect();
    if !params.is_empty() {
        channel["parameters"] = Value::Object(params);
    }
    channel
}

fn tags(tags: &[String]) -> Value {
    Value::Array(tags.iter().map(|name| json!({ "name": name })).collect())
}

/// A path parameter: AsyncAPI 3.0 parameters are strings with no schema, so the Rust
/// type goes in the description and the example.
fn parameter(rust_type: Option<&str>) -> Value {
    match rust_type {
        Some(rust_type) => json!({
            "description": format!("Path parameter, parsed as `{}`.", short_type(rust_type)),
            "examples": [param_example(rust_type)],
        }),
        None => json!({ "description": "Path parameter." }),
    }
}

/// The channel's WebSocket binding: the handshake's query parameters and headers.
fn binding(route: &DocumentedRoute<'_>) -> Value {
    let fields = &route.doc.fields;
    let mut binding = json!({ "method": "GET" });
    if let Some(query) = object_schema(
        fields.iter().filter(|f| f.location == Location::Query),
        |f| f.name.clone(),
    ) {
        binding["query"] = query;
    }
    let mut headers = object_schema(
        fields.iter().filter(|f| f.location == Location::Header),
        |f| f.name.clone(),
    )
    .unwrap_or_else(|| json!({ "type": "object", "properties": {} }));
    let cookies: Vec<&Field> = fields
        .iter()
        .filter(|f| f.location == Location::Cookie)
        .collect();
    if !cookies.is_empty() {
        let listed = cookies
            .iter()
            .map(|f| {
                let need = if f.required { "required" } else { "optional" };
                format!("`{}` ({need})", f.name)
            })
            .collect::<Vec<_>>()
            .join(", ");
        headers["properties"]["cookie"] = json!({
            "type": "string",
            "description": format!("Cookies: {listed}."),
            "examples": [cookies.iter().map(|f| format!("{}={}", f.name, example_of(f))).collect::<Vec<_>>().join("; ")],
        });
        if cookies.iter().any(|f| f.required) {
            push_required(&mut headers, "cookie");
        }
    }
    if !route.protocols.is_empty() {
        headers["properties"]["sec-websocket-protocol"] = json!({
            "type": "string",
            "description": format!(
                "Subprotocols the route supports: {}. The first the client offers that the route supports is selected.",
                route.protocols.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ")
            ),
            "examples": [route.protocols.join(", ")],
        });
    }
    if headers["properties"]
        .as_object()
        .is_some_and(|p| !p.is_empty())
    {
        binding["headers"] = headers;
    }
    binding["bindingVersion"] = json!(WS_BINDING);
    binding
}

fn push_required(schema: &mut Value, name: &str) {
    match schema["required"].as_array_mut() {
        Some(required) => required.push(json!(name)),
        None => schema["required"] = json!([name]),
    }
}

/// A JSON Schema object with a property per field; `None` with no field.
fn object_schema<'a>(
    fields: impl Iterator<Item = &'a Field>,
    name: impl Fn(&Field) -> String,
) -> Option<Value> {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        let mut property = json!({ "type": json_type(field.rust_type.unwrap_or("")) });
        let mut description = field.description.clone().unwrap_or_default();
        if let Some(rust_type) = field.rust_type {
            let parsed = format!("Parsed as `{}`.", short_type(rust_type));
            description = if description.is_empty() {
                parsed
            } else {
                format!("{description} {parsed}")
            };
        }
        if !description.is_empty() {
            property["description"] = json!(description);
        }
        properties.insert(name(field), property);
        if field.required {
            required.push(json!(name(field)));
        }
    }
    if properties.is_empty() {
        return None;
    }
    let mut schema = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    Some(schema)
}

/// The channel's messages that an operation carries: what the app receives (from the
/// client) or sends.
fn message_ids(messages: &Messages, receive: bool) -> &'static [&'static str] {
    match (messages, receive) {
        (Messages::Untyped, _) => &["text", "binary"],
        (Messages::Json { .. }, true) => &["clientMessage"],
        (Messages::Json { .. }, false) => &["serverMessage"],
    }
}

/// A typed message: JSON text, with its schema and an example made from it when the
/// type's schema is known.
fn json_message(message: &JsonMessage, what: &str) -> Value {
    let short = short_type(message.rust_type);
    let mut value = json!({
        "name": message.name,
        "title": short,
        "summary": format!("{what} `{short}`, as JSON text."),
        "contentType": "application/json",
    });
    match &message.schema {
        Some(schema) => {
            value["payload"] = schema.clone();
            value["examples"] =
                json!([{ "payload": schema_example(schema, &message.definitions) }]);
        }
        None => {
            value["payload"] = json!({ "description": format!("`{short}` (no schema: its type does not derive `JsonSchema`, or the `schemas` feature is off).") })
        }
    }
    value
}

fn messages(messages: &Messages) -> Value {
    match messages {
        Messages::Json { incoming, outgoing } => json!({
            "clientMessage": json_message(incoming, "The client sends"),
            "serverMessage": json_message(outgoing, "The app sends"),
        }),
        Messages::Untyped => json!({
            "text": {
                "name": "text",
                "title": "Text message",
                "contentType": "text/plain",
                "payload": { "type": "string" },
            },
            "binary": {
                "name": "binary",
                "title": "Binary message",
                "contentType": "application/octet-stream",
                "payload": { "type": "string", "format": "binary" },
            },
        }),
    }
}

fn scheme_name(field: &Field) -> String {
    format!(
        "{}_{}",
        field.location.as_str(),
        field
            .name
            .replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    )
}

fn scheme(field: &Field) -> Value {
    let mut scheme = json!({
        "type": "httpApiKey",
        "name": field.name,
        "in": field.location.as_str(),
    });
    if let Some(description) = &field.description {
        scheme["description"] = json!(description);
    }
    scheme
}

/// The route's address: `<name>` and `<name..>` become `{name}`.
pub(crate) fn address(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            break;
        };
        let name = rest[open + 1..open + close].trim_end_matches("..");
        out.push('{');
        out.push_str(name);
        out.push('}');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The names of the pattern's path parameters, in order.
fn path_names(pattern: &str) -> Vec<String> {
    pattern
        .split('<')
        .skip(1)
        .filter_map(|part| part.split_once('>'))
        .map(|(name, _)| name.trim_end_matches("..").to_string())
        .collect()
}

/// `alloc::string::String` as `String`, `core::option::Option<u32>` as `Option<u32>`.
pub(crate) fn short_type(rust_type: &str) -> String {
    let mut out = String::new();
    let mut segment = String::new();
    for c in rust_type.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            segment.push(c);
        } else {
            out.push_str(segment.rsplit("::").next().unwrap_or(""));
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(segment.rsplit("::").next().unwrap_or(""));
    out
}

/// The JSON type a value parsed into `rust_type` has.
fn json_type(rust_type: &str) -> &'static str {
    match short_type(rust_type).as_str() {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "integer",
        "f32" | "f64" => "number",
        "bool" => "boolean",
        _ => "string",
    }
}

/// An example value of `rust_type`, as it appears in a URL.
fn param_example(rust_type: &str) -> String {
    match json_type(rust_type) {
        "integer" => "42".to_string(),
        "number" => "1.5".to_string(),
        "boolean" => "true".to_string(),
        _ if short_type(rust_type) == "Uuid" => "67e55044-10b1-426f-9247-bb680e5fe0c8".to_string(),
        _ => "example".to_string(),
    }
}

fn example_of(field: &Field) -> String {
    param_example(field.rust_type.unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_use_braces_for_parameters() {
        assert_eq!(address("/ws/<client_id>"), "/ws/{client_id}");
        assert_eq!(address("/files/<path..>"), "/files/{path}");
        assert_eq!(address("/"), "/");
        assert_eq!(path_names("/a/<x>/b/<y..>"), ["x", "y"]);
    }

    #[test]
    fn rust_types_are_shortened_and_typed() {
        assert_eq!(short_type("alloc::string::String"), "String");
        assert_eq!(short_type("core::option::Option<u32>"), "Option<u32>");
        assert_eq!(json_type("i64"), "integer");
        assert_eq!(json_type("alloc::string::String"), "string");
        assert_eq!(param_example("u8"), "42");
    }

    #[test]
    fn routes_with_the_same_name_get_distinct_channels() {
        let doc = RouteDoc::default();
        let routes = [
            DocumentedRoute {
                pattern: "/a",
                protocols: &[],
                doc: &doc,
            },
            DocumentedRoute {
                pattern: "/a/",
                protocols: &[],
                doc: &doc,
            },
        ];
        let value = document(&Info::default(), &routes, None);
        let channels = value["channels"].as_object().unwrap();
        assert_eq!(channels.keys().collect::<Vec<_>>(), ["a", "a_2"]);
    }
}
