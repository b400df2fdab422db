//! The tracker side of a project: wiki pages, issues and merge requests.

use super::*;

impl Gitlab {
    pub(super) async fn wikis(
        &self,
        key: &str,
        p: &Project,
    ) -> Result<Vec<SourceDoc>, ConnectorError> {
        let path = format!("api/v4/projects/{}/wikis?with_content=1", p.api);
        let pages = match self.http.get_json(&path).await {
            // The wiki feature exists but was never created, or is off for this token.
            Err(ConnectorError::Http { status: 404, .. }) => return Ok(Vec::new()),
            other => other?,
        };
        let at = p.last_activity_at.unwrap_or_else(Utc::now);
        let docs = pages
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| {
                let slug = w["slug"].as_str()?;
                let content = w["content"].as_str().unwrap_or_default().to_string();
                let body = match w["format"].as_str() {
                    Some("markdown") | None => DocBody::Markdown(content),
                    Some(_) => DocBody::Text { text: content, lang: None },
                };
                Some(SourceDoc {
                    external_id: format!("{key}:wiki:{slug}"),
                    title: w["title"].as_str().unwrap_or(slug).to_string(),
                    url: format!(
                        "{}/{}/-/wikis/{slug}",
                        self.http.base_str(),
                        p.path_with_namespace
                    ),
                    author: None,
                    updated_at: at,
                    doc_type: "wiki".into(),
                    labels: vec![format!("project:{}", p.path_with_namespace)],
                    body,
                })
            })
            .collect();
        Ok(docs)
    }

    /// One page of issues or merge requests (`kind` is `issues` or `merge_requests`), with
    /// their notes, and the next page number.
    pub(super) async fn tickets(
        &self,
        key: &str,
        p: &Project,
        kind: &str,
        page: &str,
        updated_after: Option<&str>,
    ) -> Result<(Vec<SourceDoc>, Option<String>), ConnectorError> {
        let mut pairs =
            vec![("per_page", "100"), ("page", page), ("order_by", "updated_at"), ("sort", "asc")];
        if let Some(after) = updated_after {
            pairs.push(("updated_after", after));
        }
        let url = format!("api/v4/projects/{}/{kind}?{}", p.api, query(&pairs));
        let res = self.http.get(&url).await?;
        let mut docs = Vec::new();
        for t in res.json()?.as_array().into_iter().flatten() {
            docs.push(self.ticket(key, p, kind, t).await?);
        }
        Ok((docs, next_page(&res)))
    }

    pub(super) async fn ticket(
        &self,
        key: &str,
        p: &Project,
        kind: &str,
        t: &Value,
    ) -> Result<SourceDoc, ConnectorError> {
        let iid = t["iid"]
            .as_i64()
            .ok_or_else(|| ConnectorError::Protocol(format!("an item of {kind} has no iid")))?;
        let (short, doc_type, sigil, web) = match kind {
            "issues" => ("issue", "issue", '#', "issues"),
            _ => ("mr", "merge_request", '!', "merge_requests"),
        };
        let mut blocks = markdown_paragraphs(t["description"].as_str().unwrap_or_default());
        let mut page = "1".to_string();
        loop {
            let q = query(&[("per_page", "100"), ("page", &page), ("sort", "asc")]);
            let url =
                format!("api/v4/projects/{}/{kind}/{iid}/notes?{q}&order_by=created_at", p.api);
            let res = self.http.get(&url).await?;
            for n in res.json()?.as_array().into_iter().flatten() {
                let text = n["body"].as_str().unwrap_or_default().trim();
                if n["system"].as_bool().unwrap_or(false) || text.is_empty() {
                    continue;
                }
                blocks.push(Block::Comment {
                    author: n["author"]["name"].as_str().map(str::to_string),
                    at: n["created_at"].as_str().and_then(parse_time),
                    text: text.to_string(),
                });
            }
            match next_page(&res) {
                Some(next) => page = next,
                None => break,
            }
        }
        let mut labels: Vec<String> = t["labels"]
            .as_array()
            .map(|ls| ls.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        if let Some(state) = t["state"].as_str() {
            labels.push(format!("state:{state}"));
        }
        labels.push(format!("project:{}", p.path_with_namespace));
        Ok(SourceDoc {
            external_id: format!("{key}:{short}:{iid}"),
            title: format!("{sigil}{iid}: {}", t["title"].as_str().unwrap_or_default()),
            url: t["web_url"].as_str().map(str::to_string).unwrap_or_else(|| {
                format!("{}/{}/-/{web}/{iid}", self.http.base_str(), p.path_with_namespace)
            }),
            author: t["author"]["name"].as_str().map(str::to_string),
            updated_at: t["updated_at"].as_str().and_then(parse_time).ok_or_else(|| {
                ConnectorError::Protocol(format!("{short} {iid} has no readable updated_at"))
            })?,
            doc_type: doc_type.into(),
            labels,
            body: DocBody::Blocks(blocks),
        })
    }
}
