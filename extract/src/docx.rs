//! DOCX: `word/document.xml` paragraphs and tables through `zip` (entries read with a cap) and
//! `quick-xml`; heading styles become headings and `dc:title` the title.

use crate::*;

/// DOCX body paragraphs and tables; heading styles become headings; `dc:title` is the title.
pub(crate) fn docx_to_blocks(bytes: &[u8], entry_cap: u64) -> Result<Extracted, ExtractError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        ExtractError::Malformed(short_reason("the DOCX archive is damaged", &e.to_string()))
    })?;
    let document = read_zip_text(&mut zip, "word/document.xml", entry_cap)?
        .ok_or_else(|| ExtractError::Malformed("the DOCX has no word/document.xml".to_owned()))?;
    // Styles and properties are optional; a damaged one costs headings or the title, not the text.
    let styles = read_zip_text(&mut zip, "word/styles.xml", entry_cap)
        .ok()
        .flatten()
        .map(|xml| heading_styles(&xml))
        .unwrap_or_default();
    let core_title = read_zip_text(&mut zip, "docProps/core.xml", entry_cap)
        .ok()
        .flatten()
        .and_then(|xml| core_title(&xml));
    let mut extracted = DocxBody::parse(&document, &styles)?;
    if core_title.is_some() {
        extracted.title = core_title;
    }
    Ok(extracted)
}

/// One ZIP entry as UTF-8, read with a cap so a zip bomb stops early; `None` if absent.
pub(crate) fn read_zip_text(
    zip: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    cap: u64,
) -> Result<Option<String>, ExtractError> {
    let entry = match zip.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(ExtractError::Malformed(short_reason(
                &format!("the DOCX entry {name} cannot be read"),
                &e.to_string(),
            )));
        }
    };
    let too_big = || {
        ExtractError::Malformed(format!(
            "the DOCX entry {name} expands to more than {}",
            human_size(usize::try_from(cap).unwrap_or(usize::MAX))
        ))
    };
    if entry.size() > cap {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    entry.take(cap + 1).read_to_end(&mut buf).map_err(|e| {
        ExtractError::Malformed(short_reason(
            &format!("the DOCX entry {name} is damaged"),
            &e.to_string(),
        ))
    })?;
    if buf.len() as u64 > cap {
        return Err(too_big());
    }
    let buf = buf.strip_prefix(b"\xEF\xBB\xBF").map(<[u8]>::to_vec).unwrap_or(buf);
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| ExtractError::Malformed(format!("the DOCX entry {name} is not UTF-8")))
}

/// The local name of an element (`w:p` → `p`).
pub(crate) fn local_name(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

/// An attribute's value by local name (`w:val` → `val`).
pub(crate) fn attr_value(e: &BytesStart<'_>, local: &str) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref().rsplit(':').next() == Some(local))
        .and_then(|a| a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok())
        .map(|v| v.into_owned())
}

/// Text of an entity reference (`amp`, `#x41`), if it resolves.
pub(crate) fn resolve_entity(r: &quick_xml::events::BytesRef<'_>) -> Option<String> {
    if r.is_char_ref() {
        return r.resolve_char_ref().ok().flatten().map(String::from);
    }
    let name = r.xml10_content();
    quick_xml::escape::resolve_predefined_entity(&name).map(str::to_owned)
}

/// What a paragraph style means for us: a heading level (the Title style counts as level 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StyleRole {
    Title,
    Heading(u8),
}

/// Style id → role, from `word/styles.xml` (built-in style names are English in every locale).
pub(crate) fn heading_styles(xml: &str) -> HashMap<String, StyleRole> {
    let mut map = HashMap::new();
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut current: Option<String> = None;
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Start(e)) | Ok(XmlEvent::Empty(e)) => match local_name(&e).as_str() {
                "style" => current = attr_value(&e, "styleId"),
                "name" => {
                    if let (Some(id), Some(name)) = (&current, attr_value(&e, "val"))
                        && let Some(role) = role_from_name(&name)
                    {
                        map.insert(id.clone(), role);
                    }
                }
                "outlineLvl" => {
                    let level = attr_value(&e, "val").and_then(|v| v.parse::<u8>().ok());
                    if let (Some(id), Some(level @ 0..=5)) = (&current, level) {
                        map.entry(id.clone()).or_insert(StyleRole::Heading(level + 1));
                    }
                }
                _ => {}
            },
            Ok(XmlEvent::End(e)) if e.local_name().as_ref() == "style" => current = None,
            Ok(XmlEvent::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    map
}

/// `Title`, `heading 2`, `Heading2` → role.
pub(crate) fn role_from_name(name: &str) -> Option<StyleRole> {
    let compact: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    let compact = compact.to_ascii_lowercase();
    if compact == "title" {
        return Some(StyleRole::Title);
    }
    let level = compact.strip_prefix("heading")?.parse::<u8>().ok()?;
    (1..=6).contains(&level).then_some(StyleRole::Heading(level))
}

/// `dc:title` from `docProps/core.xml`.
pub(crate) fn core_title(xml: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut title = String::new();
    loop {
        match reader.read_event() {
            Ok(XmlEvent::Start(e)) if e.local_name().as_ref() == "title" => inside = true,
            Ok(XmlEvent::End(e)) if e.local_name().as_ref() == "title" => break,
            Ok(XmlEvent::Text(t)) if inside => title.push_str(&t.xml10_content()),
            Ok(XmlEvent::GeneralRef(r)) if inside => {
                title.push_str(&resolve_entity(&r).unwrap_or_default());
            }
            Ok(XmlEvent::Eof) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Some(collapse_ws(&title)).filter(|t| !t.is_empty())
}

/// A paragraph being read from `word/document.xml`.
#[derive(Debug, Default)]
pub(crate) struct DocxParagraph {
    text: String,
    style: Option<String>,
    outline: Option<u8>,
}

/// A table being read: the current row's cells and the cell being filled.
#[derive(Debug, Default)]
pub(crate) struct DocxTable {
    row: Vec<String>,
    cell: Option<String>,
}

/// Walks `word/document.xml` events into blocks.
pub(crate) struct DocxBody<'s> {
    styles: &'s HashMap<String, StyleRole>,
    out: Extracted,
    paragraphs: Vec<DocxParagraph>,
    tables: Vec<DocxTable>,
    runs: usize,
    in_text: bool,
}

impl<'s> DocxBody<'s> {
    fn parse(xml: &str, styles: &'s HashMap<String, StyleRole>) -> Result<Extracted, ExtractError> {
        let mut body = DocxBody {
            styles,
            out: Extracted::default(),
            paragraphs: Vec::new(),
            tables: Vec::new(),
            runs: 0,
            in_text: false,
        };
        let mut reader = quick_xml::Reader::from_str(xml);
        let mut fallback_depth = 0usize;
        loop {
            let event = reader.read_event().map_err(|e| {
                ExtractError::Malformed(short_reason(
                    "the DOCX body is not valid XML",
                    &e.to_string(),
                ))
            })?;
            // Word stores text boxes twice (a DrawingML choice and a VML fallback); read one.
            match &event {
                XmlEvent::Start(e) if e.local_name().as_ref() == "Fallback" => fallback_depth += 1,
                XmlEvent::End(e) if e.local_name().as_ref() == "Fallback" => {
                    fallback_depth = fallback_depth.saturating_sub(1);
                    continue;
                }
                _ => {}
            }
            if fallback_depth > 0 {
                continue;
            }
            match event {
                XmlEvent::Start(e) => body.start(&e, false),
                XmlEvent::Empty(e) => body.start(&e, true),
                XmlEvent::End(e) => body.end(e.local_name().as_ref()),
                XmlEvent::Text(t) if body.in_text => body.push_text(&t.xml10_content()),
                XmlEvent::CData(t) if body.in_text => body.push_text(&t.xml10_content()),
                XmlEvent::GeneralRef(r) if body.in_text => {
                    body.push_text(&resolve_entity(&r).unwrap_or_default());
                }
                XmlEvent::Eof => break,
                _ => {}
            }
        }
        Ok(body.out)
    }

    fn start(&mut self, e: &BytesStart<'_>, empty: bool) {
        match local_name(e).as_str() {
            "p" if !empty => self.paragraphs.push(DocxParagraph::default()),
            "pStyle" => {
                if let Some(p) = self.paragraphs.last_mut() {
                    p.style = attr_value(e, "val");
                }
            }
            "outlineLvl" => {
                if let Some(p) = self.paragraphs.last_mut() {
                    p.outline = attr_value(e, "val").and_then(|v| v.parse().ok());
                }
            }
            "r" if !empty => self.runs += 1,
            "t" if !empty => self.in_text = true,
            // Tab stops are also declared in paragraph properties; only a run's tab is text.
            "tab" | "br" | "cr" if self.runs > 0 => self.push_text(" "),
            "tbl" if !empty => self.tables.push(DocxTable::default()),
            "tr" if !empty => {
                if let Some(t) = self.tables.last_mut() {
                    t.row.clear();
                }
            }
            "tc" if !empty => {
                if let Some(t) = self.tables.last_mut() {
                    t.cell = Some(String::new());
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, local_name: &str) {
        match local_name {
            "t" => self.in_text = false,
            "r" => self.runs = self.runs.saturating_sub(1),
            "p" => self.end_paragraph(),
            "tc" => {
                if let Some(t) = self.tables.last_mut()
                    && let Some(cell) = t.cell.take()
                {
                    t.row.push(collapse_ws(&cell));
                }
            }
            "tr" => self.end_row(),
            "tbl" => {
                self.tables.pop();
            }
            _ => {}
        }
    }

    fn push_text(&mut self, text: &str) {
        if let Some(p) = self.paragraphs.last_mut() {
            p.text.push_str(text);
        }
    }

    fn end_paragraph(&mut self) {
        let Some(p) = self.paragraphs.pop() else { return };
        let text = collapse_ws(&p.text);
        if text.is_empty() {
            return;
        }
        if let Some(cell) = self.tables.last_mut().and_then(|t| t.cell.as_mut()) {
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&text);
            return;
        }
        let role = p
            .style
            .as_deref()
            .and_then(|id| self.styles.get(id).copied().or_else(|| role_from_name(id)))
            .or_else(|| p.outline.filter(|l| *l <= 5).map(|l| StyleRole::Heading(l + 1)));
        let block = match role {
            Some(StyleRole::Title) => {
                self.out.title.get_or_insert_with(|| text.clone());
                Block::Heading { level: 1, text }
            }
            Some(StyleRole::Heading(level)) => Block::Heading { level, text },
            None => Block::Paragraph { text },
        };
        self.out.blocks.push(block);
    }

    fn end_row(&mut self) {
        let Some(table) = self.tables.last_mut() else { return };
        let cells: Vec<String> = table.row.drain(..).filter(|c| !c.is_empty()).collect();
        if cells.is_empty() {
            return;
        }
        let row = cells.join(" | ");
        // A nested table's rows are part of the outer cell.
        let depth = self.tables.len();
        if depth > 1
            && let Some(cell) = self.tables.get_mut(depth - 2).and_then(|t| t.cell.as_mut())
        {
            if !cell.is_empty() {
                cell.push(' ');
            }
            cell.push_str(&row);
            return;
        }
        self.out.blocks.push(Block::Paragraph { text: row });
    }
}
