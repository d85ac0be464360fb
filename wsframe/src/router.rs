//! Route patterns (`/ws/<client_id>`, `/files/<path..>`) and the router built from them
//! once at start-up.
//!
//! Owns: parsing the user's pattern syntax, translating it to matchit's, reporting
//! conflicts with both routes named, and matching a request path to its route with
//! percent-decoded parameters. It never looks at anything but the path.

use std::borrow::Cow;

use wsframe_route::Segment;

use crate::{Error, Result};

/// A parsed route pattern.
///
/// Syntax: segments separated by `/`; a segment is literal text, a parameter `<name>`
/// that matches one segment, or `<name..>` that matches the rest of the path (last
/// segment only). Names are Rust identifiers.
///
/// ```
/// use wsframe::RoutePattern;
/// let p = RoutePattern::parse("/ws/<room>/<rest..>").unwrap();
/// assert_eq!(p.params(), ["room", "rest"]);
/// assert!(RoutePattern::parse("ws/<id>").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePattern {
    source: String,
    matchit: String,
    params: Vec<String>,
}

impl RoutePattern {
    /// Parse and validate a pattern; the error names every mistake (the grammar is
    /// [`wsframe_route`]'s, shared with the `#[websocket]` attribute).
    pub fn parse(pattern: &str) -> Result<RoutePattern> {
        if let Some((path, _)) = pattern.split_once('?') {
            return Err(Error::Route(format!(
                "invalid route `{pattern}`: a query part is declared only in the #[websocket] \
                 attribute; register `{path}` and read the query with `Query<T>`"
            )));
        }
        let parsed = wsframe_route::parse_path(pattern).map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            Error::Route(format!("invalid route `{pattern}`: {}", list.join("; ")))
        })?;
        let mut matchit = String::with_capacity(pattern.len() + 8);
        let mut params = Vec::new();
        for segment in &parsed.segments {
            matchit.push('/');
            match segment {
                Segment::Static(text) => {
                    matchit.push_str(&text.replace('{', "{{").replace('}', "}}"));
                }
                Segment::Param(name) => {
                    matchit.push_str(&format!("{{{name}}}"));
                    params.push(name.clone());
                }
                Segment::Rest(name) => {
                    matchit.push_str(&format!("{{*{name}}}"));
                    params.push(name.clone());
                }
            }
        }
        Ok(RoutePattern {
            source: pattern.to_string(),
            matchit,
            params,
        })
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Parameter names in order of appearance.
    pub fn params(&self) -> &[String] {
        &self.params
    }

    /// The pattern in matchit's syntax (`/ws/{id}`, `/files/{*path}`), which axum 0.8's
    /// router shares.
    #[cfg(feature = "axum")]
    pub(crate) fn matchit(&self) -> &str {
        &self.matchit
    }
}

/// Path parameters of a matched route, percent-decoded, in pattern order.
///
/// ```
/// use wsframe::PathParams;
/// let params = PathParams::from_pairs([("client_id", "42")]);
/// assert_eq!(params.get("client_id"), Some("42"));
/// assert_eq!(params.parse::<u64>("client_id").unwrap(), 42);
/// assert_eq!(params.parse::<u64>("nope").unwrap_err().status(), 400);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// Parameters from name/value pairs (for tests and custom routers).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        PathParams(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// The raw (decoded) value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter parsed through [`FromParam`](crate::FromParam); a missing or
    /// unparsable value is a 400 rejection naming the parameter.
    pub fn parse<T: crate::FromParam>(&self, name: &str) -> Result<T, crate::Rejection> {
        let raw = self.get(name).ok_or_else(|| {
            crate::Rejection::bad_request(format!("missing path parameter `{name}`"))
        })?;
        T::from_param(raw).map_err(|e| {
            crate::Rejection::bad_request(format!("invalid path parameter `{name}`: {e}"))
        })
    }

    /// All name/value pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Matches paths to values registered under [`RoutePattern`]s.
pub(crate) struct Router<T> {
    inner: matchit::Router<usize>,
    entries: Vec<(RoutePattern, T)>,
}

pub(crate) struct Matched<'a, T> {
    pub(crate) value: &'a T,
    pub(crate) pattern: &'a RoutePattern,
    /// The parameters, or the name of one that is not UTF-8 once percent-decoded.
    pub(crate) params: std::result::Result<PathParams, String>,
}

impl<T> Router<T> {
    pub(crate) fn new() -> Self {
        Router {
            inner: matchit::Router::new(),
            entries: Vec::new(),
        }
    }

    /// Register a route; a conflict names both routes.
    pub(crate) fn insert(&mut self, pattern: RoutePattern, value: T) -> Result<()> {
        let index = self.entries.len();
        if let Err(e) = self.inner.insert(pattern.matchit.clone(), index) {
            let message = match e {
                matchit::InsertError::Conflict { with } => {
                    let other = self
                        .entries
                        .iter()
                        .find(|(p, _)| p.matchit == with)
                        .map(|(p, _)| p.source.clone())
                        .unwrap_or(with);
                    if other == pattern.source {
                        format!("route `{other}` is registered twice")
                    } else {
                        format!(
                            "route `{}` conflicts with route `{other}`: both match the same paths",
                            pattern.source
                        )
                    }
                }
                other => format!("invalid route `{}`: {other}", pattern.source),
            };
            return Err(Error::Route(message));
        }
        self.entries.push((pattern, value));
        Ok(())
    }

    /// Every registered pattern, in order of registration.
    #[cfg(feature = "axum")]
    pub(crate) fn patterns(&self) -> impl Iterator<Item = &RoutePattern> {
        self.entries.iter().map(|(pattern, _)| pattern)
    }

    pub(crate) fn at(&self, path: &str) -> Option<Matched<'_, T>> {
        let m = self.inner.at(path).ok()?;
        let (pattern, value) = &self.entries[*m.value];
        let params = m
            .params
            .iter()
            .map(|(k, v)| match decode(v) {
                Some(v) => Ok((k.to_string(), v.into_owned())),
                None => Err(k.to_string()),
            })
            .collect::<std::result::Result<Vec<_>, String>>()
            .map(PathParams);
        Some(Matched {
            value,
            pattern,
            params,
        })
    }
}

fn decode(raw: &str) -> Option<Cow<'_, str>> {
    percent_encoding::percent_decode_str(raw).decode_utf8().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route_err(p: &str) -> String {
        RoutePattern::parse(p).unwrap_err().to_string()
    }

    #[test]
    fn translates_to_matchit() {
        let p = RoutePattern::parse("/ws/<client_id>/x/<rest..>").unwrap();
        assert_eq!(p.matchit, "/ws/{client_id}/x/{*rest}");
        assert_eq!(RoutePattern::parse("/").unwrap().matchit, "/");
        assert_eq!(RoutePattern::parse("/a{b}").unwrap().matchit, "/a{{b}}");
    }

    #[test]
    fn rejects_malformed_patterns() {
        assert!(route_err("ws").contains("does not start with `/`"));
        assert!(route_err("/ws/<id").contains("without closing"));
        assert!(route_err("/ws/<>").contains("empty parameter name"));
        assert!(route_err("/<a>/<a>").contains("appears twice"));
        assert!(route_err("/<rest..>/x").contains("last segment"));
        assert!(route_err("/a b").contains("invalid character"));
        assert!(route_err("/ws?<q>").contains("only in the #[websocket] attribute"));
    }

    #[test]
    fn conflicts_name_both_routes() {
        let mut r = Router::new();
        r.insert(RoutePattern::parse("/ws/<id>").unwrap(), 1)
            .unwrap();
        r.insert(RoutePattern::parse("/ws/static").unwrap(), 2)
            .unwrap();
        let e = r
            .insert(RoutePattern::parse("/ws/<name>").unwrap(), 3)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`/ws/<name>`") && e.contains("`/ws/<id>`"),
            "{e}"
        );
        let e = r
            .insert(RoutePattern::parse("/ws/<id>").unwrap(), 4)
            .unwrap_err()
            .to_string();
        assert!(e.contains("registered twice"), "{e}");
    }

    #[test]
    fn matches_and_decodes() {
        let mut r = Router::new();
        r.insert(RoutePattern::parse("/ws/<id>").unwrap(), "one")
            .unwrap();
        r.insert(RoutePattern::parse("/files/<path..>").unwrap(), "files")
            .unwrap();
        let m = r.at("/ws/a%20b").unwrap();
        assert_eq!(*m.value, "one");
        assert_eq!(m.params.unwrap().get("id"), Some("a b"));
        let m = r.at("/files/a/b/c.txt").unwrap();
        assert_eq!(m.params.unwrap().get("path"), Some("a/b/c.txt"));
        assert_eq!(r.at("/ws/%FF").unwrap().params.unwrap_err(), "id");
        assert!(r.at("/nope").is_none());
        assert!(r.at("/ws/1/2").is_none());
    }
}
