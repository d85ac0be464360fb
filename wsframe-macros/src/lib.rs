//! Procedural macros for [wsframe](https://docs.rs/wsframe): `#[websocket]` and
//! `#[dependency]`.
//!
//! Depend on `wsframe`, which re-exports these. Each attribute has a parse step that
//! builds a model and collects every mistake with its span and a help line, apart from
//! the expansion that turns the model into calls to wsframe's runtime.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod args;
mod dependency;
mod diagnostics;
mod unit_struct;
mod websocket;

use proc_macro::TokenStream;

/// Turn an `async fn` into a routed WebSocket endpoint.
///
/// See the `wsframe` crate documentation for the arguments and options.
#[proc_macro_attribute]
pub fn websocket(attr: TokenStream, item: TokenStream) -> TokenStream {
    websocket::expand(attr.into(), item.into()).into()
}

/// Turn an `async fn` into a dependency usable with `#[depends(..)]` and `guards(..)`.
///
/// See the `wsframe` crate documentation.
#[proc_macro_attribute]
pub fn dependency(attr: TokenStream, item: TokenStream) -> TokenStream {
    dependency::expand(attr.into(), item.into()).into()
}
