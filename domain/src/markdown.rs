//! Markdown made safe to show: pulldown-cmark renders it (GFM tables, strikethrough, task
//! lists) and ammonia keeps only harmless HTML — no scripts, no event handlers, no `javascript:`
//! links, links opened with `rel="noopener noreferrer"`. Whatever a model or a person wrote,
//! the page only ever receives what this returns.

use pulldown_cmark::{Options, Parser, html};

/// Longest Markdown rendered at once, in bytes (a section is at most 100,000 characters).
pub const MAX_BYTES: usize = 512 * 1024;

/// `md` as sanitized HTML. Text past `MAX_BYTES` is not rendered.
pub fn to_safe_html(md: &str) -> String {
    let md = match md.char_indices().find(|(at, _)| *at > MAX_BYTES) {
        Some((at, _)) => &md[..at],
        None => md,
    };
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut raw = String::with_capacity(md.len() * 3 / 2);
    html::push_html(&mut raw, Parser::new_ext(md, options));
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer"))
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .clean(&raw)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_handlers_and_javascript_links_are_removed() {
        let html = to_safe_html(
            "# Hi\n\n<script>alert(1)</script><img src=x onerror=alert(2)>\n\n\
             [click](javascript:alert(3)) [ok](https://example.com) **bold** [S1]\n\n\
             | a | b |\n|---|---|\n| 1 | 2 |",
        );
        assert!(
            !html.contains("<script") && !html.contains("onerror") && !html.contains("javascript:"),
            "{html}"
        );
        assert!(html.contains("<h1>Hi</h1>") && html.contains("<strong>bold</strong>"), "{html}");
        assert!(
            html.contains("href=\"https://example.com\" rel=\"noopener noreferrer\""),
            "{html}"
        );
        assert!(html.contains("<table>") && html.contains("[S1]"), "{html}");
    }

    #[test]
    fn huge_input_is_cut_not_rendered_whole() {
        let html = to_safe_html(&"я".repeat(MAX_BYTES));
        assert!(html.len() < MAX_BYTES + 100);
    }
}
