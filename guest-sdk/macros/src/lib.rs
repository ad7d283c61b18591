//! `#[wedge_sdk::function]`: exports an `impl Function for T` block as a component,
//! telling the host exactly which hooks the block defines.

use proc_macro::TokenStream;
use quote::quote;
use syn::{ImplItem, ItemImpl, parse_macro_input};

/// Hooks in the order of `wedge_sdk::Hook`, by method name.
const HOOKS: &[(&str, &str)] = &[
    ("on_viewer_request", "ViewerRequest"),
    ("cache_key", "CacheKey"),
    ("on_origin_request", "OriginRequest"),
    ("on_origin_response", "OriginResponse"),
    ("on_viewer_response", "ViewerResponse"),
];

/// Put on `impl wedge_sdk::Function for T { ... }`. Exports `T` as the component's
/// hooks; the host learns from it which hooks the block overrides and never calls the
/// others. If the block has no `fn new`, `T: Default` builds the per-request state and
/// the function takes no config.
#[proc_macro_attribute]
pub fn function(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut block = parse_macro_input!(item as ItemImpl);
    let ty = block.self_ty.clone();
    let defined: Vec<String> = block
        .items
        .iter()
        .filter_map(|item| match item {
            ImplItem::Fn(f) => Some(f.sig.ident.to_string()),
            _ => None,
        })
        .collect();
    let hooks = HOOKS
        .iter()
        .filter(|(method, _)| defined.iter().any(|d| d == method))
        .map(|(_, variant)| {
            let v = syn::Ident::new(variant, proc_macro2::Span::call_site());
            quote!(::wedge_sdk::Hook::#v)
        });
    let takes_config = defined.iter().any(|d| d == "new");
    if !takes_config {
        block.items.push(syn::parse_quote! {
            fn new(config: &::wedge_sdk::Config) -> ::core::result::Result<Self, ::wedge_sdk::ConfigError> {
                config.expect_empty()?;
                ::core::result::Result::Ok(<Self as ::core::default::Default>::default())
            }
        });
    }
    block.items.push(syn::parse_quote! {
        const HOOKS: &'static [::wedge_sdk::Hook] = &[#(#hooks),*];
    });
    block.items.push(syn::parse_quote! {
        const TAKES_CONFIG: bool = #takes_config;
    });
    quote! {
        #block
        ::wedge_sdk::__export_function!(#ty);
    }
    .into()
}
