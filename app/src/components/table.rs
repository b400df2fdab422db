//! Pieces every list page shares: the pager under a table and human-readable durations.

use leptos::prelude::*;

/// "1–20 of 57" with Previous / Next, moving `offset` by `page`.
#[component]
pub fn Pager(
    /// The first row shown; the buttons move it.
    offset: RwSignal<i64>,
    /// Rows in all.
    total: i64,
    /// Rows per page.
    page: i64,
) -> impl IntoView {
    let from = move || if total == 0 { 0 } else { offset.get() + 1 };
    let to = move || (offset.get() + page).min(total);
    view! {
        <div class="pager">
            <span class="muted">{from} "–" {to} " of " {total}</span>
            <button type="button" class="btn btn-small" disabled=move || offset.get() == 0 on:click=move |_| offset.update(|o| *o = (*o - page).max(0))>"Previous"</button>
            <button type="button" class="btn btn-small" disabled=move || { offset.get() + page >= total } on:click=move |_| offset.update(|o| *o += page)>"Next"</button>
        </div>
    }
}

/// A duration in milliseconds the way people read it: "850 ms", "4.2 s", "3 min", "2 h 5 min".
pub fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{} min", ms / 60_000),
        _ => {
            let (h, m) = (ms / 3_600_000, (ms % 3_600_000) / 60_000);
            if m == 0 { format!("{h} h") } else { format!("{h} h {m} min") }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::human_ms;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_ms(-5), "0 ms");
        assert_eq!(human_ms(850), "850 ms");
        assert_eq!(human_ms(4_240), "4.2 s");
        assert_eq!(human_ms(185_000), "3 min");
        assert_eq!(human_ms(7_200_000), "2 h");
        assert_eq!(human_ms(7_500_000), "2 h 5 min");
    }
}
