//! Markdown through `pulldown-cmark`.

use crate::*;

/// Markdown → blocks: headings, paragraphs, list items, code (fenced with its language, or
/// indented), table rows as `a | b`; inline markup flattened. The first `#` heading is the title.
pub fn markdown_to_blocks(md: &str) -> Extracted {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut md_out = MarkdownWalker::default();
    for event in Parser::new_ext(md.trim_start_matches('\u{FEFF}'), options) {
        md_out.event(event);
    }
    md_out.flush();
    md_out.out
}

#[derive(Default)]
pub(crate) struct MarkdownWalker {
    out: Extracted,
    inline: String,
    code: Option<(Option<String>, String)>,
    html: Option<String>,
    row: Option<Vec<String>>,
    cell: Option<String>,
    in_metadata: bool,
}

impl MarkdownWalker {
    fn event(&mut self, event: Event<'_>) {
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) | Event::Code(text) => self.text(&text),
            Event::Html(html) => self.html.get_or_insert_with(String::new).push_str(&html),
            Event::SoftBreak | Event::HardBreak => self.text(" "),
            Event::TaskListMarker(done) => self.text(if done { "[x] " } else { "[ ] " }),
            Event::Rule => self.flush(),
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_metadata {
            return;
        }
        if let Some((_, code)) = &mut self.code {
            code.push_str(text);
        } else if let Some(cell) = &mut self.cell {
            cell.push_str(text);
        } else {
            self.inline.push_str(text);
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            Tag::CodeBlock(kind) => {
                self.flush();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}'))
                        .find(|s| !s.is_empty())
                        .map(|s| s.trim_start_matches('.').to_owned()),
                    CodeBlockKind::Indented => None,
                };
                self.code = Some((lang, String::new()));
            }
            Tag::TableHead | Tag::TableRow => self.row = Some(Vec::new()),
            Tag::TableCell => self.cell = Some(String::new()),
            Tag::MetadataBlock(_) => self.in_metadata = true,
            Tag::HtmlBlock => {
                self.flush();
                self.html = Some(String::new());
            }
            Tag::Heading { .. }
            | Tag::Paragraph
            | Tag::Item
            | Tag::List(_)
            | Tag::BlockQuote(_)
            | Tag::Table(_)
            | Tag::FootnoteDefinition(_)
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition => self.flush(),
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Heading(level) => {
                let text = collapse_ws(&std::mem::take(&mut self.inline));
                if !text.is_empty() {
                    if level == HeadingLevel::H1 && self.out.title.is_none() {
                        self.out.title = Some(text.clone());
                    }
                    self.out.blocks.push(Block::Heading { level: heading_level(level), text });
                }
            }
            TagEnd::CodeBlock => {
                if let Some((lang, text)) = self.code.take() {
                    let text = text.trim_matches('\n').trim_end();
                    if !text.trim().is_empty() {
                        self.out.blocks.push(Block::Code { lang, text: text.to_owned() });
                    }
                }
            }
            TagEnd::TableCell => {
                if let (Some(row), Some(cell)) = (&mut self.row, self.cell.take()) {
                    row.push(collapse_ws(&cell));
                }
            }
            TagEnd::TableHead | TagEnd::TableRow => {
                let cells: Vec<String> = self
                    .row
                    .take()
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|c| !c.is_empty())
                    .collect();
                if !cells.is_empty() {
                    self.out.blocks.push(Block::Paragraph { text: cells.join(" | ") });
                }
            }
            TagEnd::MetadataBlock(_) => self.in_metadata = false,
            TagEnd::HtmlBlock => {
                if let Some(html) = self.html.take() {
                    self.out.blocks.extend(html_to_blocks(&html).blocks);
                }
            }
            TagEnd::Paragraph
            | TagEnd::Item
            | TagEnd::List(_)
            | TagEnd::BlockQuote(_)
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition => self.flush(),
            _ => {}
        }
    }

    fn flush(&mut self) {
        let text = collapse_ws(&std::mem::take(&mut self.inline));
        if !text.is_empty() {
            self.out.blocks.push(Block::Paragraph { text });
        }
    }
}

pub(crate) fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}
