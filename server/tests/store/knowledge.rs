//! The contract of knowledge persistence: sources with members and audit entries, visibility,
//! documents and chunks with the index log, the embedding cache, sync runs and checkpoints,
//! uploaded files, and search analytics. Runs on SQLite and PostgreSQL like the rest of the suite.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::store::{
    DynStore, NewAuditEntry, NewChunk, NewDocument, NewSearchQuery, NewSource, NewSourceFile,
    NewUserRow, StoreError,
};
use model::{Scope, Scopes, SyncCounts};

/// Now, truncated to the millisecond precision the store keeps.
fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis()).single().expect("valid time")
}

async fn user(store: &DynStore, email: &str) -> i64 {
    store
        .create_user(NewUserRow {
            email: email.into(),
            display_name: "Someone".into(),
            password_hash: "hash".into(),
            scopes: Scopes::new([Scope::Basic, Scope::Search]),
            first_user_scopes: None,
            created_at: now(),
        })
        .await
        .unwrap()
        .id
}

fn audit(action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: now(),
        actor_id: None,
        actor_email: Some("ann@example.com".into()),
        action: action.into(),
        target: target.into(),
        detail: "{}".into(),
    }
}

fn source(name: &str, owner_id: i64, visibility: &str, members: Vec<i64>) -> NewSource {
    NewSource {
        name: name.into(),
        kind: "files".into(),
        config: r#"{"k":"v"}"#.into(),
        secret: None,
        visibility: visibility.into(),
        owner_id,
        members,
        schedule: None,
        enabled: true,
        at: now(),
    }
}

async fn create(store: &DynStore, s: &NewSource) -> i64 {
    store.create_source(s, audit("source.create", "")).await.unwrap().id
}

fn chunk(ord: i32, text: &str, hash: &str) -> NewChunk {
    NewChunk {
        ord,
        heading: "Setup".into(),
        kind: "prose".into(),
        text: text.into(),
        content_hash: hash.into(),
    }
}

fn document(source_id: i64, external_id: &str, chunks: Vec<NewChunk>) -> NewDocument {
    NewDocument {
        source_id,
        external_id: external_id.into(),
        title: format!("Title of {external_id}"),
        url: format!("https://wiki.example.com/{external_id}"),
        author: Some("Ada".into()),
        doc_type: "page".into(),
        language: Some("en".into()),
        labels: vec!["ops".into(), "space:ENG".into()],
        updated_at: now() - Duration::days(2),
        content_hash: format!("doc-hash-{external_id}"),
        chunks,
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound))
}

/// Document ids named by the index log after `seq`, in log order.
async fn logged_after(store: &DynStore, seq: i64) -> Vec<i64> {
    store.index_log_after(seq, 1000).await.unwrap().into_iter().map(|e| e.1).collect()
}

pub async fn sources_are_created_updated_and_deleted_with_members_and_audit(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let cy = user(&store, "cy@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let mut new = source("Handbook", ann, "members", vec![cy, bob]);
    new.secret = Some("sealed-1".into());
    new.schedule = Some("0 */30 * * * *".into());

    let created = store.create_source(&new, audit("source.create", "")).await.unwrap();
    assert!(created.id > 0);
    assert_eq!(
        (created.name.as_str(), created.kind.as_str(), created.config.as_str()),
        ("Handbook", "files", r#"{"k":"v"}"#)
    );
    assert_eq!(created.secret.as_deref(), Some("sealed-1"));
    assert_eq!((created.owner_id, created.owner_email.as_str()), (ann, "ann@example.com"));
    assert_eq!(created.visibility, "members");
    assert_eq!(created.members, [bob, cy], "members come ordered by e-mail");
    assert_eq!(created.member_emails, ["bob@example.com", "cy@example.com"]);
    assert_eq!(created.schedule.as_deref(), Some("0 */30 * * * *"));
    assert!(created.enabled);
    assert_eq!(created.created_at, new.at);
    assert_eq!((created.documents, created.chunks), (0, 0));
    assert_eq!((created.cursor.as_deref(), created.checkpoint.as_deref()), (None, None));
    assert_eq!((created.last_status.as_deref(), created.newest_document_at), (None, None));
    assert_eq!(store.get_source(created.id).await.unwrap(), created);

    let (entries, total) = store.list_audit(10, 0).await.unwrap();
    assert_eq!(total, 1);
    assert_eq!(entries[0].action, "source.create");
    assert_eq!(entries[0].target, format!("source:{}", created.id), "create names the new id");

    // Update with keep_secret: settings and members replaced, the secret kept.
    let mut changed = source("Team handbook", ann, "owner", vec![bob]);
    changed.enabled = false;
    let target = format!("source:{}", created.id);
    let updated = store
        .update_source(created.id, &changed, true, audit("source.update", &target))
        .await
        .unwrap();
    assert_eq!((updated.name.as_str(), updated.visibility.as_str()), ("Team handbook", "owner"));
    assert_eq!(updated.members, [bob]);
    assert_eq!(updated.secret.as_deref(), Some("sealed-1"), "keep_secret keeps the sealed one");
    assert_eq!((updated.schedule.as_deref(), updated.enabled), (None, false));
    assert_eq!(updated.created_at, created.created_at);

    // Update without keep_secret replaces it (here: clears it).
    let cleared = store
        .update_source(created.id, &changed, false, audit("source.update", &target))
        .await
        .unwrap();
    assert_eq!(cleared.secret, None);
    changed.secret = Some("sealed-2".into());
    let replaced = store
        .update_source(created.id, &changed, false, audit("source.update", &target))
        .await
        .unwrap();
    assert_eq!(replaced.secret.as_deref(), Some("sealed-2"));

    assert!(is_not_found(
        store.update_source(created.id + 100, &changed, true, audit("source.update", "x")).await
    ));
    assert_eq!(store.list_audit(10, 0).await.unwrap().1, 4, "a failed update writes no audit");

    let other = create(&store, &source("Archive", bob, "owner", vec![])).await;
    let names: Vec<String> =
        store.list_sources().await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["Archive", "Team handbook"], "listed by name");
    let listed = store.list_sources().await.unwrap();
    assert_eq!(listed[1].member_emails, ["bob@example.com"]);
    assert!(listed[0].members.is_empty());

    store.delete_source(created.id, audit("source.delete", &target)).await.unwrap();
    assert!(is_not_found(store.get_source(created.id).await));
    assert!(is_not_found(store.delete_source(created.id, audit("source.delete", "x")).await));
    let (entries, total) = store.list_audit(10, 0).await.unwrap();
    assert_eq!(total, 6, "the second delete (not found) writes no audit");
    assert_eq!(
        (entries[0].action.as_str(), entries[0].target.as_str()),
        ("source.delete", &*target)
    );
    let left: Vec<i64> = store.list_sources().await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(left, [other]);
}

pub async fn taken_source_name_is_conflict(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let first = create(&store, &source("Runbooks", ann, "owner", vec![])).await;
    let again =
        store.create_source(&source("Runbooks", ann, "owner", vec![]), audit("a", "")).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");

    let second = create(&store, &source("Other", ann, "owner", vec![])).await;
    let rename = store
        .update_source(second, &source("Runbooks", ann, "owner", vec![]), true, audit("b", "x"))
        .await;
    assert!(matches!(rename, Err(StoreError::Conflict { .. })), "{rename:?}");
    assert_eq!(store.get_source(second).await.unwrap().name, "Other");
    assert_eq!(store.get_source(first).await.unwrap().name, "Runbooks");
    assert_eq!(store.list_sources().await.unwrap().len(), 2);
    assert_eq!(store.list_audit(10, 0).await.unwrap().1, 2, "failed writes are not audited");
}

pub async fn visible_source_ids_follow_visibility_members_and_owner(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let cy = user(&store, "cy@example.com").await;
    let everyone = create(&store, &source("everyone", ann, "everyone", vec![])).await;
    let members = create(&store, &source("members", ann, "members", vec![bob])).await;
    // Members listed on an owner-only source do not make it visible to them.
    let private = create(&store, &source("private", ann, "owner", vec![bob])).await;
    let bobs = create(&store, &source("bob's", bob, "owner", vec![])).await;

    assert_eq!(store.visible_source_ids(ann).await.unwrap(), [everyone, members, private]);
    assert_eq!(store.visible_source_ids(bob).await.unwrap(), [everyone, members, bobs]);
    assert_eq!(store.visible_source_ids(cy).await.unwrap(), [everyone]);

    let target = format!("source:{members}");
    store
        .update_source(
            members,
            &source("members", ann, "members", vec![cy]),
            true,
            audit("source.update", &target),
        )
        .await
        .unwrap();
    assert_eq!(store.visible_source_ids(bob).await.unwrap(), [everyone, bobs]);
    assert_eq!(store.visible_source_ids(cy).await.unwrap(), [everyone, members]);
}

pub async fn upsert_document_inserts_then_replaces_chunks_and_logs_each_write(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let src = create(&store, &source("wiki", ann, "owner", vec![])).await;
    assert_eq!(store.max_index_seq().await.unwrap(), 0);
    assert_eq!(store.document_hash(src, "p1").await.unwrap(), None);

    let first = document(src, "p1", vec![chunk(0, "alpha text", "h-a"), chunk(1, "beta", "h-b")]);
    let (id, created) = store.upsert_document(&first, now()).await.unwrap();
    assert!(created);
    let seq1 = store.max_index_seq().await.unwrap();
    assert!(seq1 > 0);
    assert_eq!(logged_after(&store, 0).await, [id]);
    assert_eq!(
        store.document_hash(src, "p1").await.unwrap(),
        Some((id, "doc-hash-p1".to_string()))
    );
    let doc = store.get_document(id).await.unwrap();
    assert_eq!((doc.source_id, doc.external_id.as_str()), (src, "p1"));
    assert_eq!((doc.title.as_str(), doc.author.as_deref()), ("Title of p1", Some("Ada")));
    assert_eq!(doc.labels, ["ops", "space:ENG"]);
    assert_eq!((doc.language.as_deref(), doc.doc_type.as_str()), (Some("en"), "page"));
    assert_eq!(doc.updated_at, first.updated_at);
    let loaded = store.load_index_documents(&[id], None).await.unwrap();
    let old_chunks: Vec<i64> = loaded[0].chunks.iter().map(|c| c.id).collect();
    assert_eq!(
        loaded[0].chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        ["alpha text", "beta"]
    );
    let s = store.get_source(src).await.unwrap();
    assert_eq!((s.documents, s.chunks), (1, 2));
    assert_eq!(s.newest_document_at, Some(first.updated_at));

    let mut second = document(src, "p1", vec![chunk(0, "gamma only", "h-c")]);
    second.title = "Renamed".into();
    second.labels = vec![];
    second.content_hash = "doc-hash-p1-v2".into();
    let (again, created) = store.upsert_document(&second, now()).await.unwrap();
    assert_eq!((again, created), (id, false), "the same external id replaces the document");
    assert!(store.max_index_seq().await.unwrap() > seq1);
    assert_eq!(logged_after(&store, 0).await, [id, id], "every write is logged");
    assert_eq!(logged_after(&store, seq1).await, [id]);
    let loaded = store.load_index_documents(&[id], None).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!((loaded[0].doc.title.as_str(), loaded[0].doc.labels.len()), ("Renamed", 0));
    assert_eq!(
        loaded[0].chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        ["gamma only"],
        "old chunks are replaced, not appended"
    );
    assert!(store.chunk_texts(&old_chunks).await.unwrap().is_empty(), "old chunks are gone");
    assert_eq!(
        store.document_hash(src, "p1").await.unwrap(),
        Some((id, "doc-hash-p1-v2".to_string()))
    );
    let s = store.get_source(src).await.unwrap();
    assert_eq!((s.documents, s.chunks), (1, 1));

    // The same external id in another source is another document.
    let other = create(&store, &source("other", ann, "owner", vec![])).await;
    let (id2, created) = store
        .upsert_document(&document(other, "p1", vec![chunk(0, "x", "h-x")]), now())
        .await
        .unwrap();
    assert!(created && id2 != id);
    assert_eq!(store.list_document_ids(0, 10).await.unwrap(), [id, id2]);
    assert_eq!(store.list_document_ids(id, 10).await.unwrap(), [id2]);
}

pub async fn delete_documents_removes_by_external_id_and_logs_them(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let src = create(&store, &source("wiki", ann, "owner", vec![])).await;
    let other = create(&store, &source("other", ann, "owner", vec![])).await;
    let mut ids = Vec::new();
    for e in ["a", "b", "c"] {
        let d = document(src, e, vec![chunk(0, e, &format!("h-{e}"))]);
        ids.push(store.upsert_document(&d, now()).await.unwrap().0);
    }
    let (kept_elsewhere, _) = store
        .upsert_document(&document(other, "a", vec![chunk(0, "a", "h-a")]), now())
        .await
        .unwrap();
    assert_eq!(store.list_external_ids(src).await.unwrap(), ["a", "b", "c"]);
    let before = store.max_index_seq().await.unwrap();

    let gone = store
        .delete_documents(src, &["a".into(), "c".into(), "missing".into()], now())
        .await
        .unwrap();
    assert_eq!(gone, 2);
    assert_eq!(store.list_external_ids(src).await.unwrap(), ["b"]);
    assert_eq!(store.list_external_ids(other).await.unwrap(), ["a"], "other sources keep theirs");
    let mut logged = logged_after(&store, before).await;
    logged.sort_unstable();
    assert_eq!(logged, [ids[0], ids[2]], "deleted documents are logged so indexes drop them");
    let loaded = store.load_index_documents(&[ids[0], ids[1], ids[2]], None).await.unwrap();
    assert_eq!(loaded.iter().map(|d| d.doc.id).collect::<Vec<_>>(), [ids[1]]);
    assert!(is_not_found(store.get_document(ids[0]).await));
    assert!(store.get_document(kept_elsewhere).await.is_ok());
    assert_eq!(store.delete_documents(src, &["a".into()], now()).await.unwrap(), 0);
    assert_eq!(store.delete_documents(src, &[], now()).await.unwrap(), 0);
}

pub async fn load_index_documents_joins_vectors_of_the_asked_model_only(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let src = create(&store, &source("wiki", ann, "owner", vec![])).await;
    // Chunks handed over out of order come back ordered by `ord`.
    let d = document(src, "p", vec![chunk(1, "second", "h-2"), chunk(0, "first", "h-1")]);
    let (id, _) = store.upsert_document(&d, now()).await.unwrap();
    store.put_embeddings(&[("h-1".into(), vec![1.0, 0.0, -0.5])], "model-a", now()).await.unwrap();
    store
        .put_embeddings(
            &[("h-1".into(), vec![0.0, 1.0, 0.25]), ("h-2".into(), vec![0.5, 0.5, 0.5])],
            "model-b",
            now(),
        )
        .await
        .unwrap();
    // An existing vector is kept.
    store.put_embeddings(&[("h-1".into(), vec![9.0, 9.0, 9.0])], "model-a", now()).await.unwrap();

    let vectors = |docs: Vec<domain::store::IndexDocument>| -> Vec<(String, Option<Vec<f32>>)> {
        docs[0].chunks.iter().map(|c| (c.text.clone(), c.vector.clone())).collect()
    };
    let a = store.load_index_documents(&[id, id + 1000], Some("model-a")).await.unwrap();
    assert_eq!(a.len(), 1, "missing ids are left out");
    assert_eq!(a[0].chunks.iter().map(|c| c.ord).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(a[0].chunks[0].heading, "Setup");
    assert_eq!(vectors(a), [("first".into(), Some(vec![1.0, 0.0, -0.5])), ("second".into(), None)]);
    assert_eq!(
        vectors(store.load_index_documents(&[id], Some("model-b")).await.unwrap()),
        [
            ("first".into(), Some(vec![0.0, 1.0, 0.25])),
            ("second".into(), Some(vec![0.5, 0.5, 0.5]))
        ]
    );
    assert_eq!(
        vectors(store.load_index_documents(&[id], None).await.unwrap()),
        [("first".into(), None), ("second".into(), None)]
    );

    let got = store
        .get_embeddings(&["h-1".into(), "h-2".into(), "h-none".into()], "model-a")
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got["h-1"], [1.0, 0.0, -0.5]);
}

pub async fn chunks_missing_embeddings_lists_each_unembedded_hash_once(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let src = create(&store, &source("wiki", ann, "owner", vec![])).await;
    let (d1, _) = store
        .upsert_document(
            &document(src, "one", vec![chunk(0, "shared words", "h-shared"), chunk(1, "x", "h-1")]),
            now(),
        )
        .await
        .unwrap();
    let (d2, _) = store
        .upsert_document(&document(src, "two", vec![chunk(0, "shared words", "h-shared")]), now())
        .await
        .unwrap();
    store.put_embeddings(&[("h-1".into(), vec![1.0])], "m", now()).await.unwrap();

    let missing = store.chunks_missing_embeddings("m", 10).await.unwrap();
    assert_eq!(missing, [("h-shared".to_string(), "Setup\nshared words".to_string())]);
    let mut all = store.chunks_missing_embeddings("other-model", 10).await.unwrap();
    all.sort();
    assert_eq!(all.iter().map(|m| m.0.as_str()).collect::<Vec<_>>(), ["h-1", "h-shared"]);
    assert_eq!(store.chunks_missing_embeddings("other-model", 1).await.unwrap().len(), 1);
    // Counted as distinct texts, as the embedding job's progress counts them.
    assert_eq!(store.count_chunks_missing_embeddings("m").await.unwrap(), 1);
    assert_eq!(store.count_chunks_missing_embeddings("other-model").await.unwrap(), 2);
    assert_eq!(store.count_chunk_texts().await.unwrap(), 2);
    assert!(store.any_chunk_missing_embedding("m").await.unwrap());

    assert_eq!(store.documents_with_hashes(&["h-shared".into()]).await.unwrap(), [d1, d2]);
    assert_eq!(store.documents_with_hashes(&["h-1".into()]).await.unwrap(), [d1]);
    let before = store.max_index_seq().await.unwrap();
    store.touch_index(&[d1, d2], now()).await.unwrap();
    assert_eq!(logged_after(&store, before).await, [d1, d2]);

    store.put_embeddings(&[("h-shared".into(), vec![0.5])], "m", now()).await.unwrap();
    assert!(store.chunks_missing_embeddings("m", 10).await.unwrap().is_empty());
    assert_eq!(store.count_chunks_missing_embeddings("m").await.unwrap(), 0);
    assert!(!store.any_chunk_missing_embedding("m").await.unwrap());
    assert!(store.any_chunk_missing_embedding("other-model").await.unwrap());
}

pub async fn sync_runs_start_resume_for_the_same_job_update_finish_and_list(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let src = create(&store, &source("wiki", ann, "owner", vec![])).await;
    let at = now();
    let run = store.start_sync_run(src, Some(7), "manual", at).await.unwrap();
    assert_eq!((run.source_id, run.job_id, run.trigger.as_str()), (src, Some(7), "manual"));
    assert_eq!((run.status.as_str(), run.started_at, run.finished_at), ("running", at, None));
    assert_eq!(run.counts, SyncCounts::default());
    assert!(run.log.is_empty() && run.error.is_none());
    assert_eq!(store.get_source(src).await.unwrap().last_status.as_deref(), Some("running"));

    let counts = SyncCounts {
        processed: 5,
        total: Some(9),
        added: 2,
        updated: 1,
        unchanged: 1,
        deleted: 3,
        errors: 1,
    };
    store.update_sync_run(run.id, &counts, "12:00:00 one\n12:00:01 two").await.unwrap();
    let resumed = store.start_sync_run(src, Some(7), "manual", now()).await.unwrap();
    assert_eq!(resumed.id, run.id, "a retried attempt of the same job resumes its run");
    assert_eq!(resumed.counts, counts);
    assert_eq!(resumed.log, ["12:00:00 one", "12:00:01 two"]);

    let other_job = store.start_sync_run(src, Some(8), "schedule", now()).await.unwrap();
    assert_ne!(other_job.id, run.id);
    let no_job = store.start_sync_run(src, None, "upload", now()).await.unwrap();
    let no_job_again = store.start_sync_run(src, None, "upload", now()).await.unwrap();
    assert_ne!(no_job.id, no_job_again.id, "without a job every start is a new run");

    let done_at = now();
    store.finish_sync_run(run.id, "failed", Some("boom"), done_at).await.unwrap();
    let after = store.start_sync_run(src, Some(7), "manual", now()).await.unwrap();
    assert_ne!(after.id, run.id, "a finished run is never resumed");

    let runs = store.list_sync_runs(src, 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [after.id, no_job_again.id, no_job.id, other_job.id, run.id],
        "newest first"
    );
    let finished = runs.last().unwrap();
    assert_eq!(finished.status, "failed");
    assert_eq!((finished.error.as_deref(), finished.finished_at), (Some("boom"), Some(done_at)));
    assert_eq!(finished.counts, counts);
    assert_eq!(store.list_sync_runs(src, 2).await.unwrap().len(), 2);
    let other = create(&store, &source("other", ann, "owner", vec![])).await;
    assert!(store.list_sync_runs(other, 10).await.unwrap().is_empty());
}

pub async fn checkpoint_is_cleared_only_when_a_sync_succeeds(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let src = create(&store, &source("wiki", ann, "owner", vec![])).await;
    store.save_sync_checkpoint(src, Some(r#"{"page":"p2"}"#)).await.unwrap();
    let s = store.get_source(src).await.unwrap();
    assert_eq!(s.checkpoint.as_deref(), Some(r#"{"page":"p2"}"#));
    assert_eq!(s.last_status.as_deref(), Some("running"));

    let failed_at = now();
    store.finish_source_sync(src, Some("c1"), "failed", Some("HTTP 500"), failed_at).await.unwrap();
    let s = store.get_source(src).await.unwrap();
    assert_eq!(s.checkpoint.as_deref(), Some(r#"{"page":"p2"}"#), "a failure keeps the checkpoint");
    assert_eq!(s.cursor, None, "a failure does not move the cursor");
    assert_eq!(
        (s.last_status.as_deref(), s.last_error.as_deref()),
        (Some("failed"), Some("HTTP 500"))
    );
    assert_eq!(s.last_sync_at, Some(failed_at));

    store.finish_source_sync(src, Some("c2"), "cancelled", None, now()).await.unwrap();
    let s = store.get_source(src).await.unwrap();
    assert!(s.checkpoint.is_some() && s.cursor.is_none());

    let ok_at = now();
    store.finish_source_sync(src, Some("c3"), "succeeded", None, ok_at).await.unwrap();
    let s = store.get_source(src).await.unwrap();
    assert_eq!((s.cursor.as_deref(), s.checkpoint.as_deref()), (Some("c3"), None));
    assert_eq!((s.last_status.as_deref(), s.last_error.as_deref()), (Some("succeeded"), None));
    assert_eq!(s.last_sync_at, Some(ok_at));

    store.save_sync_checkpoint(src, Some("again")).await.unwrap();
    store.save_sync_checkpoint(src, None).await.unwrap();
    assert_eq!(store.get_source(src).await.unwrap().checkpoint, None, "None clears it");
    store.finish_source_sync(src, Some("c4"), "failed", Some("x"), now()).await.unwrap();
    assert_eq!(store.get_source(src).await.unwrap().cursor.as_deref(), Some("c3"));
}

pub async fn search_queries_clicks_and_recent_distinct_searches(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let t0 = now() - Duration::minutes(10);
    let q = |user_id: i64, query: &str, results: i64, latency_us: i64, at: DateTime<Utc>| {
        NewSearchQuery {
            user_id,
            query: query.into(),
            filters: "{}".into(),
            results,
            latency_us,
            cached: false,
            at,
        }
    };
    let old = store
        .insert_search_query(&q(ann, "ancient", 1, 10, t0 - Duration::days(30)))
        .await
        .unwrap();
    let alpha1 = store.insert_search_query(&q(ann, "alpha", 3, 1500, t0)).await.unwrap();
    let beta = store
        .insert_search_query(&q(ann, "beta", 0, 2500, t0 + Duration::minutes(1)))
        .await
        .unwrap();
    let alpha2 = store
        .insert_search_query(&q(ann, "alpha", 4, 900, t0 + Duration::minutes(2)))
        .await
        .unwrap();
    let empty =
        store.insert_search_query(&q(ann, "", 0, 5, t0 + Duration::minutes(3))).await.unwrap();
    let bobs = store
        .insert_search_query(&q(bob, "gamma", 2, 700, t0 + Duration::minutes(4)))
        .await
        .unwrap();
    assert!(alpha1 > old && alpha2 > beta && bobs > alpha2);

    let since = store.search_queries_since(t0 - Duration::days(1)).await.unwrap();
    assert_eq!(
        since.iter().map(|r| r.id).collect::<Vec<_>>(),
        [alpha1, beta, alpha2, empty, bobs],
        "oldest first, the 30-day-old search left out"
    );
    assert_eq!(
        (since[0].query.as_str(), since[0].results, since[0].latency_us),
        ("alpha", 3, 1500)
    );
    assert_eq!(since[0].at, t0.timestamp_millis());

    store.insert_search_click(alpha2, ann, 1, 42, now()).await.unwrap();
    store.insert_search_click(alpha2, ann, 3, 43, now()).await.unwrap();
    let err = store.insert_search_click(alpha2, bob, 1, 42, now()).await;
    assert!(is_not_found(err), "a click on someone else's search is refused");
    assert!(is_not_found(store.insert_search_click(bobs + 100, bob, 1, 42, now()).await));
    let mut clicks = store.search_clicks_since(t0).await.unwrap();
    clicks.sort_unstable();
    assert_eq!(clicks, [(alpha2, 1), (alpha2, 3)]);

    let recent = store.recent_searches(ann, 10).await.unwrap();
    assert_eq!(
        recent.iter().map(|h| (h.q.as_str(), h.results)).collect::<Vec<_>>(),
        [("alpha", 4), ("beta", 0), ("ancient", 1)],
        "distinct, newest first, empty queries left out"
    );
    assert_eq!(recent[0].at, t0 + Duration::minutes(2));
    assert_eq!(store.recent_searches(ann, 1).await.unwrap().len(), 1);
    let bob_recent = store.recent_searches(bob, 10).await.unwrap();
    assert_eq!(bob_recent.iter().map(|h| h.q.as_str()).collect::<Vec<_>>(), ["gamma"]);
}

pub async fn source_files_are_kept_listed_and_deleted_within_their_source(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let s1 = create(&store, &source("files one", ann, "owner", vec![])).await;
    let s2 = create(&store, &source("files two", ann, "owner", vec![])).await;
    let file = |source_id: i64, name: &str, bytes: &[u8], at: DateTime<Utc>| NewSourceFile {
        source_id,
        name: name.into(),
        format: "markdown".into(),
        sha256: "abc123".into(),
        bytes: bytes.to_vec(),
        uploaded_by: ann,
        at,
    };
    let t0 = now();
    let a = store.insert_source_file(&file(s1, "a.md", b"# A\nalpha", t0)).await.unwrap();
    assert_eq!((a.source_id, a.name.as_str(), a.format.as_str()), (s1, "a.md", "markdown"));
    assert_eq!((a.size, a.created_at), (9, t0));
    let b = store
        .insert_source_file(&file(s1, "b.md", b"# B", t0 + Duration::seconds(1)))
        .await
        .unwrap();
    let c = store.insert_source_file(&file(s2, "c.md", b"# C", t0)).await.unwrap();

    let listed = store.list_source_files(s1).await.unwrap();
    assert_eq!(listed.iter().map(|f| f.id).collect::<Vec<_>>(), [b.id, a.id], "newest first");
    assert_eq!(listed[1], a);
    let (meta, bytes) = store.get_source_file(a.id).await.unwrap();
    assert_eq!((meta, bytes), (a.clone(), b"# A\nalpha".to_vec()));

    assert!(is_not_found(store.delete_source_file(s2, a.id).await), "not that source's file");
    assert_eq!(store.list_source_files(s1).await.unwrap().len(), 2);
    store.delete_source_file(s1, a.id).await.unwrap();
    assert!(is_not_found(store.get_source_file(a.id).await));
    assert!(is_not_found(store.delete_source_file(s1, a.id).await));
    assert_eq!(store.list_source_files(s1).await.unwrap(), [b]);
    assert_eq!(store.list_source_files(s2).await.unwrap(), [c]);
}

pub async fn deleting_a_source_logs_its_documents_and_cascades(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let doomed = create(&store, &source("doomed", ann, "members", vec![ann])).await;
    let kept = create(&store, &source("kept", ann, "owner", vec![])).await;
    let (d1, _) = store
        .upsert_document(&document(doomed, "a", vec![chunk(0, "a", "h-a")]), now())
        .await
        .unwrap();
    let (d2, _) = store
        .upsert_document(&document(doomed, "b", vec![chunk(0, "b", "h-b")]), now())
        .await
        .unwrap();
    let (d3, _) = store
        .upsert_document(&document(kept, "a", vec![chunk(0, "a", "h-a")]), now())
        .await
        .unwrap();
    let file = store
        .insert_source_file(&NewSourceFile {
            source_id: doomed,
            name: "f.md".into(),
            format: "markdown".into(),
            sha256: "x".into(),
            bytes: b"# F".to_vec(),
            uploaded_by: ann,
            at: now(),
        })
        .await
        .unwrap();
    store.start_sync_run(doomed, Some(1), "manual", now()).await.unwrap();
    let chunk_ids: Vec<i64> = store
        .load_index_documents(&[d1, d2], None)
        .await
        .unwrap()
        .iter()
        .flat_map(|d| d.chunks.iter().map(|c| c.id))
        .collect();
    assert_eq!(chunk_ids.len(), 2);
    let before = store.max_index_seq().await.unwrap();

    store.delete_source(doomed, audit("source.delete", &format!("source:{doomed}"))).await.unwrap();
    let mut logged = logged_after(&store, before).await;
    logged.sort_unstable();
    assert_eq!(logged, [d1, d2], "each document of the source is logged for the indexes");
    assert!(is_not_found(store.get_document(d1).await));
    assert!(store.load_index_documents(&[d1, d2], None).await.unwrap().is_empty());
    assert!(store.chunk_texts(&chunk_ids).await.unwrap().is_empty());
    assert!(store.list_external_ids(doomed).await.unwrap().is_empty());
    assert!(is_not_found(store.get_source_file(file.id).await));
    assert!(store.list_sync_runs(doomed, 10).await.unwrap().is_empty());
    assert_eq!(store.visible_source_ids(ann).await.unwrap(), [kept]);
    assert_eq!(store.list_document_ids(0, 10).await.unwrap(), [d3]);
    assert_eq!(store.get_source(kept).await.unwrap().documents, 1);
}
