//! Pieces every list page shares: the pager under a table and human-readable durations.

use crate::i18n::{Locale, td_string};
use crate::l10n;
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
    let lang = crate::l10n::use_lang();
    let range = move || {
        let l = lang;
        let from = if total == 0 { 0 } else { offset.get() + 1 };
        let to = (offset.get() + page).min(total);
        td_string!(
            lang,
            pager.range,
            from = l10n::number(l, from),
            to = l10n::number(l, to),
            total = l10n::number(l, total)
        )
    };
    view! {
        <div class="pager">
            <span class="muted">{range}</span>
            <button type="button" class="btn btn-small" disabled=move || offset.get() == 0 on:click=move |_| offset.update(|o| *o = (*o - page).max(0))>{td_string!(lang, pager.previous)}</button>
            <button type="button" class="btn btn-small" disabled=move || { offset.get() + page >= total } on:click=move |_| offset.update(|o| *o += page)>{td_string!(lang, pager.next)}</button>
        </div>
    }
}

/// A duration in milliseconds the way people read it: "850 ms", "4.2 s", "3 min", "2 h 5 min"
/// ("4,2 с", "2 ч 5 мин" in Russian).
pub fn human_ms(l: Locale, ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..1_000 => td_string!(l, units.ms, n = ms),
        1_000..60_000 => td_string!(l, units.s, n = l10n::decimal(l, ms as f64 / 1000.0, 1)),
        60_000..3_600_000 => td_string!(l, units.min, n = ms / 60_000),
        _ => {
            let (h, m) = (ms / 3_600_000, (ms % 3_600_000) / 60_000);
            if m == 0 { td_string!(l, units.h, n = h) } else { td_string!(l, units.h_min, h, m) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_ms(Locale::en, -5), "0 ms");
        assert_eq!(human_ms(Locale::en, 850), "850 ms");
        assert_eq!(human_ms(Locale::en, 4_240), "4.2 s");
        assert_eq!(human_ms(Locale::en, 185_000), "3 min");
        assert_eq!(human_ms(Locale::en, 7_200_000), "2 h");
        assert_eq!(human_ms(Locale::en, 7_500_000), "2 h 5 min");
        assert_eq!(human_ms(Locale::ru, 4_240), "4,2 с");
        assert_eq!(human_ms(Locale::ru, 7_500_000), "2 ч 5 мин");
    }
}
