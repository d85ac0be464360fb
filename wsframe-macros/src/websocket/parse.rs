//! The model of a `#[websocket]` route: the route literal, the options and the
//! handler's arguments, each bound and validated, every mistake collected.

use proc_macro2::{Span, TokenStream};
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Expr, Ident, ItemFn, LitStr, Path, Token, Type, Visibility};

use super::options::{self, RawOption};
use crate::args::{self, Arg, Kind};
use crate::diagnostics::{Diagnostics, did_you_mean};

const WHAT: &str = "a #[websocket] handler";

pub(crate) struct Route {
    /// The path part of the route literal (what the runtime registers).
    pub(crate) path: String,
    pub(crate) protocols: Vec<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    /// `max_message_size = expr` and friends, in the order written.
    pub(crate) limits: Vec<(Ident, Expr)>,
    pub(crate) guards: Vec<Type>,
    pub(crate) krate: Path,
    pub(crate) handler: Handler,
}

pub(crate) struct Handler {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) item: ItemFn,
    pub(crate) args: Vec<Arg>,
}

fn parse_attr(input: ParseStream) -> syn::Result<(Option<LitStr>, Vec<RawOption>)> {
    if input.is_empty() {
        return Ok((None, Vec::new()));
    }
    let lit: LitStr = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "the first argument of #[websocket] is the route, a string literal like \"/ws/<id>\"",
        )
    })?;
    let mut options = Vec::new();
    while !input.is_empty() {
        input.parse::<Token![,]>()?;
        if input.is_empty() {
            break;
        }
        options.push(input.parse()?);
    }
    Ok((Some(lit), options))
}

/// Build the model; `None` when the item is not a function at all.
pub(crate) fn parse(attr: TokenStream, item: TokenStream, diag: &mut Diagnostics) -> Option<Route> {
    let mut item: ItemFn = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => {
            diag.syn(e, "put #[websocket(\"/path\")] on an `async fn`");
            return None;
        }
    };
    let (lit, raw_options) = match parse_attr.parse2(attr) {
        Ok((Some(lit), options)) => (lit, options),
        Ok((None, _)) => {
            diag.error(
                Span::call_site(),
                "#[websocket] needs a route",
                "write #[websocket(\"/ws\")]",
            );
            (LitStr::new("/", Span::call_site()), Vec::new())
        }
        Err(e) => {
            diag.syn(
                e,
                "write the route first, then options: #[websocket(\"/ws/<id>\", protocols = [\"chat\"])]",
            );
            (LitStr::new("/", Span::call_site()), Vec::new())
        }
    };

    let options = options::read(raw_options, diag);

    // The route literal.
    let (path, path_params, query_params) = match wsframe_route::parse_route(&lit.value()) {
        Ok(spec) => (
            spec.path.source.clone(),
            spec.path.params().map(str::to_string).collect(),
            spec.query,
        ),
        Err(errors) => {
            for e in errors {
                diag.error(lit.span(), e.message, e.help);
            }
            (lit.value(), Vec::new(), Vec::new())
        }
    };

    // The handler.
    args::check_signature(&item.sig, WHAT, diag);
    let mut args = args::read(&mut item.sig, WHAT, diag);
    let params: Vec<String> = path_params.iter().chain(&query_params).cloned().collect();
    bind_socket(&mut args, &item.sig.ident, &params, diag);
    bind_route_params(&mut args, &path_params, &query_params, &lit, diag);
    let (docs, attrs) = item.attrs.drain(..).partition(|a| a.path().is_ident("doc"));
    let vis = item.vis.clone();
    Some(Route {
        path,
        protocols: options.protocols,
        tags: options.tags,
        limits: options.limits,
        guards: options.guards,
        krate: options.krate.unwrap_or_else(args::default_crate),
        handler: Handler {
            docs,
            attrs,
            vis,
            item,
            args,
        },
    })
}

/// The socket is the first argument, whatever its type is called: the expansion converts
/// it with `FromWebSocket` (as `App::websocket` does), so an alias or a wrapper of the
/// user's own works, and a type that is no socket is reported on that type by the trait.
/// Two mistakes are named here instead: an argument typed `WebSocket` or `TypedWebSocket`
/// after the first (moved, or one too many), and a first argument that binds a route
/// parameter or carries a marker attribute.
fn bind_socket(args: &mut [Arg], handler: &Ident, params: &[String], diag: &mut Diagnostics) {
    // `args::read` reads `Kind::Socket` from the type's name, as a hint.
    let named_socket = |arg: &Arg| matches!(arg.kind, Kind::Socket);
    let Some((first, rest)) = args.split_first_mut() else {
        diag.error_on(
            handler,
            format!("{WHAT} takes the socket as its first argument"),
            "add `ws: WebSocket` (or `TypedWebSocket<In, Out>`, or a type that implements `FromWebSocket`)",
        );
        return;
    };
    let first_named_socket = named_socket(first);
    let mut moved = false;
    for arg in rest.iter().filter(|arg| named_socket(arg)) {
        if first_named_socket {
            diag.error_on(
                &arg.arg,
                format!("{WHAT} takes exactly one `WebSocket` argument"),
                "remove this one; to send from elsewhere, clone a sender with `ws.sender()`",
            );
        } else {
            moved = true;
            diag.error_on(
                &arg.arg,
                format!("the socket is the first argument of {WHAT}"),
                "move this argument to the front of the list",
            );
        }
    }
    if moved || first_named_socket {
        // Reported above, or already a socket (a route parameter of its name is
        // reported by `bind_route_params`).
        return;
    }
    let binds_param = first.name().filter(|name| params.contains(name));
    if let Some(name) = binds_param {
        diag.error_on(
            &first.arg,
            format!("{WHAT} takes the socket as its first argument, not `{name}`"),
            format!("`{name}` binds a route parameter; add the socket before it: `ws: WebSocket, {name}: ..`"),
        );
    } else if first.marked {
        let marker = match first.kind {
            Kind::Query(..) => "#[query]",
            Kind::Cookie(..) => "#[cookie]",
            Kind::Depends(_) => "#[depends(..)]",
            _ => "#[..]",
        };
        diag.error_on(
            &first.arg,
            format!("{WHAT} takes the socket as its first argument, not a `{marker}` one"),
            "add the socket before this one: `ws: WebSocket, ..`",
        );
    } else {
        first.kind = Kind::Socket;
    }
}

/// Bind `<param>` and `?<q>` to the arguments of those names; report parameters
/// without an argument (with a "did you mean" for a near-miss name).
fn bind_route_params(
    args: &mut [Arg],
    path_params: &[String],
    query_params: &[String],
    lit: &LitStr,
    diag: &mut Diagnostics,
) {
    let declared = path_params
        .iter()
        .map(|p| (p, true))
        .chain(query_params.iter().map(|q| (q, false)));
    for (param, in_path) in declared {
        let shown = if in_path {
            format!("<{param}>")
        } else {
            format!("?<{param}>")
        };
        match args
            .iter_mut()
            .find(|a| a.name().as_deref() == Some(param.as_str()))
        {
            Some(arg) if arg.marked || matches!(arg.kind, Kind::Socket) => {
                diag.error_on(
                    &arg.arg,
                    format!("argument `{param}` is bound to the route parameter `{shown}`"),
                    "remove its attribute, or rename it if it is not the route parameter",
                );
            }
            Some(arg) => {
                arg.kind = if in_path {
                    Kind::Path(param.clone())
                } else {
                    Kind::Query(param.clone(), args::option_inner(arg.ty()))
                };
            }
            None => {
                let unbound = args
                    .iter()
                    .filter(|a| matches!(a.kind, Kind::Extractor))
                    .filter_map(|a| a.ident.as_ref());
                let names: Vec<String> = unbound.map(|i| i.to_string()).collect();
                match did_you_mean(param, names.iter().map(String::as_str)) {
                    Some(close) => {
                        let arg = args
                            .iter()
                            .find(|a| a.name().as_deref() == Some(close))
                            .expect("candidate comes from the arguments");
                        diag.error_on(
                            arg.ident.as_ref().expect("named argument"),
                            format!(
                                "argument `{close}` does not match the route parameter `{shown}`"
                            ),
                            format!(
                                "did you mean `{param}`? rename the argument to bind `{shown}`"
                            ),
                        );
                    }
                    None => diag.error(
                        lit.span(),
                        format!(
                            "{} `{shown}` has no argument named `{param}`",
                            if in_path {
                                "route parameter"
                            } else {
                                "query parameter"
                            }
                        ),
                        format!(
                            "expected an argument named `{param}`, e.g. `{param}: {}`",
                            if in_path { "u64" } else { "Option<String>" }
                        ),
                    ),
                }
            }
        }
    }
}
