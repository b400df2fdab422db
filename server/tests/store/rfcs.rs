//! The contract of RFC persistence: numbering per year (also under concurrent creation),
//! sections with stable ids through insert, move, edit, proposal and delete, typed answers,
//! source labels that are never reused, and children reachable only through their own RFC.

use chrono::{TimeZone, Utc};
use domain::store::{
    DynStore, LAST_ENABLED, NewAuditEntry, NewQuestion, NewRfc, NewRfcSource, NewSection,
    NewUserRow, RfcPatch, SectionUpdate, StoreError, TemplateRow, TemplateWrite,
};
use model::{
    Answer, DocLanguage, Provenance, QuestionKind, QuestionOrigin, RfcStatus, Scope, Scopes,
    SectionState, TaskType,
};

async fn user(store: &DynStore, email: &str) -> i64 {
    store
        .create_user(NewUserRow {
            email: email.into(),
            display_name: "Someone".into(),
            password_hash: "hash".into(),
            scopes: Scopes::new([Scope::Basic, Scope::Generate]),
            first_user_scopes: None,
            created_at: Utc::now(),
        })
        .await
        .unwrap()
        .id
}

fn new_rfc(owner_id: i64, title: &str, year: i32) -> NewRfc {
    NewRfc {
        title: title.into(),
        task_type: TaskType::NewFeature,
        template: "feature".into(),
        language: DocLanguage::Ru,
        description: "Повторять неудачные загрузки с экспоненциальной задержкой.".into(),
        owner_id,
        tags: vec!["uploads".into(), "надёжность".into()],
        source_ids: None,
        at: Utc.with_ymd_and_hms(year, 3, 1, 12, 0, 0).unwrap(),
    }
}

fn section(key: &str, heading: &str) -> NewSection {
    NewSection {
        template_key: Some(key.into()),
        heading: heading.into(),
        body: String::new(),
        provenance: Provenance::Template,
        state: SectionState::Pending,
    }
}

fn chunk(id: i64) -> NewRfcSource {
    NewRfcSource {
        chunk_id: id,
        document_id: id * 10,
        source_id: 1,
        title: format!("Page {id}"),
        url: format!("https://wiki.example.com/pages/{id}"),
        heading: "Retries".into(),
        excerpt: format!("chunk {id} text"),
        query: Some("upload retries".into()),
    }
}

pub async fn rfcs_are_numbered_per_year_and_read_back(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let bob = user(&store, "bob@example.com").await;
    let a = store.create_rfc(&new_rfc(ann, "Upload retries", 2026)).await.unwrap();
    let b = store.create_rfc(&new_rfc(bob, "Queue metrics", 2026)).await.unwrap();
    let mut with_sources = new_rfc(ann, "Next year", 2027);
    with_sources.source_ids = Some(vec![3, 5]);
    let c = store.create_rfc(&with_sources).await.unwrap();
    assert_eq!(
        [&a.summary.number, &b.summary.number, &c.summary.number],
        ["RFC-2026-001", "RFC-2026-002", "RFC-2027-001"]
    );
    assert_eq!(a.summary.status, RfcStatus::Clarifying);
    assert_eq!(a.summary.owner_email, "ann@example.com");
    assert_eq!(a.summary.tags, vec!["uploads".to_string(), "надёжность".to_string()]);
    assert_eq!(a.summary.language, DocLanguage::Ru);
    assert_eq!(a.task_type, TaskType::NewFeature);
    assert_eq!(a.source_ids, None);
    assert_eq!(c.source_ids, Some(vec![3, 5]));
    assert_eq!(store.get_rfc(a.summary.id).await.unwrap(), a);

    let (mine, total) = store.list_rfcs(Some(ann), 10, 0).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(mine.iter().map(|r| r.summary.id).collect::<Vec<_>>(), [c.summary.id, a.summary.id]);
    let (page, total) = store.list_rfcs(None, 1, 1).await.unwrap();
    assert_eq!((page.len(), total), (1, 3));

    let later = Utc.with_ymd_and_hms(2027, 6, 1, 0, 0, 0).unwrap();
    let patched = store
        .update_rfc(
            a.summary.id,
            &RfcPatch {
                title: Some("Upload retries v2".into()),
                status: Some(RfcStatus::Grounding),
                source_ids: Some(Some(vec![7])),
                ..RfcPatch::default()
            },
            later,
        )
        .await
        .unwrap();
    assert_eq!(patched.summary.title, "Upload retries v2");
    assert_eq!(patched.summary.status, RfcStatus::Grounding);
    assert_eq!(patched.source_ids, Some(vec![7]));
    assert_eq!(patched.summary.tags, a.summary.tags, "untouched fields stay");
    assert_eq!(patched.summary.updated_at, later);
    let back = store
        .update_rfc(
            a.summary.id,
            &RfcPatch { source_ids: Some(None), ..RfcPatch::default() },
            later,
        )
        .await
        .unwrap();
    assert_eq!(back.source_ids, None);

    store.insert_section(a.summary.id, None, &section("summary", "Кратко"), later).await.unwrap();
    store.add_rfc_sources(a.summary.id, &[chunk(1)], later).await.unwrap();
    store.delete_rfc(a.summary.id).await.unwrap();
    assert!(matches!(store.get_rfc(a.summary.id).await, Err(StoreError::NotFound)));
    assert!(store.list_sections(a.summary.id).await.unwrap().is_empty());
    assert!(store.list_rfc_sources(a.summary.id).await.unwrap().is_empty());
    assert!(matches!(store.delete_rfc(a.summary.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.update_rfc(a.summary.id, &RfcPatch::default(), later).await,
        Err(StoreError::NotFound)
    ));
}

pub async fn concurrent_rfc_creation_never_shares_a_number(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store.create_rfc(&new_rfc(ann, &format!("RFC {i}"), 2026)).await.unwrap()
            })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap().summary.number);
    }
    numbers.sort();
    let want: Vec<String> = (1..=8).map(|i| format!("RFC-2026-{i:03}")).collect();
    assert_eq!(numbers, want);
}

pub async fn concurrent_patches_of_different_fields_both_land(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let id = store.create_rfc(&new_rfc(ann, "Upload retries", 2026)).await.unwrap().summary.id;
    for round in 0..10 {
        let title = RfcPatch { title: Some(format!("Title {round}")), ..RfcPatch::default() };
        let tags = RfcPatch { tags: Some(vec![format!("t{round}")]), ..RfcPatch::default() };
        let rounds = RfcPatch { question_rounds: Some(round), ..RfcPatch::default() };
        let (a, b, c) = tokio::join!(
            store.update_rfc(id, &title, Utc::now()),
            store.update_rfc(id, &tags, Utc::now()),
            store.update_rfc(id, &rounds, Utc::now()),
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        let now = store.get_rfc(id).await.unwrap();
        assert_eq!(now.summary.title, format!("Title {round}"), "round {round}");
        assert_eq!(now.summary.tags, [format!("t{round}")], "round {round}");
        assert_eq!(now.question_rounds, round, "round {round}");
    }
}

pub async fn sections_keep_their_ids_through_insert_move_edit_and_delete(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let rfc = store.create_rfc(&new_rfc(ann, "Upload retries", 2026)).await.unwrap().summary.id;
    let other = store.create_rfc(&new_rfc(ann, "Other", 2026)).await.unwrap().summary.id;
    let at = Utc::now();
    let a = store.insert_section(rfc, None, &section("summary", "Summary"), at).await.unwrap();
    let b =
        store.insert_section(rfc, None, &section("motivation", "Motivation"), at).await.unwrap();
    let c = store.insert_section(rfc, None, &section("drawbacks", "Drawbacks"), at).await.unwrap();
    let custom = NewSection { template_key: None, heading: "Rollout".into(), ..section("x", "x") };
    let d = store.insert_section(rfc, Some(1), &custom, at).await.unwrap();
    assert_eq!(d.template_key, None);
    let order = |v: Vec<model::RfcSection>| -> Vec<(i64, i32)> {
        v.into_iter().map(|s| (s.id, s.position)).collect()
    };
    assert_eq!(
        order(store.list_sections(rfc).await.unwrap()),
        [(a.id, 0), (d.id, 1), (b.id, 2), (c.id, 3)]
    );
    let moved = store.move_section(rfc, a.id, 99, at).await.unwrap();
    assert_eq!(order(moved), [(d.id, 0), (b.id, 1), (c.id, 2), (a.id, 3)]);
    let moved = store.move_section(rfc, c.id, -5, at).await.unwrap();
    assert_eq!(order(moved), [(c.id, 0), (d.id, 1), (b.id, 2), (a.id, 3)]);

    let update = SectionUpdate {
        heading: None,
        body: "Uploads fail on flaky networks [S1].".into(),
        provenance: Provenance::Ai,
        state: SectionState::Done,
        citations: vec![1],
        dropped_citations: 2,
    };
    let edited = store.update_section(rfc, b.id, &update, at).await.unwrap();
    assert_eq!((edited.id, edited.heading.as_str()), (b.id, "Motivation"));
    assert_eq!(edited.body, update.body);
    assert_eq!((edited.provenance, edited.state), (Provenance::Ai, SectionState::Done));
    assert_eq!((edited.citations.clone(), edited.dropped_citations), (vec![1], 2));

    let proposed =
        store.propose_section(rfc, b.id, Some(("Shorter [S1].", "shorter")), at).await.unwrap();
    assert_eq!(proposed.body, update.body, "the current text stays until accepted");
    assert_eq!(proposed.proposed_body.as_deref(), Some("Shorter [S1]."));
    assert_eq!(proposed.proposed_instruction.as_deref(), Some("shorter"));
    let renamed = SectionUpdate { heading: Some("Why".into()), ..update.clone() };
    let kept = store.update_section(rfc, b.id, &renamed, at).await.unwrap();
    assert_eq!(kept.heading, "Why");
    assert_eq!(kept.proposed_body.as_deref(), Some("Shorter [S1]."), "an edit keeps the proposal");
    let cleared = store.propose_section(rfc, b.id, None, at).await.unwrap();
    assert_eq!((cleared.proposed_body, cleared.proposed_instruction), (None, None));

    // Another RFC's id never reaches this RFC's sections.
    assert!(matches!(
        store.update_section(other, b.id, &update, at).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.propose_section(other, b.id, None, at).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(store.move_section(other, b.id, 0, at).await, Err(StoreError::NotFound)));
    assert!(matches!(store.delete_section(other, b.id, at).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.insert_section(i64::MAX, None, &section("summary", "S"), at).await,
        Err(StoreError::NotFound)
    ));

    store.delete_section(rfc, d.id, at).await.unwrap();
    assert_eq!(order(store.list_sections(rfc).await.unwrap()), [(c.id, 0), (b.id, 1), (a.id, 2)]);
    assert!(matches!(store.delete_section(rfc, d.id, at).await, Err(StoreError::NotFound)));
}

pub async fn questions_keep_rounds_and_typed_answers(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let rfc = store.create_rfc(&new_rfc(ann, "Upload retries", 2026)).await.unwrap().summary.id;
    let other = store.create_rfc(&new_rfc(ann, "Other", 2026)).await.unwrap().summary.id;
    let at = Utc::now();
    let q = |kind, text: &str, options: &[&str]| NewQuestion {
        kind,
        text: text.into(),
        why: "because".into(),
        placeholder: "e.g.".into(),
        options: options.iter().map(|o| o.to_string()).collect(),
        origin: QuestionOrigin::Model,
        section: Some("motivation".into()),
    };
    let round1 = store
        .add_questions(
            rfc,
            1,
            &[
                q(QuestionKind::Text, "Кто пользователи?", &[]),
                q(QuestionKind::MultipleChoice, "Which clients?", &["web", "mobile", "partners"]),
                q(QuestionKind::Number, "Peak RPS?", &[]),
            ],
            at,
        )
        .await
        .unwrap();
    assert_eq!(round1.len(), 3);
    assert_eq!(round1[1].options, vec!["web", "mobile", "partners"]);
    assert!(round1.iter().all(|q| q.round == 1 && q.answer.is_none() && !q.skipped));
    assert_eq!(store.get_rfc(rfc).await.unwrap().question_rounds, 1);

    let choice = Answer::MultipleChoice(vec!["web".into(), "partners".into()]);
    let a = store.answer_question(rfc, round1[1].id, Some(&choice), false, at).await.unwrap();
    assert_eq!(a.answer, Some(choice));
    let n = store.answer_question(rfc, round1[2].id, Some(&Answer::Number(1250.5)), false, at);
    assert_eq!(n.await.unwrap().answer, Some(Answer::Number(1250.5)));
    let skipped = store.answer_question(rfc, round1[0].id, None, true, at).await.unwrap();
    assert!(skipped.skipped && skipped.answer.is_none());
    let text = Answer::Text("Инженеры поддержки".into());
    let answered = store.answer_question(rfc, round1[0].id, Some(&text), true, at).await.unwrap();
    assert!(!answered.skipped, "an answer un-skips");
    assert_eq!(answered.answer, Some(text));
    assert!(matches!(
        store.answer_question(other, round1[0].id, None, true, at).await,
        Err(StoreError::NotFound)
    ));

    let round2 =
        store.add_questions(rfc, 2, &[q(QuestionKind::YesNo, "Breaking?", &[])], at).await.unwrap();
    assert_eq!(round2[0].round, 2);
    let all = store.list_questions(rfc).await.unwrap();
    assert_eq!(all.iter().map(|q| q.round).collect::<Vec<_>>(), [1, 1, 1, 2]);
    assert_eq!(all[0].text, "Кто пользователи?");
    assert_eq!(store.get_rfc(rfc).await.unwrap().question_rounds, 2);
    assert!(store.list_questions(other).await.unwrap().is_empty());
}

pub async fn source_labels_are_given_once_and_never_reused(store: DynStore) {
    let ann = user(&store, "ann@example.com").await;
    let rfc = store.create_rfc(&new_rfc(ann, "Upload retries", 2026)).await.unwrap().summary.id;
    let other = store.create_rfc(&new_rfc(ann, "Other", 2026)).await.unwrap().summary.id;
    let at = Utc::now();
    let first = store.add_rfc_sources(rfc, &[chunk(1), chunk(2), chunk(3)], at).await.unwrap();
    assert_eq!(first.iter().map(|s| s.label).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(first[0].url, "https://wiki.example.com/pages/1");
    assert_eq!(first[0].query.as_deref(), Some("upload retries"));

    let removed = store.set_rfc_source_removed(rfc, first[1].id, true, at).await.unwrap();
    assert!(removed.removed);
    let mut by_hand = chunk(4);
    by_hand.query = None;
    let more = store.add_rfc_sources(rfc, &[chunk(2), by_hand, chunk(4)], at).await.unwrap();
    assert_eq!(more.len(), 1, "chunks it holds (removed or not) and repeats are skipped");
    assert_eq!((more[0].label, more[0].chunk_id, more[0].query.clone()), (4, 4, None));

    let all = store.list_rfc_sources(rfc).await.unwrap();
    assert_eq!(
        all.iter().map(|s| (s.label, s.removed)).collect::<Vec<_>>(),
        [(1, false), (2, true), (3, false), (4, false)]
    );
    let back = store.set_rfc_source_removed(rfc, first[1].id, false, at).await.unwrap();
    assert!(!back.removed);
    assert!(matches!(
        store.set_rfc_source_removed(other, first[0].id, true, at).await,
        Err(StoreError::NotFound)
    ));
    // Another RFC numbers its own sources from 1.
    let theirs = store.add_rfc_sources(other, &[chunk(1)], at).await.unwrap();
    assert_eq!(theirs[0].label, 1);
}

pub async fn templates_are_added_once_rewritten_and_audited(store: DynStore) {
    let audit = |action: &str| NewAuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor_email: None,
        action: action.into(),
        target: "rfc_template:adr-lite".into(),
        detail: "{}".into(),
    };
    let builtins = ["adr", "feature"];
    let switch = |enabled| TemplateWrite::Switch { enabled, builtins: &builtins };
    assert!(store.list_rfc_templates().await.unwrap().is_empty());
    let lite = r#"{"name_en":"ADR lite"}"#;
    let copy = TemplateWrite::Copy { definition: lite };
    store.write_rfc_template("adr-lite", copy, 5, None, audit("rfc_template.copy")).await.unwrap();
    let taken = TemplateWrite::Copy { definition: "{}" };
    let again = store.write_rfc_template("adr-lite", taken, 5, None, audit("x")).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "{again:?}");
    // A built-in's switch: a row without a definition, written twice.
    store
        .write_rfc_template("adr", switch(false), 6, None, audit("rfc_template.disable"))
        .await
        .unwrap();
    store
        .write_rfc_template("adr", switch(true), 7, None, audit("rfc_template.enable"))
        .await
        .unwrap();
    // A copy's switch leaves its definition, and its definition leaves its switch.
    store
        .write_rfc_template("adr-lite", switch(true), 8, None, audit("rfc_template.enable"))
        .await
        .unwrap();
    let lighter = r#"{"name_en":"ADR, lighter"}"#;
    let define = TemplateWrite::Define { definition: lighter };
    store
        .write_rfc_template("adr-lite", define, 9, None, audit("rfc_template.edit"))
        .await
        .unwrap();
    // Only copies have a definition to replace.
    for key in ["adr", "nowhere"] {
        let r = store.write_rfc_template(key, define, 9, None, audit("x")).await;
        assert!(matches!(r, Err(StoreError::NotFound)), "{key}: {r:?}");
    }
    let on = TemplateRow { key: "adr".into(), definition: None, enabled: true, updated_at: 7 };
    let edited = TemplateRow {
        key: "adr-lite".into(),
        definition: Some(lighter.into()),
        enabled: true,
        updated_at: 9,
    };
    assert_eq!(store.list_rfc_templates().await.unwrap(), [on, edited], "by key");
    let (entries, total) = store.list_audit(10, 0).await.unwrap();
    assert_eq!(total, 5, "refused writes wrote no audit entry");
    assert_eq!(entries[0].action, "rfc_template.edit");
}

pub async fn the_last_template_on_stays_on_under_concurrent_switches(store: DynStore) {
    let audit = || NewAuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor_email: None,
        action: "rfc_template.disable".into(),
        target: "rfc_template".into(),
        detail: "{}".into(),
    };
    // Two built-ins and one copy; the copy is switched off, then two admins switch off the
    // two built-ins at the same moment: one of them must be refused, several times over.
    let builtins = ["adr", "feature"];
    let off = TemplateWrite::Switch { enabled: false, builtins: &builtins };
    let on = TemplateWrite::Switch { enabled: true, builtins: &builtins };
    let copy = TemplateWrite::Copy { definition: "{}" };
    store.write_rfc_template("mine", copy, 1, None, audit()).await.unwrap();
    for round in 0..5 {
        let (a, b) = tokio::join!(
            store.write_rfc_template("adr", off, 2, None, audit()),
            store.write_rfc_template("feature", off, 2, None, audit()),
        );
        let refused = [&a, &b]
            .iter()
            .filter(|r| {
                matches!(r, Err(StoreError::Conflict { constraint }) if constraint == LAST_ENABLED)
            })
            .count();
        assert_eq!((refused, a.is_ok() || b.is_ok()), (1, true), "round {round}: {a:?} {b:?}");
        let rows = store.list_rfc_templates().await.unwrap();
        let off_now = rows.iter().filter(|r| r.definition.is_none() && !r.enabled).count();
        assert_eq!(off_now, 1, "round {round}: {rows:?}");
        for key in builtins {
            store.write_rfc_template(key, on, 3, None, audit()).await.unwrap();
        }
    }
    // Switching a copy on makes room for both built-ins to go off.
    store.write_rfc_template("mine", on, 4, None, audit()).await.unwrap();
    for key in builtins {
        store.write_rfc_template(key, off, 5, None, audit()).await.unwrap();
    }
    let last = store.write_rfc_template("mine", off, 6, None, audit()).await;
    assert!(matches!(last, Err(StoreError::Conflict { .. })), "{last:?}");
}
