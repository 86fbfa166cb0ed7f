//! `#[state_tracer::test]`: one attribute turns a test function into one
//! traced scenario, so a suite of thousands of plain tests needs no tracing
//! code. Re-exported by `state-tracer` behind its `macros` feature; use it
//! from there, not from this crate.
//!
//! Like `test-log`'s attribute, it composes with the test attribute the
//! suite already uses, given as its argument:
//!
//! ```text
//! #[state_tracer::test]                                        // = #[test]
//! #[state_tracer::test(tokio::test)]
//! #[state_tracer::test(tokio::test(flavor = "multi_thread"))]
//! #[state_tracer::test(sqlx::test)]
//! ```
//!
//! The expansion keeps the signature and every other attribute, puts the
//! test attribute first, and hands the body to
//! `state_tracer::__private::{run_sync, run_async}`, which do the work at
//! run time (nothing but one cached check when tracing is off). The body
//! becomes a closure or an `async move` block whose output type is the
//! test's return type, so `return` and `?` keep their meaning.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned, ToTokens as _};
use syn::spanned::Spanned;
use syn::{parse_macro_input, ItemFn, ReturnType};

/// Traces the test as one scenario when `BDD_TRACE_STATE` is set: feature =
/// the test binary (crate) name, scenario = the test's name as libtest and
/// nextest print it (`module::test_name`). The scenario ends `FAILED` when
/// the test panics or returns `Err`, else `PASSED`; under `#[should_panic]`
/// it takes libtest's verdict instead (a panic as expected is `PASSED`). See
/// `docs/guide-instrumenting.md`.
#[proc_macro_attribute]
pub fn test(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = TokenStream2::from(attr);
    let item = parse_macro_input!(item as ItemFn);
    expand(attr, item).into()
}

fn expand(attr: TokenStream2, item: ItemFn) -> TokenStream2 {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = item;
    if let ReturnType::Type(_, ty) = &sig.output {
        if matches!(**ty, syn::Type::ImplTrait(_)) {
            return syn::Error::new(
                ty.span(),
                "#[state_tracer::test] needs a named return type, such as () or Result<(), E>",
            )
            .to_compile_error();
        }
    }
    let harness = harness(&attr, &attrs);
    let inner = test_attribute(attr, &attrs, sig.asyncness.is_some());
    let expect = match should_panic(&attrs) {
        Ok(expect) => expect,
        Err(e) => return e.to_compile_error(),
    };
    let ret = match &sig.output {
        ReturnType::Default => quote!(()),
        ReturnType::Type(_, ty) => quote!(#ty),
    };
    let name = sig.ident.to_string();
    let body = if sig.asyncness.is_some() {
        quote_spanned! {block.span()=>
            ::state_tracer::__private::run_async::<#ret, _>(
                ::core::module_path!(), #name, #expect, #harness, async move #block,
            ).await
        }
    } else {
        quote_spanned! {block.span()=>
            ::state_tracer::__private::run_sync::<#ret, _>(
                ::core::module_path!(), #name, #expect, move || -> #ret #block,
            )
        }
    };
    quote! {
        #inner
        #(#attrs)*
        #vis #sig {
            #body
        }
    }
}

/// The test attribute to put first: the argument when given; none when the
/// function already carries one (`#[state_tracer::test] #[tokio::test]`);
/// else `#[test]`, or an error for an async function, which needs a runtime.
fn test_attribute(attr: TokenStream2, attrs: &[syn::Attribute], is_async: bool) -> TokenStream2 {
    if !attr.is_empty() {
        return quote!(#[#attr]);
    }
    let has_test_attr = attrs
        .iter()
        .any(|a| a.path().segments.last().is_some_and(|s| s.ident == "test"));
    if has_test_attr {
        quote!()
    } else if is_async {
        syn::Error::new(
            proc_macro2::Span::call_site(),
            "an async test needs its runtime's attribute: #[state_tracer::test(tokio::test)]",
        )
        .to_compile_error()
    } else {
        quote!(#[::core::prelude::v1::test])
    }
}

/// Which test attribute runs the body (given as the argument or stacked
/// below): `tokio::test` and `sqlx::test` build a runtime for this test
/// alone, driven from the test's thread, so the tracer may treat the
/// thread as the test's; any other might share its runtime or thread.
fn harness(attr: &TokenStream2, attrs: &[syn::Attribute]) -> TokenStream2 {
    let kind = |path: &syn::Path| {
        let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        match names
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["tokio", "test"] => Some(quote!(Tokio)),
            ["sqlx", "test"] => Some(quote!(Sqlx)),
            _ => None,
        }
    };
    let found = if attr.is_empty() {
        attrs.iter().find_map(|a| kind(a.path()))
    } else {
        // A path, maybe with arguments: `tokio::test(flavor = …)`.
        syn::parse2::<syn::Meta>(attr.clone())
            .ok()
            .and_then(|m| kind(m.path()))
    };
    let variant = found.unwrap_or(quote!(Other));
    quote!(::state_tracer::__private::Harness::#variant)
}

/// The run-time expectation from a `#[should_panic]` among the function's
/// attributes, in the three forms libtest takes: bare, `= "msg"` and
/// `(expected = "msg")`. The attribute stays on the function for libtest;
/// the scenario only needs to agree with libtest's verdict. Written before
/// or after `#[state_tracer::test]`, it is among `attrs` either way (inert
/// attributes stay on the item an attribute macro receives).
fn should_panic(attrs: &[syn::Attribute]) -> syn::Result<TokenStream2> {
    let Some(attr) = attrs.iter().find(|a| a.path().is_ident("should_panic")) else {
        return Ok(quote!(::state_tracer::__private::ShouldPanic::No));
    };
    let expected: Option<syn::LitStr> = match &attr.meta {
        syn::Meta::Path(_) => None,
        syn::Meta::NameValue(nv) => Some(syn::parse2(nv.value.to_token_stream())?),
        syn::Meta::List(list) => {
            let mut found = None;
            list.parse_nested_meta(|meta| {
                if meta.path.is_ident("expected") {
                    found = Some(meta.value()?.parse::<syn::LitStr>()?);
                    Ok(())
                } else {
                    Err(meta.error("expected `expected = \"...\"`"))
                }
            })?;
            found
        }
    };
    Ok(match expected {
        None => quote!(::state_tracer::__private::ShouldPanic::Yes),
        Some(msg) => quote!(::state_tracer::__private::ShouldPanic::YesWithMessage(#msg)),
    })
}
