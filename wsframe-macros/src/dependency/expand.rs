//! Turns a [`Dependency`] model into a unit struct implementing `Dependency` and
//! `FromHandshake`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::Dependency;
use crate::args;
use crate::unit_struct;

pub(crate) fn expand(dependency: &Dependency) -> TokenStream {
    let Dependency {
        docs,
        attrs,
        vis,
        item,
        args,
        output,
        fallible,
        krate,
    } = dependency;
    let name = &item.sig.ident;
    let req = format_ident!("__wsframe_req");
    let on_reject = quote!(return ::core::result::Result::Err(__wsframe_rejection));
    let needs = format_ident!("__wsframe_needs");
    let requirements = args.iter().map(|arg| args::requirement(arg, krate, &needs));
    let doc = format_ident!("__wsframe_doc");
    let descriptions = args
        .iter()
        .map(|arg| args::describe(arg, krate, &doc, true));
    let mut extractions = Vec::new();
    let mut call_args = Vec::new();
    for (index, arg) in args.iter().enumerate() {
        let var = args::var(index);
        extractions.push(args::extraction(arg, &var, krate, &req, &on_reject));
        call_args.push(var);
    }
    let result = if *fallible {
        let span = match &item.sig.output {
            syn::ReturnType::Type(_, ty) => ty.span(),
            syn::ReturnType::Default => name.span(),
        };
        quote_spanned! {span=>
            #krate::__private::DependencyResult::into_dependency_result(__wsframe_out)
        }
    } else {
        quote!(::core::result::Result::Ok(__wsframe_out))
    };

    let kept = unit_struct::with_kept_fn(
        docs,
        attrs,
        vis,
        item,
        "call",
        "The dependency as written; `#[depends(..)]` extracts its arguments and calls it.",
    );
    quote! {
        #kept

        impl #krate::Dependency for #name {
            type Output = #output;

            fn resolve(
                &self,
                #req: &#krate::HandshakeRequest,
            ) -> impl ::core::future::Future<
                Output = ::core::result::Result<#output, #krate::Rejection>,
            > + ::core::marker::Send {
                async move {
                    #(#extractions)*
                    let __wsframe_out = #name::call(#(#call_args),*).await;
                    #result
                }
            }

            fn requirements(&self, #needs: &mut #krate::Requirements) {
                #(#requirements)*
            }

            fn describe(&self, #doc: &mut #krate::asyncapi::RouteDoc) {
                #(#descriptions)*
            }
        }

        impl #krate::FromHandshake for #name {
            type Rejection = #krate::Rejection;

            async fn from_handshake(
                #req: &#krate::HandshakeRequest,
            ) -> ::core::result::Result<Self, #krate::Rejection> {
                #krate::Dependency::cached(#name, #req).await.map(|_| #name)
            }

            fn requirements(#needs: &mut #krate::Requirements) {
                #krate::Dependency::requirements(&#name, #needs);
            }

            fn describe(#doc: &mut #krate::asyncapi::RouteDoc) {
                #krate::Dependency::describe(&#name, #doc);
            }
        }
    }
}

/// What stands in for a dependency whose attribute has errors.
pub(crate) fn placeholder(dependency: &Dependency) -> TokenStream {
    let Dependency {
        vis,
        item,
        output,
        krate,
        ..
    } = dependency;
    let name = &item.sig.ident;
    quote! {
        #[allow(non_camel_case_types, dead_code)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #name;

        impl #krate::Dependency for #name {
            type Output = #output;

            async fn resolve(
                &self,
                _: &#krate::HandshakeRequest,
            ) -> ::core::result::Result<#output, #krate::Rejection> {
                ::core::unreachable!("this dependency did not compile")
            }
        }
    }
}
