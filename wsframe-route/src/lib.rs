//! The route grammar of wsframe, shared by the runtime and the `#[websocket]` macro so
//! that a route the macro accepts at compile time is the route the server builds.
//!
//! ```text
//! route   = path [ "?" query ]
//! path    = "/" segment *( "/" segment )
//! segment = literal | "<" name ">" | "<" name "..>"     ; `<name..>` only last
//! query   = "<" name ">" *( "&" "<" name ">" )
//! name    = identifier (letters, digits, `_`; not starting with a digit)
//! ```
//!
//! Every mistake is reported (not only the first), each with a message and a help line.
//!
//! ```
//! use wsframe_route::{parse_route, Segment};
//! let route = parse_route("/ws/<client_id>?<q>&<page>").unwrap();
//! assert_eq!(route.path.segments[1], Segment::Param("client_id".into()));
//! assert_eq!(route.query, ["q", "page"]);
//! let errors = parse_route("ws/<id").unwrap_err();
//! assert_eq!(errors.len(), 2);
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

/// One `/`-separated piece of a path pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Literal text matched as is.
    Static(String),
    /// `<name>`: one path segment, bound to the argument `name`.
    Param(String),
    /// `<name..>`: the rest of the path (the last segment only).
    Rest(String),
}

/// A parsed path pattern (the part before `?`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPattern {
    /// The pattern as written.
    pub source: String,
    /// Its segments, in order.
    pub segments: Vec<Segment>,
}

impl PathPattern {
    /// Names of the path parameters, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::Rest(n) => Some(n.as_str()),
            Segment::Static(_) => None,
        })
    }
}

/// A route as the `#[websocket]` attribute takes it: a path and declared query
/// parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    /// The path part.
    pub path: PathPattern,
    /// Query parameters declared as `?<q>&<page>`, in order.
    pub query: Vec<String>,
}

/// A mistake in a route, with a line saying how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteError {
    /// What is wrong, naming the parameter or segment.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

impl RouteError {
    fn new(message: impl Into<String>, help: impl Into<String>) -> RouteError {
        RouteError {
            message: message.into(),
            help: help.into(),
        }
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (help: {})", self.message, self.help)
    }
}

/// Parse a full route (`path[?query]`), reporting every mistake.
pub fn parse_route(route: &str) -> Result<RouteSpec, Vec<RouteError>> {
    let (path, query) = match route.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (route, None),
    };
    let mut errors = Vec::new();
    let path = match parse_path(path) {
        Ok(p) => Some(p),
        Err(mut e) => {
            errors.append(&mut e);
            None
        }
    };
    let mut names: Vec<String> = path
        .as_ref()
        .map(|p| p.params().map(str::to_string).collect())
        .unwrap_or_default();
    let mut params = Vec::new();
    if let Some(query) = query {
        if query.is_empty() {
            errors.push(RouteError::new(
                "empty query part after `?`",
                "declare query parameters as `?<name>&<other>`, or remove the `?`",
            ));
        }
        for item in query.split('&').filter(|_| !query.is_empty()) {
            match item.strip_prefix('<').and_then(|i| i.strip_suffix('>')) {
                Some(name) if name.ends_with("..") => errors.push(RouteError::new(
                    format!("query parameter `<{name}>` cannot take the rest of the path"),
                    format!("write `<{}>`", name.trim_end_matches('.')),
                )),
                Some(name) if is_identifier(name) => {
                    if names.iter().any(|n| n == name) {
                        errors.push(duplicate(name));
                    } else {
                        names.push(name.to_string());
                        params.push(name.to_string());
                    }
                }
                Some(name) => errors.push(bad_name(name)),
                None => errors.push(RouteError::new(
                    format!("query item `{item}` is not a parameter"),
                    "declare query parameters as `<name>`, separated by `&`, e.g. `?<q>&<page>`",
                )),
            }
        }
    }
    match (path, errors.is_empty()) {
        (Some(path), true) => Ok(RouteSpec {
            path,
            query: params,
        }),
        _ => Err(errors),
    }
}

/// Parse a path pattern (no query part), reporting every mistake.
pub fn parse_path(pattern: &str) -> Result<PathPattern, Vec<RouteError>> {
    let mut errors = Vec::new();
    let rest = match pattern.strip_prefix('/') {
        Some(rest) => rest,
        None => {
            errors.push(RouteError::new(
                format!("route `{pattern}` does not start with `/`"),
                format!("write `/{pattern}`"),
            ));
            pattern
        }
    };
    let mut segments = Vec::new();
    let pieces: Vec<&str> = rest.split('/').collect();
    let last = pieces.len() - 1;
    for (i, piece) in pieces.iter().enumerate() {
        if piece.is_empty() && i != last {
            errors.push(RouteError::new(
                "empty segment (`//`) in route",
                "remove the extra `/`",
            ));
            continue;
        }
        if let Some(inner) = piece.strip_prefix('<') {
            let Some(inner) = inner.strip_suffix('>') else {
                errors.push(RouteError::new(
                    format!("segment `{piece}` opens `<` without closing it"),
                    format!("close the parameter: `{piece}>`"),
                ));
                continue;
            };
            let (name, rest) = match inner.strip_suffix("..") {
                Some(name) => (name, true),
                None => (inner, false),
            };
            if !is_identifier(name) {
                errors.push(bad_name(name));
                continue;
            }
            if segments
                .iter()
                .any(|s| matches!(s, Segment::Param(n) | Segment::Rest(n) if n == name))
            {
                errors.push(duplicate(name));
                continue;
            }
            if rest && i != last {
                errors.push(RouteError::new(
                    format!(
                        "`<{name}..>` takes the rest of the path, so it must be the last segment"
                    ),
                    format!("move `<{name}..>` to the end, or write `<{name}>` for one segment"),
                ));
                continue;
            }
            segments.push(if rest {
                Segment::Rest(name.to_string())
            } else {
                Segment::Param(name.to_string())
            });
        } else if piece.contains(['<', '>']) {
            errors.push(RouteError::new(
                format!("segment `{piece}` mixes text and a parameter"),
                "a parameter fills a whole segment: write `/<name>` between slashes",
            ));
        } else if let Some(c) = piece
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%' | '\\'))
        {
            errors.push(RouteError::new(
                format!("segment `{piece}` contains the invalid character {c:?}"),
                "use only URL path characters in a route (letters, digits, `-._~!$&'()*+,;=:@`)",
            ));
        } else {
            segments.push(Segment::Static(piece.to_string()));
        }
    }
    if errors.is_empty() {
        Ok(PathPattern {
            source: pattern.to_string(),
            segments,
        })
    } else {
        Err(errors)
    }
}

fn duplicate(name: &str) -> RouteError {
    RouteError::new(
        format!("parameter `<{name}>` appears twice in the route"),
        format!("give each parameter its own name, e.g. `<{name}>` and `<{name}2>`"),
    )
}

fn bad_name(name: &str) -> RouteError {
    if name.is_empty() {
        RouteError::new(
            "empty parameter name `<>`",
            "name the parameter after the argument it binds, e.g. `<client_id>`",
        )
    } else {
        RouteError::new(
            format!("`<{name}>` is not a valid parameter name"),
            "a parameter name is an identifier: letters, digits and `_`, not starting with a digit",
        )
    }
}

/// Whether `name` is a Rust identifier (ASCII).
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(route: &str) -> Vec<String> {
        parse_route(route)
            .unwrap_err()
            .into_iter()
            .map(|e| e.message)
            .collect()
    }

    #[test]
    fn parses_paths_and_queries() {
        let r = parse_route("/a/<b>/<c..>?<d>&<e>").unwrap();
        assert_eq!(
            r.path.segments,
            [
                Segment::Static("a".into()),
                Segment::Param("b".into()),
                Segment::Rest("c".into())
            ]
        );
        assert_eq!(r.query, ["d", "e"]);
        assert_eq!(
            parse_route("/").unwrap().path.segments,
            [Segment::Static("".into())]
        );
    }

    #[test]
    fn reports_every_mistake() {
        assert_eq!(messages("ws/<id").len(), 2);
        assert!(messages("/<a>/<a>")[0].contains("appears twice"));
        assert!(messages("/<a>?<a>")[0].contains("appears twice"));
        assert!(messages("/<rest..>/x")[0].contains("last segment"));
        assert!(messages("/<>")[0].contains("empty parameter name"));
        assert!(messages("/<1a>")[0].contains("not a valid parameter name"));
        assert!(messages("/a b")[0].contains("invalid character"));
        assert!(messages("/x<id>")[0].contains("mixes text"));
        assert!(messages("/x?q")[0].contains("not a parameter"));
        assert!(messages("/x?")[0].contains("empty query"));
        assert!(messages("/a//b")[0].contains("empty segment"));
    }
}
