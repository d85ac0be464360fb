//! Turns a validated [`Route`] model into code: a unit struct named like the handler
//! (so `routes![name]` and `App::route(name)` work) implementing `IntoRoute`, whose
//! route runs the guards, extracts every argument and calls the handler, which stays
//! callable as `name::handler(..)`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::parse::{Handler, Route};
use crate::args::{self, Kind};
use crate::unit_struct;

pub(crate) fn expand(route: &Route) -> TokenStream {
    let Route {
        path,
        protocols,
        tags,
        limits,
        guards,
        krate,
        handler,
        ..
    } = route;
    let Handler {
        docs,
        attrs,
        vis,
        item,
        args,
    } = handler;
    let name = &item.sig.ident;
    let req = format_ident!("__wsframe_req");
    let ws = format_ident!("__wsframe_ws");
    let on_reject = quote!(return #krate::__private::reject(#ws, __wsframe_rejection).await);

    let guard_checks = guards.iter().map(|ty| {
        let extract = args::extract(ty, krate, &req);
        quote! {
            if let ::core::result::Result::Err(__wsframe_rejection) = #extract {
                #on_reject;
            }
        }
    });

    let needs = format_ident!("__wsframe_needs");
    let requirements = guards
        .iter()
        .map(|ty| args::guard_requirement(ty, krate, &needs))
        .chain(args.iter().map(|arg| args::requirement(arg, krate, &needs)));

    let doc = format_ident!("__wsframe_doc");
    let descriptions = guards
        .iter()
        .map(|ty| args::guard_description(ty, krate, &doc))
        .chain(
            args.iter()
                .map(|arg| args::describe(arg, krate, &doc, false)),
        );
    let doc_lines = args::doc_lines(docs);
    let route_name = syn::ext::IdentExt::unraw(name).to_string();

    let mut extractions = Vec::new();
    let mut socket = TokenStream::new();
    let mut call_args = Vec::new();
    for (index, arg) in args.iter().enumerate() {
        let var = args::var(index);
        if let Kind::Socket = arg.kind {
            let ty = arg.ty();
            socket = quote_spanned! {ty.span()=>
                let #var: #ty = <#ty as #krate::FromWebSocket>::from_websocket(#ws);
            };
        } else {
            extractions.push(args::extraction(arg, &var, krate, &req, &on_reject));
        }
        call_args.push(var);
    }

    let result = match &item.sig.output {
        syn::ReturnType::Type(_, ty) => {
            let into = quote_spanned!(ty.span()=> <#ty as #krate::HandlerResult>::into_result);
            quote!(#into(__wsframe_out))
        }
        syn::ReturnType::Default => quote!(#krate::HandlerResult::into_result(__wsframe_out)),
    };
    let protocols = (!protocols.is_empty()).then(|| quote!(.protocols([#(#protocols),*])));
    let limits = limits.iter().map(|(key, value)| quote!(.#key(#value)));

    let kept = unit_struct::with_kept_fn(
        docs,
        attrs,
        vis,
        item,
        "handler",
        "The handler as written; its route extracts the arguments and calls it.",
    );
    quote! {
        #kept

        impl #krate::IntoRoute for #name {
            fn into_route(self) -> #krate::Route {
                #krate::__private::websocket_route(
                    #path,
                    |#needs: &mut #krate::Requirements| {
                        #(#requirements)*
                    },
                    |#doc: &mut #krate::asyncapi::RouteDoc| {
                        #doc.__name(#route_name);
                        #doc.__docs(&[#(#doc_lines),*]);
                        #doc.__tags(&[#(#tags),*]);
                        #(#descriptions)*
                    },
                    |#ws: #krate::WebSocket, #req: ::std::sync::Arc<#krate::HandshakeRequest>| async move {
                        #(#guard_checks)*
                        #(#extractions)*
                        #socket
                        let __wsframe_out = #name::handler(#(#call_args),*).await;
                        #result
                    },
                )
                #protocols
                .limits(#krate::RouteLimits::new() #(#limits)*)
            }
        }
    }
}

/// What stands in for a handler whose attribute has errors: the name stays defined.
pub(crate) fn placeholder(route: &Route) -> TokenStream {
    let name = &route.handler.item.sig.ident;
    let vis = &route.handler.vis;
    let krate = &route.krate;
    quote! {
        #[allow(non_camel_case_types, dead_code)]
        #vis struct #name;

        impl #krate::IntoRoute for #name {
            fn into_route(self) -> #krate::Route {
                ::core::unreachable!("this route did not compile")
            }
        }
    }
}
