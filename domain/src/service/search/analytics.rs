//! What admins see of search: volume, latency, zero-result queries, clicks by position and
//! how fresh each source is.

use super::*;

/// Analytics over the last `days` days, for admins.
#[tracing::instrument(skip_all)]
pub async fn analytics(state: &AppState, days: i64) -> Result<SearchAnalytics, AppError> {
    if !(1..=365).contains(&days) {
        return Err(AppError::invalid(
            "days",
            "range",
            crate::tr!("days must be between 1 and 365"),
        ));
    }
    let since = Utc::now() - ChronoDuration::days(days);
    let queries = state.store.search_queries_since(since).await?;
    let clicks = state.store.search_clicks_since(since).await?;
    let mut volume: BTreeMap<String, i64> = BTreeMap::new();
    let mut latencies: Vec<i64> = Vec::with_capacity(queries.len());
    let mut zero: HashMap<String, i64> = HashMap::new();
    for q in &queries {
        let day = crate::store::from_ms(q.at).format("%Y-%m-%d").to_string();
        *volume.entry(day).or_default() += 1;
        latencies.push(q.latency_us);
        if q.results == 0 {
            *zero.entry(q.query.to_lowercase()).or_default() += 1;
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies[i.min(latencies.len() - 1)] as f64 / 1000.0
    };
    let n = queries.len() as f64;
    let zero_count: i64 = zero.values().sum();
    let mut top_zero: Vec<(String, i64)> = zero.into_iter().collect();
    top_zero.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    top_zero.truncate(20);
    let mut by_pos: BTreeMap<i64, i64> = BTreeMap::new();
    let mut clicked: HashSet<i64> = HashSet::new();
    for (q, p) in &clicks {
        *by_pos.entry(*p).or_default() += 1;
        clicked.insert(*q);
    }
    let sources = state
        .store
        .list_sources()
        .await?
        .into_iter()
        .map(|s| SourceFreshness {
            source_id: s.id,
            kind: SourceKind::parse(&s.kind).unwrap_or(SourceKind::Files),
            name: s.name,
            documents: s.documents,
            chunks: s.chunks,
            last_sync_at: s.last_sync_at,
            last_status: s.last_status,
            newest_document_at: s.newest_document_at,
        })
        .collect();
    Ok(SearchAnalytics {
        days,
        volume: volume.into_iter().collect(),
        queries: queries.len() as i64,
        latency_p50_ms: pct(0.50),
        latency_p95_ms: pct(0.95),
        zero_result_rate: if n > 0.0 { zero_count as f64 / n } else { 0.0 },
        top_zero_result: top_zero,
        clicks_by_position: by_pos.into_iter().collect(),
        click_through_rate: if n > 0.0 { clicked.len() as f64 / n } else { 0.0 },
        sources,
        index: state.knowledge.status(),
    })
}
