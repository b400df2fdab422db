//! The RFC studio over HTTP, with no model configured: the wizard's input rules (422s naming
//! each field, in the reader's language), the template's built-in questions in the RFC's
//! language, typed answers and skips, who may read and change an RFC, and the completeness
//! check on an RFC that has no sections yet.

use crate::helpers::{TestApp, email, expect_error, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn wizard(template: &str, language: &str) -> Value {
    json!({
        "task_type": "new_feature",
        "template": template,
        "title": "Retries for failed uploads",
        "description": "Uploads over flaky networks fail and users start again from zero; retry them with backoff.",
        "language": language,
        "tags": ["uploads", " Uploads ", "надёжность"],
    })
}

pub(crate) async fn the_wizard_starts_an_rfc_with_the_templates_questions(app: TestApp) {
    let app = &app;
    let (admin, member) = app.admin_and_member().await;
    let other = app.register(&email("other")).await;

    // Every field the wizard checks is named, in the reader's language.
    let bad = json!({
        "task_type": "new_feature", "template": "feature", "title": " x ",
        "description": "short", "language": "en", "source_ids": [999_999],
    });
    let res = app
        .api
        .post(app.url("/api/v1/rfcs"))
        .bearer_auth(&member.access)
        .header("accept-language", "ru")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let fields: Vec<(&str, &str)> = err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap(), f["rule"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [("title", "length"), ("description", "length"), ("source_ids", "visible")],
        "{err}"
    );
    assert!(err["errors"][0]["message"].as_str().unwrap().contains("символов"), "{err}");
    let unknown = app.post_bearer("/api/v1/rfcs", &member.access, &wizard("nope", "en")).await;
    let err = expect_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(err["errors"][0]["field"], "template", "{err}");
    let missing =
        app.post_bearer("/api/v1/rfcs", &member.access, &json!({"template": "feature"})).await;
    expect_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let listed = app.get_bearer("/api/v1/rfcs", &member.access).await;
    assert_eq!(expect_status(listed, StatusCode::OK).await["total"], 0, "nothing half-written");

    // The templates the wizard offers.
    let templates = expect_status(
        app.get_bearer("/api/v1/rfc-templates", &member.access).await,
        StatusCode::OK,
    )
    .await;
    let keys: Vec<&str> =
        templates.as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["feature", "design", "adr", "security", "infra", "api", "process", "prfaq"]);

    // A Russian security RFC: its questions are the template's, in Russian.
    let created = app.post_bearer("/api/v1/rfcs", &member.access, &wizard("security", "ru")).await;
    let rfc = expect_status(created, StatusCode::CREATED).await;
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(rfc["summary"]["number"], format!("RFC-{year}-001"));
    assert_eq!(rfc["summary"]["status"], "clarifying");
    assert_eq!(rfc["summary"]["tags"], json!(["uploads", "надёжность"]));
    assert_eq!(rfc["question_rounds"], 1);
    let questions = rfc["questions"].as_array().unwrap();
    assert_eq!(questions.len(), 4);
    assert_eq!(questions[0]["text"], "Какие данные или возможности это защищает?");
    assert!(questions.iter().all(|q| q["origin"] == "template" && q["round"] == 1));
    let id = rfc["summary"]["id"].as_i64().unwrap();
    let choice = &questions[1];
    assert_eq!(choice["kind"], "single_choice");
    let choice_path = format!("/api/v1/rfcs/{id}/questions/{}", choice["id"]);

    // Answers are typed like their questions.
    let wrong = app
        .put_bearer(
            &choice_path,
            &member.access,
            &json!({"answer": {"kind": "text", "value": "x"}}),
        )
        .await;
    let err = expect_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(
        (&err["errors"][0]["field"], &err["errors"][0]["rule"]),
        (&json!("answer"), &json!("kind"))
    );
    let not_option = app
        .put_bearer(
            &choice_path,
            &member.access,
            &json!({"answer": {"kind": "single_choice", "value": "The moon"}}),
        )
        .await;
    expect_error(not_option, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let option = choice["options"][2].clone();
    let answered = app
        .put_bearer(
            &choice_path,
            &member.access,
            &json!({"answer": {"kind": "single_choice", "value": option}}),
        )
        .await;
    let answered = expect_status(answered, StatusCode::OK).await;
    assert_eq!(answered["answer"], json!({"kind": "single_choice", "value": option}));
    let skip_path = format!("/api/v1/rfcs/{id}/questions/{}", questions[3]["id"]);
    let skipped = app.put_bearer(&skip_path, &member.access, &json!({"skip": true})).await;
    assert_eq!(expect_status(skipped, StatusCode::OK).await["skipped"], true);

    // Only the owner changes it; others do not even learn it exists; admins may read it.
    let theirs = app.put_bearer(&skip_path, &other.access, &json!({"skip": false})).await;
    expect_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    let peek = app.get_bearer(&format!("/api/v1/rfcs/{id}"), &other.access).await;
    expect_error(peek, StatusCode::NOT_FOUND, "not_found").await;
    let by_admin = app.get_bearer(&format!("/api/v1/rfcs/{id}"), &admin.access).await;
    assert_eq!(
        expect_status(by_admin, StatusCode::OK).await["questions"][1]["answer"]["value"],
        option
    );
    let admin_writes = app.put_bearer(&skip_path, &admin.access, &json!({"skip": false})).await;
    expect_error(admin_writes, StatusCode::FORBIDDEN, "forbidden").await;
    let other_list = app.get_bearer("/api/v1/rfcs", &other.access).await;
    assert_eq!(expect_status(other_list, StatusCode::OK).await["total"], 0);
    let admin_list = app.get_bearer("/api/v1/rfcs", &admin.access).await;
    assert_eq!(expect_status(admin_list, StatusCode::OK).await["items"][0]["id"], id);

    // With no sections yet, every required section is missing.
    let quality = app.get_bearer(&format!("/api/v1/rfcs/{id}/quality"), &member.access).await;
    let quality = expect_status(quality, StatusCode::OK).await;
    assert_eq!(quality["structure_score"], 0);
    let missing: Vec<&str> = quality["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["section"].as_str().unwrap())
        .collect();
    assert_eq!(
        missing,
        ["summary", "current_state", "change", "threat_model", "compliance", "rollout", "rollback"]
    );
    assert_eq!(quality["findings"][0]["heading"], "Кратко", "headings in the RFC's language");

    // A read-only token reads but cannot write.
    let (_, basic) = app.create_api_token(&member.access, &["basic"]).await;
    assert_eq!(
        app.get_bearer(&format!("/api/v1/rfcs/{id}"), &basic).await.status(),
        StatusCode::OK
    );
    let refused = app.post_bearer("/api/v1/rfcs", &basic, &wizard("feature", "en")).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}

const RUNBOOK: &str = "# Upload service runbook\n\n\
## Retries\n\nThe upload service retries a failed chunk upload three times with exponential backoff \
starting at two seconds. After the third failure the upload is parked in the dead-letter queue \
and the user sees an error.\n\n\
## Storage\n\nUploaded chunks are kept in the object store for seven days before the nightly \
cleanup removes unfinished uploads.\n\n\
## Costs\n\nThe object store bill for unfinished uploads was 1,200 USD last month.\n";

const COSTS: &str = "# Object store costs\n\n\
Unfinished uploads are the largest line of the object store bill: 1,200 USD last month, growing \
ten percent a month as more people upload large files over slow networks.\n";

/// A files source holding the runbook and the cost note, both synced; its id.
pub(crate) async fn upload_notes(app: &TestApp, token: &str) -> i64 {
    use crate::knowledge::{create_files_source, upload, wait_for_runs};
    let source = create_files_source(app, token, "Runbooks").await;
    for (i, (name, text)) in
        [("upload-runbook.md", RUNBOOK), ("storage-costs.md", COSTS)].iter().enumerate()
    {
        let res = upload(app, token, source, name, text.as_bytes()).await;
        expect_status(res, StatusCode::CREATED).await;
        let runs = i + 1;
        wait_for_runs(app, token, source, runs, runs as i64, std::time::Duration::from_secs(60))
            .await;
    }
    source
}

pub(crate) async fn a_draft_without_a_model_cites_only_its_sources_and_sections_are_edited(
    app: TestApp,
) {
    use crate::knowledge::eventually;
    use std::time::Duration;
    let app = &app;
    let (_admin, member) = app.admin_and_member().await;
    let other = app.register(&email("other")).await;
    let token = member.access.as_str();
    let source = upload_notes(app, token).await;

    let created = app.post_bearer("/api/v1/rfcs", token, &wizard("feature", "en")).await;
    let rfc = expect_status(created, StatusCode::CREATED).await;
    let id = rfc["summary"]["id"].as_i64().unwrap();
    let q = &rfc["questions"];
    let answer = |i: usize, body: Value| {
        let path = format!("/api/v1/rfcs/{id}/questions/{}", q[i]["id"]);
        async move { expect_status(app.put_bearer(&path, token, &body).await, StatusCode::OK).await }
    };
    answer(0, json!({"answer": {"kind": "text", "value": "People uploading large files over hotel wifi"}})).await;
    answer(4, json!({"skip": true})).await;

    // Grounding finds the runbook once the index has it.
    let grounded = eventually(Duration::from_secs(30), "grounding to find the runbook", || async {
        let res = app.post_bearer(&format!("/api/v1/rfcs/{id}/ground"), token, &json!({})).await;
        let body = expect_status(res, StatusCode::OK).await;
        (body["sources"].as_array().unwrap().len() >= 2).then_some(body)
    })
    .await;
    assert_eq!(grounded["summary"]["status"], "grounding");
    let sources = grounded["sources"].as_array().unwrap().clone();
    let labels: Vec<i64> = sources.iter().map(|s| s["label"].as_i64().unwrap()).collect();
    assert_eq!(labels, (1..=labels.len() as i64).collect::<Vec<_>>());
    let titles = ["Upload service runbook", "Object store costs"];
    assert!(
        sources.iter().all(|s| titles.contains(&s["title"].as_str().unwrap())
            && s["url"].as_str().unwrap().starts_with(&format!("/api/v1/sources/{source}/files/"))),
        "{sources:?}"
    );
    let original = app.get_bearer(sources[0]["url"].as_str().unwrap(), token).await;
    assert_eq!(original.status(), StatusCode::OK, "a source opens its original");
    let first = &sources[0];
    let removed = app
        .put_bearer(
            &format!("/api/v1/rfcs/{id}/sources/{}", first["id"]),
            token,
            &json!({"removed": true}),
        )
        .await;
    assert_eq!(expect_status(removed, StatusCode::OK).await["removed"], true);

    // Searching for more and adding a chunk it holds already changes nothing.
    let found = app
        .get_bearer(&format!("/api/v1/rfcs/{id}/sources/search?q=dead-letter%20queue"), token)
        .await;
    let found = expect_status(found, StatusCode::OK).await;
    let hit = &found[0];
    let add = json!({"document_id": hit["document_id"], "chunk_id": hit["chunk_id"]});
    let after = app.post_bearer(&format!("/api/v1/rfcs/{id}/sources"), token, &add).await;
    assert_eq!(expect_status(after, StatusCode::OK).await.as_array().unwrap().len(), sources.len());
    let empty = app.get_bearer(&format!("/api/v1/rfcs/{id}/sources/search?q=%20"), token).await;
    expect_error(empty, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    // Someone who cannot see the runbook cannot add it to their own RFC.
    let theirs = app.post_bearer("/api/v1/rfcs", &other.access, &wizard("adr", "en")).await;
    let theirs =
        expect_status(theirs, StatusCode::CREATED).await["summary"]["id"].as_i64().unwrap();
    let stolen =
        app.post_bearer(&format!("/api/v1/rfcs/{theirs}/sources"), &other.access, &add).await;
    expect_error(stolen, StatusCode::NOT_FOUND, "not_found").await;

    // The draft quotes live sources only, and every citation resolves.
    let drafted = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    let drafted = expect_status(drafted, StatusCode::OK).await;
    assert_eq!(drafted["summary"]["status"], "draft");
    let sections = drafted["sections"].as_array().unwrap().clone();
    assert_eq!(sections.len(), 9);
    let live: Vec<i64> = drafted["sources"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["removed"] == false)
        .map(|s| s["label"].as_i64().unwrap())
        .collect();
    let mut cited = Vec::new();
    for s in &sections {
        assert_eq!(s["provenance"], "template");
        for c in s["citations"].as_array().unwrap() {
            let c = c.as_i64().unwrap();
            assert!(live.contains(&c), "section {} cites S{c}, not a live source", s["heading"]);
            assert!(s["body"].as_str().unwrap().contains(&format!("[S{c}]")));
            cited.push(c);
        }
        assert!(
            !s["body"].as_str().unwrap().contains(&format!("[S{}]", first["label"])),
            "a removed source is never quoted"
        );
    }
    assert!(!cited.is_empty(), "the runbook is quoted somewhere: {sections:?}");
    let unresolved = sections.iter().find(|s| s["template_key"] == "unresolved").unwrap();
    assert!(unresolved["body"].as_str().unwrap().contains(q[4]["text"].as_str().unwrap()));
    let again = app.post_bearer(&format!("/api/v1/rfcs/{id}/draft"), token, &json!({})).await;
    expect_error(again, StatusCode::CONFLICT, "conflict").await;

    // A person's edit keeps the citations that resolve and counts the others.
    let drawbacks = sections.iter().find(|s| s["template_key"] == "drawbacks").unwrap();
    let path = format!("/api/v1/rfcs/{id}/sections/{}", drawbacks["id"]);
    let body = format!("Parked uploads cost money [S{}] and confuse users [S99].", live[0]);
    let edited = app.put_bearer(&path, token, &json!({"body": body})).await;
    let edited = expect_status(edited, StatusCode::OK).await;
    assert_eq!(
        edited["body"],
        format!("Parked uploads cost money [S{}] and confuse users.", live[0])
    );
    assert_eq!(
        (edited["citations"].clone(), edited["dropped_citations"].clone()),
        (json!([live[0]]), json!(1))
    );
    assert_eq!(edited["provenance"], "human");
    let long = app.put_bearer(&path, token, &json!({"body": "x".repeat(100_001)})).await;
    expect_error(long, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    // Add, move and remove a section; ids stay.
    let added = app
        .post_bearer(
            &format!("/api/v1/rfcs/{id}/sections"),
            token,
            &json!({"heading": "Rollout", "body": "Behind a flag.", "position": 0}),
        )
        .await;
    let added = expect_status(added, StatusCode::CREATED).await;
    assert_eq!((added["position"].clone(), added["template_key"].clone()), (json!(0), Value::Null));
    let moved = app
        .post_bearer(
            &format!("/api/v1/rfcs/{id}/sections/{}/move", added["id"]),
            token,
            &json!({"position": 100}),
        )
        .await;
    let moved = expect_status(moved, StatusCode::OK).await;
    assert_eq!(moved.as_array().unwrap().last().unwrap()["id"], added["id"]);
    let no_proposal = app
        .post_bearer(
            &format!("/api/v1/rfcs/{id}/sections/{}/proposal", added["id"]),
            token,
            &json!({"accept": true}),
        )
        .await;
    expect_error(no_proposal, StatusCode::CONFLICT, "conflict").await;
    let gone =
        app.delete_bearer(&format!("/api/v1/rfcs/{id}/sections/{}", added["id"]), token).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);
    let by_other = app
        .delete_bearer(&format!("/api/v1/rfcs/{id}/sections/{}", drawbacks["id"]), &other.access)
        .await;
    expect_error(by_other, StatusCode::NOT_FOUND, "not_found").await;

    // The check: every citation resolves; the assembled draft is far from complete.
    let quality = app.get_bearer(&format!("/api/v1/rfcs/{id}/quality"), token).await;
    let quality = expect_status(quality, StatusCode::OK).await;
    assert_eq!(quality["citations"], quality["resolving_citations"]);
    assert!(quality["citations"].as_i64().unwrap() >= 2);
    let score = quality["structure_score"].as_i64().unwrap();
    assert!((1..80).contains(&score), "{quality}");
    assert!(
        quality["findings"].as_array().unwrap().iter().all(|f| f["issue"] != "dangling_citations")
    );
    // A review needs a model: without one it is refused, naming why.
    let review = app.post_bearer(&format!("/api/v1/rfcs/{id}/review"), token, &json!({})).await;
    let err = expect_error(review, StatusCode::CONFLICT, "conflict").await;
    assert!(err["message"].as_str().unwrap().contains("no model"), "{err}");

    // Reloaded, everything is there.
    let back =
        expect_status(app.get_bearer(&format!("/api/v1/rfcs/{id}"), token).await, StatusCode::OK)
            .await;
    assert_eq!(back["sections"].as_array().unwrap().len(), 9);
    assert_eq!(
        back["sections"].as_array().unwrap().iter().find(|s| s["id"] == drawbacks["id"]).unwrap()["body"],
        edited["body"]
    );
}
