#![recursion_limit = "256"]
//! Browser entry point: hydrates the server-rendered page, loading each route's code lazily.
//! It owns nothing else; all UI lives in the `app` crate.

/// Called by the hydration script once the WASM module has loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // `hydrate_lazy`, plus a mark once everything (the current route's lazily loaded code
    // included) is hydrated: an effect in the app would run before a lazy route finishes.
    wasm_bindgen_futures::spawn_local(async {
        let handle = leptos::mount::hydrate_from_async(leptos::tachys::dom::body(), app::App).await;
        app::mark_hydrated();
        handle.forget();
    });
}
