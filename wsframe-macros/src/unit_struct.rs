//! What both attributes make of a function: a unit struct of the same name (so the
//! name is a value that can be registered or named as a dependency), with the function
//! kept as an associated function of that struct.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{Attribute, ItemFn, Visibility};

/// The struct and the kept function, renamed `method`; `docs` go on the struct, `attrs`
/// on the function.
pub(crate) fn with_kept_fn(
    docs: &[Attribute],
    attrs: &[Attribute],
    vis: &Visibility,
    item: &ItemFn,
    method: &str,
    method_doc: &str,
) -> TokenStream {
    let name = &item.sig.ident;
    let mut sig = item.sig.clone();
    sig.ident = format_ident!("{}", method);
    let block = &item.block;
    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #name;

        impl #name {
            #[doc = #method_doc]
            #[allow(clippy::unused_async)]
            #(#attrs)*
            #vis #sig #block
        }
    }
}
