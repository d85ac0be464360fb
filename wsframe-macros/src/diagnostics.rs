//! Collects every error of one attribute, each with a help line, so that one compile
//! shows them all.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Vec<syn::Error>,
}

impl Diagnostics {
    /// An error at `span` with a help line (rendered as `= help:` under the message,
    /// the stable stand-in for a real help note).
    pub(crate) fn error(&mut self, span: Span, message: impl Display, help: impl Display) {
        self.errors.push(syn::Error::new(
            span,
            format!("{message}\n\n= help: {help}"),
        ));
    }

    /// An error spanning all of `tokens`.
    pub(crate) fn error_on(
        &mut self,
        tokens: &impl ToTokens,
        message: impl Display,
        help: impl Display,
    ) {
        self.errors.push(syn::Error::new_spanned(
            tokens,
            format!("{message}\n\n= help: {help}"),
        ));
    }

    /// An error from syn's parser, with a help line added.
    pub(crate) fn syn(&mut self, error: syn::Error, help: impl Display) {
        self.error(error.span(), error, help);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub(crate) fn into_tokens(self) -> TokenStream {
        self.errors
            .into_iter()
            .map(|e| e.to_compile_error())
            .collect()
    }
}

/// The closest candidate within two edits, for "did you mean" hints.
pub(crate) fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
