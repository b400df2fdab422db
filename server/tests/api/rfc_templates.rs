//! Admins' RFC templates over HTTP: copying a template (a copy starts switched off), editing
//! the copy's sections and questions (422s name the field; nothing half-written), switching
//! templates on and off in the wizard (the last one stays on), RFCs started from a copy
//! following it, and an audit entry for every change.

use crate::helpers::{TestApp, expect_error, expect_status};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn keys(list: &Value) -> Vec<String> {
    list.as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap().to_string()).collect()
}

fn fields(err: &Value) -> Vec<(String, String)> {
    err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().into(), f["rule"].as_str().unwrap().into()))
        .collect()
}

pub(crate) async fn admins_copy_edit_and_switch_templates(app: TestApp) {
    let app = &app;
    let (admin, member) = app.admin_and_member().await;
    let (admin, member) = (admin.access.as_str(), member.access.as_str());
    let list = "/api/v1/admin/rfc-templates";

    // Members may not touch templates.
    expect_status(app.get_bearer(list, member).await, StatusCode::FORBIDDEN).await;
    let copy = json!({"key": "adr-lite", "name_en": "ADR lite", "name_ru": "Облегчённый ADR"});
    let refused = app.post_bearer(&format!("{list}/adr/copy"), member, &copy).await;
    expect_status(refused, StatusCode::FORBIDDEN).await;

    // A copy: a new key, and it waits switched off.
    let made = app.post_bearer(&format!("{list}/adr/copy"), admin, &copy).await;
    let made = expect_status(made, StatusCode::CREATED).await;
    assert_eq!((made["key"].clone(), made["builtin"].clone()), (json!("adr-lite"), json!(false)));
    assert_eq!(made["enabled"], false, "{made}");
    assert_eq!(made["name_ru"], "Облегчённый ADR");
    for (key, rule) in [("adr-lite", "unique"), ("feature", "unique"), ("Bad Key", "format")] {
        let again = app.post_bearer(&format!("{list}/adr/copy"), admin, &json!({"key": key})).await;
        let err = expect_error(again, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
        assert!(fields(&err).contains(&("key".into(), rule.into())), "{key}: {err}");
    }
    let missing = app.post_bearer(&format!("{list}/nope/copy"), admin, &json!({"key": "x2"})).await;
    expect_status(missing, StatusCode::NOT_FOUND).await;
    let all = expect_status(app.get_bearer(list, admin).await, StatusCode::OK).await;
    assert_eq!(keys(&all).len(), 9, "{all}");
    let offered =
        expect_status(app.get_bearer("/api/v1/rfc-templates", member).await, StatusCode::OK).await;
    assert!(!keys(&offered).contains(&"adr-lite".to_string()), "a copy starts switched off");

    // Editing: three sections and two questions; a broken version is refused whole.
    let mut edited = made.clone();
    edited["sections"] = Value::Array(made["sections"].as_array().unwrap()[..3].to_vec());
    edited["sections"][2]["guidance_ru"] = json!("Перечислите варианты и почему выбран один.");
    edited["questions"] = json!([made["questions"][0], made["questions"][1]]);
    let mut broken = edited.clone();
    broken["questions"][0]["section"] = json!("outcome");
    broken["sections"][1]["heading_ru"] = broken["sections"][0]["heading_en"].clone();
    broken["name_en"] = json!("");
    let res = app.put_bearer(&format!("{list}/adr-lite"), admin, &broken).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let got = fields(&err);
    for want in [("name_en", "length"), ("questions[0].section", "unknown")] {
        assert!(got.contains(&(want.0.into(), want.1.into())), "{want:?}: {err}");
    }
    assert!(got.iter().any(|(f, r)| f.starts_with("sections[1].") && r == "unique"), "{err}");
    let all = expect_status(app.get_bearer(list, admin).await, StatusCode::OK).await;
    let stored = all.as_array().unwrap().iter().find(|t| t["key"] == "adr-lite").unwrap();
    assert_eq!(stored["sections"].as_array().unwrap().len(), 8, "nothing half-written");
    let res = app.put_bearer(&format!("{list}/adr-lite"), admin, &edited).await;
    let saved = expect_status(res, StatusCode::OK).await;
    assert_eq!(saved["sections"].as_array().unwrap().len(), 3);
    assert_eq!(saved["enabled"], false, "editing does not switch it on");
    // Built-ins are copied, not edited; a copy keeps its key.
    let res = app.put_bearer(&format!("{list}/adr"), admin, &edited).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(fields(&err), [("key".to_string(), "path".to_string())], "{err}");
    let mut builtin = edited.clone();
    builtin["key"] = json!("adr");
    let res = app.put_bearer(&format!("{list}/adr"), admin, &builtin).await;
    let err = expect_error(res, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(fields(&err), [("key".to_string(), "builtin".to_string())], "{err}");

    // Switched on, the wizard offers it and an RFC follows it.
    let on = format!("{list}/adr-lite/enabled");
    expect_status(app.put_bearer(&on, admin, &json!({"enabled": true})).await, StatusCode::OK)
        .await;
    let offered =
        expect_status(app.get_bearer("/api/v1/rfc-templates", member).await, StatusCode::OK).await;
    assert_eq!(keys(&offered).last().map(String::as_str), Some("adr-lite"), "{offered}");
    let wizard = json!({
        "task_type": "new_feature",
        "template": "adr-lite",
        "title": "Message broker for the billing events",
        "description": "Billing events are lost when the consumer restarts; pick a broker that keeps them.",
        "language": "en",
    });
    let rfc =
        expect_status(app.post_bearer("/api/v1/rfcs", member, &wizard).await, StatusCode::CREATED)
            .await;
    let id = rfc["summary"]["id"].as_i64().unwrap();
    let asked: Vec<&str> =
        rfc["questions"].as_array().unwrap().iter().map(|q| q["text"].as_str().unwrap()).collect();
    let want: Vec<&str> = edited["questions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["text_en"].as_str().unwrap())
        .collect();
    assert_eq!(asked, want, "the copy's questions");
    let quality = expect_status(
        app.get_bearer(&format!("/api/v1/rfcs/{id}/quality"), member).await,
        StatusCode::OK,
    )
    .await;
    let named: Vec<&str> = quality["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["section"].as_str().unwrap())
        .collect();
    let sections: Vec<&str> =
        edited["sections"].as_array().unwrap().iter().map(|s| s["key"].as_str().unwrap()).collect();
    assert!(!named.is_empty() && named.iter().all(|s| sections.contains(s)), "{quality}");

    // Switched off, it is no longer offered; the RFC started from it keeps working.
    expect_status(app.put_bearer(&on, admin, &json!({"enabled": false})).await, StatusCode::OK)
        .await;
    let offered =
        expect_status(app.get_bearer("/api/v1/rfc-templates", member).await, StatusCode::OK).await;
    assert!(!keys(&offered).contains(&"adr-lite".to_string()));
    let again = app.post_bearer("/api/v1/rfcs", member, &wizard).await;
    expect_error(again, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    let quality = app.get_bearer(&format!("/api/v1/rfcs/{id}/quality"), member).await;
    expect_status(quality, StatusCode::OK).await;
    expect_status(app.get_bearer(&format!("/api/v1/rfcs/{id}"), member).await, StatusCode::OK)
        .await;

    // The wizard keeps one template: switching off the last one is refused.
    let builtins = ["feature", "design", "adr", "security", "infra", "api", "process"];
    for key in builtins {
        let res = app
            .put_bearer(&format!("{list}/{key}/enabled"), admin, &json!({"enabled": false}))
            .await;
        assert_eq!(expect_status(res, StatusCode::OK).await["enabled"], false);
    }
    let last =
        app.put_bearer(&format!("{list}/prfaq/enabled"), admin, &json!({"enabled": false})).await;
    let err = expect_error(last, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;
    assert_eq!(fields(&err), [("enabled".to_string(), "last".to_string())], "{err}");
    let offered =
        expect_status(app.get_bearer("/api/v1/rfc-templates", member).await, StatusCode::OK).await;
    assert_eq!(keys(&offered), ["prfaq"]);

    // Every change is in the audit log, with who made it.
    let audit =
        expect_status(app.get_bearer("/api/v1/admin/audit?limit=50", admin).await, StatusCode::OK)
            .await;
    let actions: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("rfc_template."))
        .map(|e| (e["action"].as_str().unwrap().into(), e["target"].as_str().unwrap().into()))
        .collect();
    for want in [
        ("rfc_template.copy", "rfc_template:adr-lite"),
        ("rfc_template.edit", "rfc_template:adr-lite"),
        ("rfc_template.enable", "rfc_template:adr-lite"),
        ("rfc_template.disable", "rfc_template:adr-lite"),
        ("rfc_template.disable", "rfc_template:feature"),
    ] {
        assert!(actions.contains(&(want.0.into(), want.1.into())), "{want:?}: {actions:?}");
    }
    assert_eq!(actions.len(), 1 + 1 + 1 + 1 + builtins.len(), "refused changes are not audited");
}
