//! `#[websocket("/route/<param>?<q>", options…)]`: `parse` builds and validates a model
//! of the route and the handler; `expand` turns it into runtime calls.

mod expand;
mod options;
mod parse;

use proc_macro2::TokenStream;

use crate::diagnostics::Diagnostics;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut diag = Diagnostics::default();
    match parse::parse(attr, item.clone(), &mut diag) {
        Some(route) if diag.is_empty() => expand::expand(&route),
        Some(route) => {
            // Keep the name defined so that `routes![name]` elsewhere does not add
            // errors of its own; the compile fails on ours. (Not for a method: a struct
            // cannot stand inside an impl block.)
            let mut tokens = diag.into_tokens();
            if route.handler.item.sig.receiver().is_none() {
                tokens.extend(expand::placeholder(&route));
            }
            tokens
        }
        None => {
            let mut tokens = diag.into_tokens();
            tokens.extend(item);
            tokens
        }
    }
}
