//! Function arguments as the attributes see them: what each one binds (the socket, a
//! route or query parameter, a cookie, a dependency, or an extractor), read from its
//! name, type and marker attribute; and the code that extracts it.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, Path, Signature, Type};

use crate::diagnostics::Diagnostics;

/// What an argument binds.
pub(crate) enum Kind {
    /// The `WebSocket` (or `TypedWebSocket`) handle.
    Socket,
    /// A path parameter `<name>` or `<name..>`, through `FromParam`.
    Path(String),
    /// A query parameter (`?<name>` in the route, or `#[query]`); `Some(inner)` for
    /// `Option<inner>`.
    Query(String, Option<Type>),
    /// A cookie (`#[cookie]`); `Some(inner)` for `Option<inner>`.
    Cookie(String, Option<Type>),
    /// A request header (`#[header]`, named by the argument with `_` as `-`);
    /// `Some(inner)` for `Option<inner>`.
    Header(String, Option<Type>),
    /// `#[depends(path)]`.
    Depends(Path),
    /// Anything else: a `FromHandshake` extractor or guard.
    Extractor,
}

pub(crate) struct Arg {
    /// The argument as the function declares it, without our marker attributes.
    pub(crate) arg: syn::PatType,
    /// Its name, when its pattern is a plain identifier.
    pub(crate) ident: Option<Ident>,
    pub(crate) kind: Kind,
    /// Whether a marker attribute chose the kind (it may then not bind a route param).
    pub(crate) marked: bool,
}

impl Arg {
    pub(crate) fn ty(&self) -> &Type {
        &self.arg.ty
    }

    pub(crate) fn name(&self) -> Option<String> {
        self.ident.as_ref().map(|i| i.to_string())
    }
}

/// The receiver-free arguments of `sig`, with our marker attributes read and removed.
/// `what` names the item in messages ("a #[websocket] handler").
pub(crate) fn read(sig: &mut Signature, what: &str, diag: &mut Diagnostics) -> Vec<Arg> {
    let mut args = Vec::new();
    let sig_ident = sig.ident.clone();
    for input in sig.inputs.iter_mut() {
        let pat_type = match input {
            FnArg::Receiver(receiver) => {
                diag.error_on(
                    receiver,
                    format!("{what} cannot take `self`"),
                    "make it a free function; share state with `State<T>` or a dependency",
                );
                continue;
            }
            FnArg::Typed(pat_type) => pat_type,
        };
        let ident = match &*pat_type.pat {
            Pat::Ident(p) if p.subpat.is_none() && p.by_ref.is_none() => Some(p.ident.clone()),
            _ => None,
        };
        let mut marker: Option<(Kind, Span)> = None;
        let mut kept = Vec::new();
        for attr in pat_type.attrs.drain(..) {
            let name = attr
                .path()
                .get_ident()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let kind = match name.as_str() {
                "depends" => match attr.parse_args::<Path>() {
                    Ok(path) => Kind::Depends(path),
                    Err(e) => {
                        diag.syn(e, "name the dependency: `#[depends(path::to::dependency)]`");
                        continue;
                    }
                },
                "query" | "cookie" | "header" => {
                    if !matches!(attr.meta, syn::Meta::Path(_)) {
                        diag.error_on(
                            &attr,
                            format!("`#[{name}]` takes no arguments"),
                            format!("the argument's name is the {name} name: `#[{name}] token: Option<String>`"),
                        );
                        continue;
                    }
                    let Some(ident) = &ident else {
                        diag.error_on(
                            &pat_type.pat,
                            format!("a `#[{name}]` argument needs a plain name"),
                            format!("write `#[{name}] name: Type`; the name is the {name}'s"),
                        );
                        continue;
                    };
                    let optional = option_inner(&pat_type.ty);
                    match name.as_str() {
                        "query" => Kind::Query(ident.to_string(), optional),
                        "cookie" => Kind::Cookie(ident.to_string(), optional),
                        _ => Kind::Header(header_name(ident), optional),
                    }
                }
                _ => {
                    kept.push(attr);
                    continue;
                }
            };
            if marker.is_some() {
                diag.error_on(
                    &attr,
                    "an argument takes one of `#[depends(..)]`, `#[query]`, `#[cookie]`, `#[header]`",
                    "remove all but one",
                );
                continue;
            }
            marker = Some((kind, attr.span()));
        }
        pat_type.attrs = kept;
        if let Some(ident) = &ident
            && *ident == sig_ident
        {
            diag.error_on(
                ident,
                format!("argument `{ident}` has the name of its function"),
                format!(
                    "rename the argument or the function: the attribute makes `{ident}` a unit struct, which a pattern of the same name would match"
                ),
            );
        }
        if let (Some((Kind::Depends(path), _)), Some(ident)) = (&marker, &ident)
            && path.segments.last().is_some_and(|s| s.ident == *ident)
        {
            diag.error_on(
                ident,
                format!("argument `{ident}` has the name of the dependency it receives"),
                format!(
                    "rename the argument (e.g. `{ident}_value`): `#[dependency]` makes `{ident}` a unit struct, which a pattern of the same name would match"
                ),
            );
        }
        let is_socket = is_socket_type(&pat_type.ty);
        let (kind, marked) = match marker {
            Some((_, span)) if is_socket => {
                diag.error(
                    span,
                    "the WebSocket argument cannot also be a dependency, query, cookie or header",
                    "remove the attribute from the WebSocket argument",
                );
                (Kind::Socket, false)
            }
            Some((kind, _)) => (kind, true),
            None if is_socket => (Kind::Socket, false),
            None => (Kind::Extractor, false),
        };
        args.push(Arg {
            arg: pat_type.clone(),
            ident,
            kind,
            marked,
        });
    }
    args
}

/// `WebSocket` or `TypedWebSocket<..>`, by the last path segment.
fn is_socket_type(ty: &Type) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "WebSocket" || s.ident == "TypedWebSocket"),
        _ => false,
    }
}

/// The header a `#[header]` argument reads: its name with `_` as `-` (`user_agent` reads
/// `user-agent`; header names are case-insensitive).
fn header_name(ident: &Ident) -> String {
    use syn::ext::IdentExt;
    ident.unraw().to_string().replace('_', "-")
}

/// `T` when `ty` is `Option<T>` (by the last path segment).
pub(crate) fn option_inner(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(inner)) if args.args.len() == 1 => Some(inner.clone()),
        _ => None,
    }
}

/// The variable an argument is extracted into.
pub(crate) fn var(index: usize) -> Ident {
    format_ident!("__wsframe_arg{}", index)
}

/// `let <var> = match <extraction> { Ok(v) => v, Err(rejection) => <on_reject> };`
/// for every kind but the socket. Each extraction is spanned on the user's type (or
/// dependency path), so a missing trait impl is reported there.
pub(crate) fn extraction(
    arg: &Arg,
    var: &Ident,
    krate: &Path,
    req: &Ident,
    on_reject: &TokenStream,
) -> TokenStream {
    let ty = arg.ty();
    let parse = |ty: &Type| quote_spanned!(ty.span()=> <#ty as #krate::FromParam>::from_param);
    let expr = match &arg.kind {
        Kind::Socket => return TokenStream::new(),
        Kind::Path(name) => {
            let parse = parse(ty);
            quote!(#krate::__private::path_param(&#req, #name, #parse))
        }
        Kind::Query(name, Some(inner)) => {
            let parse = parse(inner);
            quote!(#krate::__private::optional_query_param(&#req, #name, #parse))
        }
        Kind::Query(name, None) => {
            let parse = parse(ty);
            quote!(#krate::__private::query_param(&#req, #name, #parse))
        }
        Kind::Cookie(name, Some(inner)) => {
            let parse = parse(inner);
            quote!(#krate::__private::optional_cookie(&#req, #name, #parse))
        }
        Kind::Cookie(name, None) => {
            let parse = parse(ty);
            quote!(#krate::__private::cookie(&#req, #name, #parse))
        }
        Kind::Header(name, Some(inner)) => {
            let parse = parse(inner);
            quote!(#krate::__private::optional_header(&#req, #name, #parse))
        }
        Kind::Header(name, None) => {
            let parse = parse(ty);
            quote!(#krate::__private::header(&#req, #name, #parse))
        }
        Kind::Depends(path) => {
            let krate = respan(krate, path.span());
            quote_spanned!(path.span()=> #krate::Dependency::cached(#path, &#req).await)
        }
        Kind::Extractor => extract(ty, krate, req),
    };
    quote! {
        let #var: #ty = match #expr {
            ::core::result::Result::Ok(__wsframe_value) => __wsframe_value,
            ::core::result::Result::Err(__wsframe_rejection) => #on_reject,
        };
    }
}

/// The statement that declares what an argument needs from the app (its
/// `requirements`, checked when the app is built); nothing for parameters. Spanned like
/// its extraction, so a missing trait impl is reported once, on the user's tokens.
pub(crate) fn requirement(arg: &Arg, krate: &Path, needs: &Ident) -> TokenStream {
    match &arg.kind {
        Kind::Extractor => guard_requirement(arg.ty(), krate, needs),
        Kind::Depends(path) => {
            let krate = respan(krate, path.span());
            quote_spanned!(path.span()=> #krate::Dependency::requirements(&#path, #needs);)
        }
        _ => TokenStream::new(),
    }
}

/// What `arg` tells the route's AsyncAPI document (`doc`, a `&mut RouteDoc`): its path
/// parameter, query parameter, header or cookie (a credential in a dependency), or
/// what its dependency or extractor describes.
pub(crate) fn describe(arg: &Arg, krate: &Path, doc: &Ident, credential: bool) -> TokenStream {
    let ty = arg.ty();
    let field = |constructor: &str, name: &str, optional: &Option<Type>| {
        let constructor = format_ident!("{constructor}");
        let inner = optional.as_ref().unwrap_or(ty);
        let optional = optional.is_some().then(|| quote!(.optional()));
        let credential = credential.then(|| quote!(.credential()));
        quote! {
            #doc.field(#krate::asyncapi::Field::#constructor(#name).of::<#inner>() #optional #credential);
        }
    };
    match &arg.kind {
        Kind::Socket => quote! {{
            #[allow(unused_imports)]
            use #krate::__private::{DescribeNothing as _, DescribeSocket as _, DescribeTyped as _};
            (&&&#krate::__private::SocketDoc::<#ty>::new()).describe_socket(#doc);
        }},
        Kind::Path(name) => quote!(#doc.__path::<#ty>(#name);),
        Kind::Query(name, optional) => field("query", name, optional),
        Kind::Cookie(name, optional) => field("cookie", name, optional),
        Kind::Header(name, optional) => field("header", name, optional),
        Kind::Extractor => guard_description(ty, krate, doc),
        Kind::Depends(path) => {
            let krate = respan(krate, path.span());
            quote_spanned!(path.span()=> #krate::Dependency::describe(&#path, #doc);)
        }
    }
}

/// `<T as FromHandshake>::describe(doc);`, spanned on `T`.
pub(crate) fn guard_description(ty: &Type, krate: &Path, doc: &Ident) -> TokenStream {
    quote_spanned!(ty.span()=> <#ty as #krate::FromHandshake>::describe(#doc);)
}

/// The text of `#[doc = "..."]` attributes, one line each.
pub(crate) fn doc_lines(attrs: &[syn::Attribute]) -> Vec<syn::LitStr> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            syn::Meta::NameValue(syn::MetaNameValue {
                value:
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(text),
                        ..
                    }),
                ..
            }) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// `<T as FromHandshake>::requirements(needs);`, spanned on `T`.
pub(crate) fn guard_requirement(ty: &Type, krate: &Path, needs: &Ident) -> TokenStream {
    quote_spanned!(ty.span()=> <#ty as #krate::FromHandshake>::requirements(#needs);)
}

/// `tokens` with every span set to `span`, so that errors about them point at the
/// user's tokens rather than at the attribute.
fn respan(tokens: &impl quote::ToTokens, span: Span) -> TokenStream {
    use proc_macro2::{Group, TokenTree};
    tokens
        .to_token_stream()
        .into_iter()
        .map(|tree| match tree {
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), respan(&group.stream(), span));
                new.set_span(span);
                TokenTree::Group(new)
            }
            mut other => {
                other.set_span(span);
                other
            }
        })
        .collect()
}

/// `<T as FromHandshake>::from_handshake(&req)`, spanned on `T`, rejection converted.
pub(crate) fn extract(ty: &Type, krate: &Path, req: &Ident) -> TokenStream {
    let call = quote_spanned!(ty.span()=> <#ty as #krate::FromHandshake>::from_handshake(&#req));
    quote!(#krate::__private::extracted(&#req, #call).await)
}

/// Reject what no attribute can route: non-async, generic, variadic functions.
pub(crate) fn check_signature(sig: &Signature, what: &str, diag: &mut Diagnostics) {
    if sig.asyncness.is_none() {
        diag.error_on(
            &sig.fn_token,
            format!("{what} must be an `async fn`"),
            format!("write `async fn {}(..)`", sig.ident),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        diag.error_on(
            &sig.generics,
            format!("{what} cannot be generic"),
            "use concrete types: the route is built from one instance of the function",
        );
    }
    for input in &sig.inputs {
        if let FnArg::Typed(arg) = input
            && let Type::ImplTrait(impl_trait) = &*arg.ty
        {
            diag.error_on(
                impl_trait,
                format!("{what} cannot take an `impl Trait` argument"),
                "name a concrete type: each argument is extracted as one known type",
            );
        }
    }
    if let Some(variadic) = &sig.variadic {
        diag.error_on(
            variadic,
            format!("{what} cannot be variadic"),
            "remove `...`",
        );
    }
}

/// The crate path from `crate = "..."`, or `::wsframe`.
pub(crate) fn default_crate() -> Path {
    syn::parse_quote!(::wsframe)
}
