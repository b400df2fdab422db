//! The repository: the head commit, the file tree (keyset-paged) and the files in it.

use super::*;

impl Gitlab {
    /// The head commit of the project's ref and its time; None for an empty repository.
    pub(super) async fn head(
        &self,
        p: &Project,
    ) -> Result<Option<(String, DateTime<Utc>)>, ConnectorError> {
        let Some(git_ref) = &p.git_ref else { return Ok(None) };
        let r = utf8_percent_encode(git_ref, SEGMENT);
        let commit = match self
            .http
            .get_json(&format!("api/v4/projects/{}/repository/commits/{r}", p.api))
            .await
        {
            Err(ConnectorError::Http { status: 404, .. }) if self.config.git_ref.is_none() => {
                return Ok(None);
            }
            other => other?,
        };
        let sha = commit["id"]
            .as_str()
            .ok_or_else(|| ConnectorError::Protocol(format!("no commit id for {git_ref}")))?;
        let at = commit["committed_date"].as_str().and_then(parse_time).unwrap_or_else(Utc::now);
        Ok(Some((sha.to_string(), at)))
    }

    pub(super) fn tree_url(&self, p: &Project, sha: &str) -> String {
        let q = query(&[
            ("recursive", "true"),
            ("per_page", "100"),
            ("pagination", "keyset"),
            ("ref", sha),
        ]);
        format!("api/v4/projects/{}/repository/tree?{q}", p.api)
    }

    /// One tree page: the wanted blob paths and the next page's link.
    pub(super) async fn tree_page(
        &self,
        url: &str,
    ) -> Result<(Vec<String>, Option<String>), ConnectorError> {
        let res = self.http.get(url).await?;
        let entries = res.json()?;
        let paths = entries
            .as_array()
            .ok_or_else(|| ConnectorError::Protocol("the tree answer is not a list".into()))?
            .iter()
            .filter(|e| e["type"] == "blob")
            .filter_map(|e| e["path"].as_str())
            .filter(|path| self.wanted(path))
            .map(str::to_string)
            .collect();
        Ok((paths, res.next_link()))
    }

    /// Downloads `paths` at `sha`, a few at a time, keeping their order; too large or binary
    /// files are skipped.
    pub(super) async fn files(
        &self,
        key: &str,
        p: &Project,
        sha: &str,
        at: DateTime<Utc>,
        paths: &[String],
    ) -> Result<Vec<SourceDoc>, ConnectorError> {
        // Owned paths: a closure over borrowed items trips the `Send` check of async_trait.
        let docs: Vec<Option<SourceDoc>> = futures::stream::iter(paths.to_vec())
            .map(|path| async move { self.file(key, p, sha, at, &path).await })
            .buffered(PARALLEL_FILES)
            .try_collect()
            .await?;
        Ok(docs.into_iter().flatten().collect())
    }

    pub(super) async fn file(
        &self,
        key: &str,
        p: &Project,
        sha: &str,
        at: DateTime<Utc>,
        path: &str,
    ) -> Result<Option<SourceDoc>, ConnectorError> {
        let url = format!(
            "api/v4/projects/{}/repository/files/{}/raw?{}",
            p.api,
            utf8_percent_encode(path, SEGMENT),
            query(&[("ref", sha)])
        );
        let Some(bytes) = self.http.get_bytes_limited(&url, self.config.max_file_bytes).await?
        else {
            tracing::debug!(file.path = path, "skipping a file over max_file_bytes");
            return Ok(None);
        };
        let Ok(text) = String::from_utf8(bytes) else { return Ok(None) };
        if text.contains('\0') {
            return Ok(None);
        }
        let name = path.rsplit('/').next().unwrap_or(path);
        let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
        let (doc_type, body) = if MARKDOWN.contains(&ext.as_str()) {
            ("file", DocBody::Markdown(text))
        } else if self.config.code_extensions.iter().any(|c| c.eq_ignore_ascii_case(&ext)) {
            ("code", DocBody::Text { text, lang: Some(ext) })
        } else {
            ("file", DocBody::Text { text, lang: None })
        };
        let link_path: Vec<String> =
            path.split('/').map(|s| utf8_percent_encode(s, LINK_SEGMENT).to_string()).collect();
        Ok(Some(SourceDoc {
            external_id: format!("{key}:{path}"),
            title: path.to_string(),
            url: format!(
                "{}/{}/-/blob/{}/{}",
                self.http.base_str(),
                p.path_with_namespace,
                p.git_ref.as_deref().unwrap_or(sha),
                link_path.join("/")
            ),
            author: None,
            updated_at: at,
            doc_type: doc_type.into(),
            labels: vec![format!("project:{}", p.path_with_namespace)],
            body,
        }))
    }
}
