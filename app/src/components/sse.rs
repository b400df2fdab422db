//! Server-Sent Events from a POST in the browser (`EventSource` only does GET): fetch with the
//! session cookie, read the body as it arrives, split it into events.

/// One event: its name (`message` when the server gave none) and its data lines joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// Event name.
    pub event: String,
    /// Data.
    pub data: String,
}

/// Splits complete events off the front of `buf` (events end with a blank line).
pub fn drain_events(buf: &mut String) -> Vec<SseEvent> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let mut event = String::from("message");
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                event = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v).to_string());
            }
        }
        if !data.is_empty() {
            out.push(SseEvent { event, data: data.join("\n") });
        }
    }
    out
}

/// POSTs `body` (JSON) to `url` and calls `on_event` for each event as it arrives. A non-2xx
/// answer is an error with the server's message.
#[cfg(feature = "hydrate")]
pub async fn post_sse(
    url: &str,
    body: String,
    mut on_event: impl FnMut(SseEvent),
) -> Result<(), String> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let js = |e: wasm_bindgen::JsValue| format!("{e:?}");
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_credentials(web_sys::RequestCredentials::SameOrigin);
    init.set_body(&wasm_bindgen::JsValue::from_str(&body));
    let headers = web_sys::Headers::new().map_err(js)?;
    headers.set("content-type", "application/json").map_err(js)?;
    headers.set("accept", "text/event-stream").map_err(js)?;
    init.set_headers(&headers);
    let request = web_sys::Request::new_with_str_and_init(url, &init).map_err(js)?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|_| "the server could not be reached".to_string())?
        .dyn_into()
        .map_err(js)?;
    if !response.ok() {
        let text = JsFuture::from(response.text().map_err(js)?).await.map_err(js)?;
        let text = text.as_string().unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the server answered {}", response.status()));
        return Err(message);
    }
    let reader: web_sys::ReadableStreamDefaultReader = response
        .body()
        .ok_or("the answer has no body")?
        .get_reader()
        .dyn_into()
        .map_err(|_| "the answer cannot be read".to_string())?;
    let mut bytes: Vec<u8> = Vec::new();
    let mut text = String::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(js)?;
        let done =
            js_sys::Reflect::get(&chunk, &"done".into()).map_err(js)?.as_bool().unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(js)?;
        bytes.extend(js_sys::Uint8Array::new(&value).to_vec());
        // Keep an incomplete UTF-8 sequence for the next chunk.
        let valid = match std::str::from_utf8(&bytes) {
            Ok(s) => s.len(),
            Err(e) => e.valid_up_to(),
        };
        let rest = bytes.split_off(valid);
        text.push_str(&String::from_utf8_lossy(&bytes));
        bytes = rest;
        for event in drain_events(&mut text) {
            on_event(event);
        }
    }
    Ok(())
}

/// Only the browser streams.
#[cfg(not(feature = "hydrate"))]
pub async fn post_sse(
    _url: &str,
    _body: String,
    _on_event: impl FnMut(SseEvent),
) -> Result<(), String> {
    Err("streaming runs in the browser".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_split_at_blank_lines_and_partial_ones_wait() {
        let mut buf = String::from(
            "event: delta\ndata: {\"text\":\"Hi\"}\n\nevent: done\ndata: {}\n\nevent: cost\ndata: {\"co",
        );
        let events = drain_events(&mut buf);
        assert_eq!(
            events,
            vec![
                SseEvent { event: "delta".into(), data: "{\"text\":\"Hi\"}".into() },
                SseEvent { event: "done".into(), data: "{}".into() },
            ]
        );
        buf.push_str("st_nanos\":5}\n\n: keep-alive\n\n");
        let events = drain_events(&mut buf);
        assert_eq!(
            events,
            vec![SseEvent { event: "cost".into(), data: "{\"cost_nanos\":5}".into() }]
        );
        assert!(buf.is_empty());
    }
}
