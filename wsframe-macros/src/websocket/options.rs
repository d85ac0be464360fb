//! The options after the route literal, declared once each in [`OPTIONS`]: its name, the
//! form it is written in (which also says where its value goes) and the help shown when
//! it is written in another form. The parser, the "unknown option" list, the "wrong form"
//! help and the "given twice" check all read that table (as serde_derive's attribute
//! table does); adding an option is adding a row.

use proc_macro2::TokenStream;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token, Type};

use crate::diagnostics::{Diagnostics, did_you_mean};

/// The options' values, as the expansion uses them.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) protocols: Vec<LitStr>,
    /// Tags of the route's channel in the AsyncAPI document.
    pub(crate) tags: Vec<LitStr>,
    /// `max_message_size = expr` and friends, in the order written (each names the
    /// `RouteLimits` method it calls).
    pub(crate) limits: Vec<(Ident, Expr)>,
    pub(crate) guards: Vec<Type>,
    pub(crate) krate: Option<Path>,
}

/// One option: the row of [`OPTIONS`].
struct Spec {
    name: &'static str,
    form: Form,
    /// How to write it, shown when it is written in another form.
    help: &'static str,
}

/// How an option is written, with the slot its value goes to.
enum Form {
    /// `name = ["a", "b"]`: string literals, each `item` ("a subprotocol").
    Strings {
        item: &'static str,
        set: fn(&mut Options, Vec<LitStr>),
    },
    /// `name = expr`.
    Expr(fn(&mut Options, Ident, Expr)),
    /// `name(Type, path::to::dependency)`.
    Types(fn(&mut Options, Vec<Type>)),
    /// `name = "a::path"`.
    Path(fn(&mut Options, Path)),
}

/// A `RouteLimits` setter named like the option.
fn limit(options: &mut Options, key: Ident, value: Expr) {
    options.limits.push((key, value));
}

/// Every option, in the order the "unknown option" help lists them.
const OPTIONS: &[Spec] = &[
    Spec {
        name: "protocols",
        form: Form::Strings {
            item: "a subprotocol",
            set: |o, protocols| o.protocols = protocols,
        },
        help: "write protocols = [\"chat.v2\", \"chat.v1\"]",
    },
    Spec {
        name: "tags",
        form: Form::Strings {
            item: "a tag",
            set: |o, tags| o.tags = tags,
        },
        help: "write tags = [\"chat\"] (the route's tags in the AsyncAPI document)",
    },
    Spec {
        name: "max_message_size",
        form: Form::Expr(limit),
        help: "write the size in bytes as an expression, e.g. max_message_size = 1 << 20",
    },
    Spec {
        name: "max_frame_size",
        form: Form::Expr(limit),
        help: "write the size in bytes as an expression, e.g. max_frame_size = 64 * 1024",
    },
    Spec {
        name: "idle_timeout",
        form: Form::Expr(limit),
        help: "write a `Duration` expression, e.g. idle_timeout = Duration::from_secs(60)",
    },
    Spec {
        name: "ping_interval",
        form: Form::Expr(limit),
        help: "write a `Duration` expression, e.g. ping_interval = Duration::from_secs(20)",
    },
    Spec {
        name: "max_message_rate",
        form: Form::Expr(limit),
        help: "write a `MessageRate` expression, e.g. max_message_rate = MessageRate::per_second(10)",
    },
    Spec {
        name: "compression",
        form: Form::Expr(limit),
        help: "write a `Compression` expression, e.g. compression = Compression::disabled()",
    },
    Spec {
        name: "guards",
        form: Form::Types(|o, guards| o.guards = guards),
        help: "write guards(RequireAdmin, rate_limit)",
    },
    Spec {
        name: "crate",
        form: Form::Path(|o, krate| o.krate = Some(krate)),
        help: "name the crate that re-exports wsframe, e.g. crate = \"my_app::wsframe\"",
    },
];

/// An option as written, before the table is consulted.
pub(crate) struct RawOption {
    key: Ident,
    value: RawValue,
}

enum RawValue {
    /// `key = expr`.
    Assigned(Expr),
    /// `key(a, b)`, read once the table says what `a` and `b` should be.
    Listed(TokenStream),
    /// `key` alone.
    Bare,
}

impl Parse for RawOption {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        // `crate` is a keyword; options are identifiers otherwise.
        let key = Ident::parse_any(input)?;
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            RawValue::Assigned(input.parse()?)
        } else if input.peek(syn::token::Paren) {
            let content;
            syn::parenthesized!(content in input);
            RawValue::Listed(content.parse()?)
        } else {
            RawValue::Bare
        };
        Ok(RawOption { key, value })
    }
}

/// Read `raw` into [`Options`] through the table, reporting unknown options, options in
/// the wrong form and options given twice.
pub(crate) fn read(raw: Vec<RawOption>, diag: &mut Diagnostics) -> Options {
    let mut options = Options::default();
    let mut seen: Vec<&'static str> = Vec::new();
    for RawOption { key, value } in raw {
        let name = key.to_string();
        let Some(spec) = OPTIONS.iter().find(|spec| spec.name == name) else {
            unknown(&key, diag);
            continue;
        };
        if seen.contains(&spec.name) {
            diag.error_on(&key, format!("option `{name}` is given twice"), "keep one");
            continue;
        }
        seen.push(spec.name);
        match (&spec.form, value) {
            (Form::Strings { item, set }, RawValue::Assigned(Expr::Array(array))) => {
                let mut strings = Vec::new();
                for element in array.elems {
                    match element {
                        Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(s),
                            ..
                        }) => strings.push(s),
                        other => {
                            diag.error_on(&other, format!("{item} is a string literal"), spec.help)
                        }
                    }
                }
                set(&mut options, strings);
            }
            (Form::Expr(set), RawValue::Assigned(value)) => set(&mut options, key, value),
            (Form::Types(set), RawValue::Listed(tokens)) => {
                match Punctuated::<Type, Token![,]>::parse_terminated.parse2(tokens) {
                    Ok(list) => set(&mut options, list.into_iter().collect()),
                    Err(e) => diag.syn(e, spec.help),
                }
            }
            (
                Form::Path(set),
                RawValue::Assigned(Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                })),
            ) => match s.parse::<Path>() {
                Ok(path) => set(&mut options, path),
                Err(_) => diag.error_on(&s, format!("`{}` is not a path", s.value()), spec.help),
            },
            (_, RawValue::Bare) => {
                diag.error_on(&key, format!("option `{name}` needs a value"), spec.help)
            }
            _ => diag.error_on(
                &key,
                format!("option `{name}` has the wrong form"),
                spec.help,
            ),
        }
    }
    options
}

fn unknown(key: &Ident, diag: &mut Diagnostics) {
    let names: Vec<&str> = OPTIONS.iter().map(|spec| spec.name).collect();
    let list = names.join(", ");
    let help = match did_you_mean(&key.to_string(), names.iter().copied()) {
        Some(close) => format!("did you mean `{close}`? the options are: {list}"),
        None => format!("the options are: {list}"),
    };
    diag.error_on(key, format!("unknown option `{key}`"), help);
}
