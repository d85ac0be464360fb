//! The model of a `#[dependency]` function.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Ident, ItemFn, LitStr, Path, Token, Type, Visibility};

use crate::args::{self, Arg, Kind};
use crate::diagnostics::Diagnostics;

const WHAT: &str = "a #[dependency]";

pub(crate) struct Dependency {
    pub(crate) docs: Vec<Attribute>,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) item: ItemFn,
    pub(crate) args: Vec<Arg>,
    /// What the dependency provides (`T` of `Result<T, E>`, or the return type).
    pub(crate) output: Type,
    /// Whether the function returns `Result<T, E>` (an `Err` rejects the handshake).
    pub(crate) fallible: bool,
    pub(crate) krate: Path,
}

fn parse_attr(input: ParseStream) -> syn::Result<Option<Path>> {
    if input.is_empty() {
        return Ok(None);
    }
    let key = Ident::parse_any(input)?;
    if key != "crate" {
        return Err(syn::Error::new(
            key.span(),
            format!("unknown option `{key}`"),
        ));
    }
    input.parse::<Token![=]>()?;
    let lit: LitStr = input.parse()?;
    let _ = input.parse::<Option<Token![,]>>()?;
    lit.parse::<Path>().map(Some)
}

pub(crate) fn parse(
    attr: TokenStream,
    item: TokenStream,
    diag: &mut Diagnostics,
) -> Option<Dependency> {
    let mut item: ItemFn = match syn::parse2(item) {
        Ok(item) => item,
        Err(e) => {
            diag.syn(e, "put #[dependency] on an `async fn`");
            return None;
        }
    };
    let krate = match parse_attr.parse2(attr) {
        Ok(krate) => krate.unwrap_or_else(args::default_crate),
        Err(e) => {
            diag.syn(
                e,
                "#[dependency] takes no options but `crate = \"path::to::wsframe\"`",
            );
            args::default_crate()
        }
    };
    args::check_signature(&item.sig, WHAT, diag);
    let args = args::read(&mut item.sig, WHAT, diag);
    for arg in &args {
        if let Kind::Socket = arg.kind {
            diag.error_on(
                &arg.arg,
                format!("{WHAT} cannot take the WebSocket"),
                "dependencies run before the upgrade; take the WebSocket in the handler",
            );
        }
    }
    let (output, fallible) = match &item.sig.output {
        syn::ReturnType::Default => (syn::parse_quote!(()), false),
        syn::ReturnType::Type(_, ty) => match result_ok_type(ty) {
            Some(ok) => (ok, true),
            None => ((**ty).clone(), false),
        },
    };
    let (docs, attrs) = item.attrs.drain(..).partition(|a| a.path().is_ident("doc"));
    let vis = item.vis.clone();
    Some(Dependency {
        docs,
        attrs,
        vis,
        item,
        args,
        output,
        fallible,
        krate,
    })
}

/// `T` of `Result<T, E>` (by the last path segment).
fn result_ok_type(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first() {
        Some(syn::GenericArgument::Type(ok)) => Some(ok.clone()),
        _ => None,
    }
}
