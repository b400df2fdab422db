//! `use_live_events`: a reactive stream of this user's live events from `/ws`. One socket per
//! page, reconnecting with back-off and resuming from the last event id it saw.

use leptos::prelude::*;
use model::LiveEvent;

/// The latest live event (None until one arrives), and whether the socket is connected.
#[derive(Clone, Copy)]
pub struct LiveEvents {
    /// The most recent event.
    pub latest: ReadSignal<Option<LiveEvent>>,
    /// Whether the socket is open.
    pub connected: ReadSignal<bool>,
}

/// Opens (once per app) the live-event socket; call from a component.
pub fn use_live_events() -> LiveEvents {
    if let Some(existing) = use_context::<LiveEvents>() {
        return existing;
    }
    let (latest, set_latest) = signal(None::<LiveEvent>);
    let (connected, set_connected) = signal(false);
    #[cfg(feature = "hydrate")]
    {
        // Stops reconnecting (and closes the socket on its next message) once the component
        // that opened it is gone, e.g. after signing out.
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stopped.clone();
        on_cleanup(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
        Effect::new(move |_| client::connect(set_latest, set_connected, None, 0, stopped.clone()));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (set_latest, set_connected);
    let live = LiveEvents { latest, connected };
    provide_context(live);
    live
}

#[cfg(feature = "hydrate")]
mod client {
    use leptos::prelude::*;
    use model::{LiveEvent, WsFrame};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    pub fn connect(
        set_latest: WriteSignal<Option<LiveEvent>>,
        set_connected: WriteSignal<bool>,
        after: Option<String>,
        attempt: u32,
        stopped: Arc<AtomicBool>,
    ) {
        if stopped.load(Ordering::Relaxed) {
            return;
        }
        let Some(window) = web_sys::window() else { return };
        let location = window.location();
        let proto =
            if location.protocol().ok().as_deref() == Some("https:") { "wss" } else { "ws" };
        let host = location.host().unwrap_or_default();
        let url = match &after {
            Some(a) => format!("{proto}://{host}/ws?after={a}"),
            None => format!("{proto}://{host}/ws"),
        };
        let Ok(socket) = web_sys::WebSocket::new(&url) else { return };
        let last = std::rc::Rc::new(std::cell::RefCell::new(after));

        let opened = std::rc::Rc::new(std::cell::Cell::new(false));
        let opened_flag = opened.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || {
            opened_flag.set(true);
            set_connected.set(true);
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let last_msg = last.clone();
        let stopped_msg = stopped.clone();
        let socket_msg = socket.clone();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if stopped_msg.load(Ordering::Relaxed) {
                    let _ = socket_msg.close();
                    return;
                }
                let Some(text) = e.data().as_string() else { return };
                if let Ok(WsFrame::Event(event)) = serde_json::from_str::<WsFrame>(&text) {
                    *last_msg.borrow_mut() = Some(event.id.clone());
                    set_latest.set(Some(event));
                }
            });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        let on_close = Closure::<dyn FnMut()>::new(move || {
            set_connected.set(false);
            let after = last.borrow().clone();
            // Back off while the server is unreachable; start over after a good connection.
            let attempt = if opened.get() { 0 } else { attempt + 1 };
            let delay = 500u64.saturating_mul(1 << attempt.min(5)).min(15_000);
            let stopped = stopped.clone();
            set_timeout(
                move || connect(set_latest, set_connected, after, attempt, stopped),
                std::time::Duration::from_millis(delay),
            );
        });
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
    }
}
