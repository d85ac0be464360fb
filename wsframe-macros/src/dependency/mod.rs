//! `#[dependency]`: `parse` reads the function and its arguments; `expand` makes it a
//! unit struct implementing `Dependency` (and `FromHandshake`, so it can serve as a
//! route guard), still callable as `name::call(..)`.

mod expand;
mod parse;

use proc_macro2::TokenStream;

use crate::diagnostics::Diagnostics;

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut diag = Diagnostics::default();
    match parse::parse(attr, item.clone(), &mut diag) {
        Some(dependency) if diag.is_empty() => expand::expand(&dependency),
        Some(dependency) => {
            // Keep the name a dependency so that its users add no errors of their own.
            let mut tokens = diag.into_tokens();
            tokens.extend(expand::placeholder(&dependency));
            tokens
        }
        None => {
            let mut tokens = diag.into_tokens();
            tokens.extend(item);
            tokens
        }
    }
}
