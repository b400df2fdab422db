//! HTML and Confluence storage format through `scraper`, with nesting bounded before parsing.

use crate::*;

/// HTML or Confluence storage format → blocks: headings, code (`<pre>`, the code macro),
/// paragraphs (p, li, blockquote, table rows as `a | b`); script, style and nav dropped.
pub fn html_to_blocks(html: &str) -> Extracted {
    let prepared;
    let html = if is_storage_format(html) {
        prepared = prepare_storage_format(html);
        prepared.as_str()
    } else {
        html
    };
    if nesting_exceeds(html, MAX_PARSE_NESTING) {
        let blocks =
            paragraphs(&strip_tags(html)).into_iter().map(|text| Block::Paragraph { text });
        return Extracted { title: None, blocks: blocks.collect() };
    }
    let document = Html::parse_document(html);
    let root = document.root_element();
    let has_main = root
        .descendants()
        .any(|n| matches!(n.value(), Node::Element(e) if matches!(e.name(), "main" | "article")));
    let mut walker = HtmlWalker { drop_chrome: has_main, ..HtmlWalker::default() };
    walker.children(root);
    walker.flush();
    let title = walker.title.take().or_else(|| {
        walker.blocks.iter().find_map(|b| match b {
            Block::Heading { level: 1, text } => Some(text.clone()),
            _ => None,
        })
    });
    Extracted { title, blocks: walker.blocks }
}

/// Nesting beyond which html5ever's tree building (quadratic in depth: 20 000 nested elements take
/// half a second, 100 000 a quarter of a minute) is not worth it; such pages are read as text.
pub(crate) const MAX_PARSE_NESTING: usize = 4096;

/// Elements whose end tag HTML lets authors omit; they do not count towards nesting.
pub(crate) const OPTIONAL_END_TAGS: &str = "\
    p li dt dd tr td th thead tbody tfoot colgroup caption option optgroup rb rt rp html head \
    body";

/// Whether open elements ever nest deeper than `limit`; a cheap scan, no parse. An end tag closes
/// the innermost open element of its name and everything inside it, as an HTML parser does; an
/// end tag that matches nothing open closes nothing (`<div></b>` repeated nests as deep as
/// `<div>` repeated).
pub(crate) fn nesting_exceeds(html: &str, limit: usize) -> bool {
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("</") {
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-'))
                .collect::<String>()
                .to_ascii_lowercase();
            if let Some(at) = open.iter().rposition(|o| *o == name) {
                open.truncate(at);
            }
        } else if let Some(name) = leading_tag(rest)
            && !listed(VOID_ELEMENTS, &name)
            && !listed(OPTIONAL_END_TAGS, &name)
        {
            open.push(name);
            if open.len() > limit {
                return true;
            }
        }
        rest = &rest[1..];
    }
    false
}

/// The text between tags, each tag replaced by a space (entities are left as written).
pub(crate) fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut in_tag = false;
    for c in html.chars() {
        match (in_tag, c) {
            (false, '<') => in_tag = true,
            (true, '>') => {
                in_tag = false;
                out.push(' ');
            }
            (false, c) => out.push(c),
            (true, _) => {}
        }
    }
    out
}

pub(crate) fn is_storage_format(html: &str) -> bool {
    html.contains("<ac:") || html.contains("<ri:") || html.contains("<![CDATA[")
}

/// Elements HTML defines as void (`<br>`); any other `<x/>` in XHTML is an empty element.
pub(crate) const VOID_ELEMENTS: &str =
    "area base br col embed hr img input link meta source track wbr";

/// Makes storage-format XHTML safe for an HTML parser: CDATA sections become escaped text (HTML
/// parsers turn them into comments and lose the code) and `<ri:page …/>` becomes
/// `<ri:page …></ri:page>` (HTML parsers treat `/>` as an open tag that swallows what follows).
pub(crate) fn prepare_storage_format(xhtml: &str) -> String {
    let mut out = String::with_capacity(xhtml.len() + xhtml.len() / 8);
    let mut rest = xhtml;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<![CDATA[") {
            let (content, tail) = match after.find("]]>") {
                Some(end) => (&after[..end], &after[end + 3..]),
                None => (after, ""),
            };
            push_escaped(&mut out, content);
            rest = tail;
            continue;
        }
        let Some(end) = tag_end(rest) else {
            out.push_str(rest);
            return out;
        };
        let tag = &rest[..=end];
        match tag.strip_suffix("/>").and_then(|t| leading_tag(t).map(|name| (t, name))) {
            Some((open, name)) if !listed(VOID_ELEMENTS, &name) => {
                out.push_str(open.trim_end());
                out.push_str("></");
                out.push_str(&name);
                out.push('>');
            }
            _ => out.push_str(tag),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Byte index of the `>` closing the tag that `s` starts with, skipping quoted attribute values.
pub(crate) fn tag_end(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return Some(i),
            (None, '<') => return None,
            _ => {}
        }
    }
    None
}

pub(crate) fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// How deep the HTML walker recurses before flattening the rest of a subtree to text.
pub(crate) const MAX_HTML_DEPTH: usize = 256;

/// Elements whose content is never document text.
pub(crate) const SKIPPED_ELEMENTS: &str = "\
    script style nav noscript template svg iframe object canvas button select meta link \
    ac:parameter ac:image ac:emoticon ac:placeholder ac:adf-attribute ac:task-id \
    ac:task-status";

/// Elements that end the running paragraph before and after themselves.
pub(crate) const BLOCK_ELEMENTS: &str = "\
    html body p div section article main aside header footer blockquote ul ol li dl dt dd \
    figure figcaption hr address details summary form fieldset caption center \
    ac:rich-text-body ac:layout ac:layout-section ac:layout-cell ac:task-list \
    ac:structured-macro ac:adf-extension ac:adf-content";

/// Walks the parsed tree, collecting inline text into paragraphs between block boundaries.
#[derive(Default)]
pub(crate) struct HtmlWalker {
    blocks: Vec<Block>,
    title: Option<String>,
    inline: String,
    /// Whether the page has `<main>`/`<article>`: then headers and footers outside are chrome.
    drop_chrome: bool,
    /// Depth inside `<main>`/`<article>`.
    content_depth: usize,
    /// Element nesting, bounded so a hostile page cannot overflow the stack.
    depth: usize,
}

impl HtmlWalker {
    fn children(&mut self, el: ElementRef<'_>) {
        for child in el.children() {
            match child.value() {
                Node::Text(t) => self.inline.push_str(t),
                Node::Element(_) => {
                    if let Some(child) = ElementRef::wrap(child) {
                        self.element(child);
                    }
                }
                _ => {}
            }
        }
    }

    fn flush(&mut self) {
        let text = collapse_ws(&self.inline);
        self.inline.clear();
        if !text.is_empty() {
            self.blocks.push(Block::Paragraph { text });
        }
    }

    /// The blocks `el`'s content makes on its own, as one line of text.
    fn text_of(&self, el: ElementRef<'_>) -> String {
        let mut sub = HtmlWalker {
            drop_chrome: self.drop_chrome,
            content_depth: self.content_depth,
            depth: self.depth,
            ..HtmlWalker::default()
        };
        sub.children(el);
        sub.flush();
        let texts: Vec<&str> = sub.blocks.iter().map(Block::text).collect();
        collapse_ws(&texts.join(" "))
    }

    fn element(&mut self, el: ElementRef<'_>) {
        if self.depth >= MAX_HTML_DEPTH {
            // Too deep to walk recursively: keep the words, lose the structure.
            self.inline.push(' ');
            self.inline.extend(el.text());
            return;
        }
        self.depth += 1;
        self.element_inner(el);
        self.depth -= 1;
    }

    fn element_inner(&mut self, el: ElementRef<'_>) {
        let v = el.value();
        let name = v.name();
        if listed(SKIPPED_ELEMENTS, name)
            || v.attr("hidden").is_some()
            || v.attr("aria-hidden") == Some("true")
        {
            return;
        }
        match name {
            "head" => self.children(el),
            "title" => {
                if self.title.is_none() {
                    let title = collapse_ws(&el.text().collect::<String>());
                    self.title = Some(title).filter(|t| !t.is_empty());
                }
            }
            "header" | "footer" if self.drop_chrome && self.content_depth == 0 => {}
            "main" | "article" => {
                self.flush();
                self.content_depth += 1;
                self.children(el);
                self.content_depth -= 1;
                self.flush();
            }
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                self.flush();
                let level = name[1..].parse().unwrap_or(1);
                let text = self.text_of(el);
                if !text.is_empty() {
                    self.blocks.push(Block::Heading { level, text });
                }
            }
            "pre" => {
                self.flush();
                let lang = code_lang(el).or_else(|| {
                    el.children().filter_map(ElementRef::wrap).find_map(|c| code_lang(c))
                });
                self.push_code(lang, &el.text().collect::<String>());
            }
            "code" if self.inline.trim().is_empty() && el.text().any(|t| t.contains('\n')) => {
                self.flush();
                self.push_code(code_lang(el), &el.text().collect::<String>());
            }
            "br" => self.inline.push('\n'),
            "table" => {
                self.flush();
                self.table(el);
            }
            "ac:structured-macro" => self.confluence_macro(el),
            "ac:link" => self.confluence_link(el),
            "ac:task" => {
                self.flush();
                let done = el
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "ac:task-status")
                    .is_some_and(|s| s.text().collect::<String>().trim() == "complete");
                self.inline.push_str(if done { "[x] " } else { "[ ] " });
                self.children(el);
                self.flush();
            }
            "ac:adf-extension" => {
                // The fallback repeats the node's content as HTML; read only one of them.
                self.flush();
                let fallback = el
                    .children()
                    .filter_map(ElementRef::wrap)
                    .find(|c| c.value().name() == "ac:adf-fallback");
                match fallback {
                    Some(f) => self.children(f),
                    None => self.children(el),
                }
                self.flush();
            }
            "time" => {
                let shown = el.text().collect::<String>();
                match v.attr("datetime") {
                    Some(dt) if shown.trim().is_empty() => {
                        self.inline.push(' ');
                        self.inline.push_str(dt);
                        self.inline.push(' ');
                    }
                    _ => self.children(el),
                }
            }
            _ if listed(BLOCK_ELEMENTS, name) => {
                self.flush();
                self.children(el);
                self.flush();
            }
            _ => self.children(el),
        }
    }

    fn push_code(&mut self, lang: Option<String>, text: &str) {
        let text = text.trim_matches('\n').trim_end();
        if !text.trim().is_empty() {
            self.blocks.push(Block::Code { lang, text: text.to_owned() });
        }
    }

    /// Rows in order (not those of nested tables), cells joined with ` | `.
    fn table(&mut self, table: ElementRef<'_>) {
        for child in table.children().filter_map(ElementRef::wrap) {
            match child.value().name() {
                "thead" | "tbody" | "tfoot" => self.table(child),
                "tr" => {
                    let cells: Vec<String> = child
                        .children()
                        .filter_map(ElementRef::wrap)
                        .filter(|c| matches!(c.value().name(), "td" | "th"))
                        .map(|c| self.text_of(c))
                        .filter(|t| !t.is_empty())
                        .collect();
                    if !cells.is_empty() {
                        self.blocks.push(Block::Paragraph { text: cells.join(" | ") });
                    }
                }
                "caption" => {
                    let text = self.text_of(child);
                    if !text.is_empty() {
                        self.blocks.push(Block::Paragraph { text });
                    }
                }
                _ => {}
            }
        }
    }

    /// The code and noformat macros become code; other macros (info, panel, expand …) are read
    /// for their rich-text body; their parameters are never text.
    fn confluence_macro(&mut self, el: ElementRef<'_>) {
        self.flush();
        let macro_name = el.value().attr("ac:name").unwrap_or_default();
        if matches!(macro_name, "code" | "noformat") {
            let mut lang = None;
            let mut body = String::new();
            for child in el.children().filter_map(ElementRef::wrap) {
                match child.value().name() {
                    "ac:parameter" if child.value().attr("ac:name") == Some("language") => {
                        let l = child.text().collect::<String>().trim().to_owned();
                        lang = Some(l).filter(|l| !l.is_empty());
                    }
                    "ac:plain-text-body" => body.push_str(&child.text().collect::<String>()),
                    _ => {}
                }
            }
            self.push_code(lang, &body);
        } else {
            self.children(el);
        }
        self.flush();
    }

    /// A link's text, or the target's title when the link has no body of its own.
    fn confluence_link(&mut self, el: ElementRef<'_>) {
        let children: Vec<ElementRef<'_>> = el.children().filter_map(ElementRef::wrap).collect();
        let body = children
            .iter()
            .find(|c| matches!(c.value().name(), "ac:plain-text-link-body" | "ac:link-body"));
        if let Some(body) = body {
            self.children(*body);
            return;
        }
        let target = children.iter().find_map(|c| {
            let v = c.value();
            match v.name() {
                "ri:page" | "ri:blog-post" => v.attr("ri:content-title"),
                "ri:attachment" => v.attr("ri:filename"),
                "ri:space" => v.attr("ri:space-key"),
                "ri:url" => v.attr("ri:value"),
                _ => None,
            }
        });
        if let Some(target) = target {
            self.inline.push_str(target);
        }
    }
}

/// `language-rust`, `lang-rust`, `brush: rust;`, `data-lang="rust"` → `rust`.
pub(crate) fn code_lang(el: ElementRef<'_>) -> Option<String> {
    let v = el.value();
    if let Some(lang) = v.attr("data-lang").or_else(|| v.attr("data-language")) {
        return Some(lang.trim().to_owned()).filter(|l| !l.is_empty());
    }
    let class = v.attr("class")?;
    if let Some(brush) = class.split("brush:").nth(1) {
        let lang = brush.trim().split([';', ' ']).next().unwrap_or_default();
        return Some(lang.to_owned()).filter(|l| !l.is_empty());
    }
    class.split_whitespace().find_map(|c| {
        let lang = c.strip_prefix("language-").or_else(|| c.strip_prefix("lang-"))?;
        Some(lang.to_owned()).filter(|l| !l.is_empty())
    })
}
