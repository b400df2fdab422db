#![recursion_limit = "256"]
//! Browser entry point: hydrates the server-rendered page, loading each route's code lazily.
//! It owns nothing else; all UI lives in the `app` crate.

/// Called by the hydration script once the WASM module has loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_lazy(app::App);
}
