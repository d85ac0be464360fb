//! Procedural macros for [wsframe](https://docs.rs/wsframe).
//!
//! This crate is re-exported by `wsframe`; depend on `wsframe` rather than on this crate.
//! The `#[websocket]` attribute lands here in a later release; for now the crate only
//! reserves its place in the workspace so that the runtime's public paths stay stable.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
