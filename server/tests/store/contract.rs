//! The contract every `Store` implementation must keep. Each function gets a store on a fresh,
//! migrated, empty database.

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::store::{
    DynStore, NewApiTokenRow, NewAuditEntry, NewUserRow, RefreshTokenRecord, StoreError,
};
use model::{Scope, Scopes};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::Barrier;

/// Now, truncated to the millisecond precision the store keeps.
fn now() -> DateTime<Utc> {
    Utc.timestamp_millis_opt(Utc::now().timestamp_millis()).single().expect("valid time")
}

fn default_scopes() -> Scopes {
    Scopes::new([Scope::Basic, Scope::Search, Scope::Generate])
}

fn new_user(email: &str, name: &str) -> NewUserRow {
    NewUserRow {
        email: email.to_string(),
        display_name: name.to_string(),
        password_hash: format!("hash-of-{email}"),
        scopes: default_scopes(),
        first_user_scopes: Some(Scopes::all()),
        created_at: now(),
    }
}

async fn user(store: &DynStore, email: &str) -> i64 {
    store.create_user(new_user(email, "Someone")).await.expect("create user").id
}

fn audit(action: &str, target: &str) -> NewAuditEntry {
    NewAuditEntry {
        at: now(),
        actor_id: Some(1),
        actor_email: Some("admin@example.com".into()),
        action: action.to_string(),
        target: target.to_string(),
        detail: r#"{"k":"v"}"#.to_string(),
    }
}

fn refresh(hash: &str, family: &str, user_id: i64) -> RefreshTokenRecord {
    let at = now();
    RefreshTokenRecord {
        token_hash: hash.to_string(),
        family_id: family.to_string(),
        user_id,
        created_at: at,
        expires_at: at + Duration::days(30),
        used_at: None,
        revoked_at: None,
    }
}

fn api_token(user_id: i64, name: &str, hash: &str) -> NewApiTokenRow {
    let at = now();
    NewApiTokenRow {
        user_id,
        name: name.to_string(),
        token_hash: hash.to_string(),
        scopes: Scopes::new([Scope::Basic]),
        created_at: at,
        expires_at: at + Duration::days(90),
    }
}

pub async fn ping_answers(store: DynStore) {
    store.ping().await.expect("ping");
    let stats = store.pool_stats();
    assert!(stats.idle <= stats.size);
}

pub async fn creates_user_and_reads_it_back(store: DynStore) {
    let row = new_user("ann@example.com", "Ann Example");
    let created_at = row.created_at;
    let created = store.create_user(row).await.expect("create");
    assert!(created.id > 0);
    assert_eq!(created.email, "ann@example.com");
    assert_eq!(created.display_name, "Ann Example");
    assert!(created.active);
    assert_eq!(created.created_at, created_at);
    assert_eq!(created.last_login_at, None);

    let by_id = store.get_user(created.id).await.expect("get by id");
    assert_eq!(by_id.user, created);
    assert_eq!(by_id.password_hash, "hash-of-ann@example.com");

    let by_email = store.get_user_by_email("ann@example.com").await.expect("get by email");
    assert_eq!(by_email.user, created);
    assert_eq!(by_email.password_hash, by_id.password_hash);
    assert_eq!(store.count_users().await.expect("count"), 1);
}

pub async fn missing_user_is_not_found(store: DynStore) {
    assert!(matches!(store.get_user(4242).await, Err(StoreError::NotFound)));
    assert!(matches!(
        store.get_user_by_email("nobody@example.com").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.count_users().await.expect("count"), 0);
}

pub async fn duplicate_email_is_conflict(store: DynStore) {
    user(&store, "dup@example.com").await;
    let again = store.create_user(new_user("dup@example.com", "Other")).await;
    assert!(matches!(again, Err(StoreError::Conflict { .. })), "expected Conflict, got {again:?}");
    assert_eq!(store.count_users().await.expect("count"), 1);
}

pub async fn first_user_gets_first_user_scopes_second_gets_default(store: DynStore) {
    let first = store.create_user(new_user("first@example.com", "First")).await.expect("first");
    assert_eq!(first.scopes, Scopes::all());
    let second = store.create_user(new_user("second@example.com", "Second")).await.expect("second");
    assert_eq!(second.scopes, default_scopes());
    assert!(!second.scopes.contains(Scope::Admin));
    // Without first_user_scopes, the given scopes apply even to the first user.
    let mut plain = new_user("third@example.com", "Third");
    plain.first_user_scopes = None;
    plain.scopes = Scopes::new([Scope::Basic]);
    assert_eq!(store.create_user(plain).await.expect("third").scopes, Scopes::new([Scope::Basic]));
}

pub async fn concurrent_first_registrations_make_exactly_one_admin(store: DynStore) {
    const N: usize = 10;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.create_user(new_user(&format!("racer{i}@example.com"), "Racer")).await
        }));
    }
    let mut admins = 0;
    for task in tasks {
        let created = task.await.expect("task").expect("every concurrent registration succeeds");
        if created.scopes.contains(Scope::Admin) {
            admins += 1;
            assert_eq!(created.scopes, Scopes::all());
        } else {
            assert_eq!(created.scopes, default_scopes());
        }
    }
    assert_eq!(admins, 1, "exactly one of the concurrent first registrations must become admin");
    assert_eq!(store.count_users().await.expect("count"), i64::try_from(N).expect("fits"));
}

pub async fn touch_user_login_records_time(store: DynStore) {
    let id = user(&store, "login@example.com").await;
    let at = now();
    store.touch_user_login(id, at).await.expect("touch");
    assert_eq!(store.get_user(id).await.expect("get").user.last_login_at, Some(at));
}

pub async fn list_users_search_is_case_insensitive(store: DynStore) {
    store.create_user(new_user("alice@example.com", "Alice Liddell")).await.expect("alice");
    store.create_user(new_user("bob@example.com", "Bob MIXEDcase")).await.expect("bob");
    store.create_user(new_user("carol@other.org", "Carol")).await.expect("carol");

    let (items, total) = store.list_users("ALICE", 10, 0).await.expect("list");
    assert_eq!(total, 1);
    assert_eq!(items.iter().map(|u| u.email.as_str()).collect::<Vec<_>>(), ["alice@example.com"]);

    let (items, total) = store.list_users("mixedCASE", 10, 0).await.expect("list by name");
    assert_eq!(total, 1);
    assert_eq!(items[0].email, "bob@example.com");

    let (items, total) = store.list_users("  Example.COM ", 10, 0).await.expect("list by domain");
    assert_eq!(total, 2);
    assert_eq!(items.len(), 2);

    let (items, total) = store.list_users("", 10, 0).await.expect("list all");
    assert_eq!((items.len(), total), (3, 3));

    let (items, total) = store.list_users("zzz", 10, 0).await.expect("list none");
    assert_eq!((items.len(), total), (0, 0));
}

pub async fn list_users_escapes_like_wildcards(store: DynStore) {
    for email in [
        "under_score@example.com",
        "underxscore@example.com",
        "pct%sign@example.com",
        "pctxxsign@example.com",
        "back\\slash@example.com",
        "backxslash@example.com",
    ] {
        store.create_user(new_user(email, "Wild")).await.expect("create");
    }
    let emails = |items: Vec<model::User>| items.into_iter().map(|u| u.email).collect::<Vec<_>>();

    let (items, total) = store.list_users("r_s", 10, 0).await.expect("underscore");
    assert_eq!((emails(items), total), (vec!["under_score@example.com".to_string()], 1));

    let (items, total) = store.list_users("t%s", 10, 0).await.expect("percent");
    assert_eq!((emails(items), total), (vec!["pct%sign@example.com".to_string()], 1));

    let (items, total) = store.list_users("%", 10, 0).await.expect("percent alone");
    assert_eq!((emails(items), total), (vec!["pct%sign@example.com".to_string()], 1));

    let (items, total) = store.list_users("_", 10, 0).await.expect("underscore alone");
    assert_eq!((emails(items), total), (vec!["under_score@example.com".to_string()], 1));

    let (items, total) = store.list_users("k\\s", 10, 0).await.expect("backslash");
    assert_eq!((emails(items), total), (vec!["back\\slash@example.com".to_string()], 1));
}

pub async fn list_users_paginates_with_total(store: DynStore) {
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(
            store
                .create_user(new_user(&format!("page{i:02}@example.com"), "Paged"))
                .await
                .expect("c")
                .id,
        );
    }
    for i in 0..5 {
        store.create_user(new_user(&format!("other{i}@example.org"), "Other")).await.expect("c");
    }
    let mut seen = Vec::new();
    for (offset, expected_len) in [(0, 10), (10, 10), (20, 5), (30, 0)] {
        let (items, total) = store.list_users("page", 10, offset).await.expect("page");
        assert_eq!(total, 25, "total counts every match, not just the page");
        assert_eq!(items.len(), expected_len, "page at offset {offset}");
        seen.extend(items.into_iter().map(|u| u.id));
    }
    // Newest first, no overlap, nothing missing.
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
    let (items, total) = store.list_users("", 7, 0).await.expect("all");
    assert_eq!((items.len(), total), (7, 30));
}

pub async fn set_user_scopes_writes_audit_entry_in_same_call(store: DynStore) {
    user(&store, "admin@example.com").await;
    let target = user(&store, "member@example.com").await;
    assert_eq!(store.list_audit(10, 0).await.expect("audit").1, 0);

    let wanted = Scopes::new([Scope::Basic, Scope::Admin]);
    let updated = store
        .set_user_scopes(target, &wanted, audit("user.scopes_changed", &format!("user:{target}")))
        .await
        .expect("set scopes");
    assert_eq!(updated.scopes, wanted);
    assert_eq!(store.get_user(target).await.expect("get").user.scopes, wanted);

    let (entries, total) = store.list_audit(10, 0).await.expect("audit");
    assert_eq!(total, 1);
    assert_eq!(entries[0].action, "user.scopes_changed");
    assert_eq!(entries[0].target, format!("user:{target}"));
    assert_eq!(entries[0].actor_id, Some(1));
    assert_eq!(entries[0].actor_email.as_deref(), Some("admin@example.com"));
    assert_eq!(entries[0].detail, r#"{"k":"v"}"#);
}

pub async fn set_user_scopes_on_missing_user_is_not_found_and_writes_no_audit(store: DynStore) {
    let result =
        store.set_user_scopes(999, &Scopes::all(), audit("user.scopes_changed", "user:999")).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "got {result:?}");
    let result = store.set_user_active(999, false, audit("user.deactivated", "user:999")).await;
    assert!(matches!(result, Err(StoreError::NotFound)), "got {result:?}");
    assert_eq!(
        store.list_audit(10, 0).await.expect("audit").1,
        0,
        "a failed change must not be audited"
    );
}

pub async fn deactivating_user_revokes_refresh_tokens_and_audits(store: DynStore) {
    let victim = user(&store, "victim@example.com").await;
    let bystander = user(&store, "bystander@example.com").await;
    store.insert_refresh_token(refresh("v1", "fam-a", victim)).await.expect("insert");
    store.insert_refresh_token(refresh("v2", "fam-b", victim)).await.expect("insert");
    store.insert_refresh_token(refresh("b1", "fam-c", bystander)).await.expect("insert");

    let a = audit("user.deactivated", &format!("user:{victim}"));
    let at = a.at;
    let updated = store.set_user_active(victim, false, a).await.expect("deactivate");
    assert!(!updated.active);
    assert!(!store.get_user(victim).await.expect("get").user.active);
    for hash in ["v1", "v2"] {
        assert_eq!(
            store.get_refresh_token(hash).await.expect("get").revoked_at,
            Some(at),
            "{hash}"
        );
    }
    assert_eq!(store.get_refresh_token("b1").await.expect("get").revoked_at, None);
    let (entries, total) = store.list_audit(10, 0).await.expect("audit");
    assert_eq!(total, 1);
    assert_eq!(entries[0].action, "user.deactivated");

    // Reactivating restores the account but not the revoked sessions.
    let back =
        store.set_user_active(victim, true, audit("user.activated", "x")).await.expect("activate");
    assert!(back.active);
    assert_eq!(store.get_refresh_token("v1").await.expect("get").revoked_at, Some(at));
    assert_eq!(store.list_audit(10, 0).await.expect("audit").1, 2);
}

pub async fn set_user_password_replaces_hash_and_revokes_refresh_tokens(store: DynStore) {
    let id = user(&store, "pw@example.com").await;
    store.insert_refresh_token(refresh("p1", "fam", id)).await.expect("insert");
    let at = now();
    store.set_user_password(id, "new-hash", at).await.expect("set password");
    assert_eq!(store.get_user(id).await.expect("get").password_hash, "new-hash");
    assert_eq!(store.get_refresh_token("p1").await.expect("get").revoked_at, Some(at));
    assert!(matches!(store.set_user_password(999, "h", at).await, Err(StoreError::NotFound)));
}

pub async fn refresh_token_round_trips(store: DynStore) {
    let id = user(&store, "rt@example.com").await;
    let record = refresh("hash-1", "family-1", id);
    store.insert_refresh_token(record.clone()).await.expect("insert");
    assert_eq!(store.get_refresh_token("hash-1").await.expect("get"), record);
    assert!(matches!(store.get_refresh_token("nope").await, Err(StoreError::NotFound)));
    let dup = store.insert_refresh_token(record).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "got {dup:?}");
    let orphan = store.insert_refresh_token(refresh("hash-2", "family-1", 999)).await;
    assert!(
        matches!(orphan, Err(StoreError::Conflict { .. })),
        "unknown user must be refused, got {orphan:?}"
    );
}

pub async fn rotate_refresh_token_succeeds_once(store: DynStore) {
    let id = user(&store, "rotate@example.com").await;
    store.insert_refresh_token(refresh("t1", "fam", id)).await.expect("insert");

    let at = now();
    assert!(store.rotate_refresh_token("t1", at, refresh("t2", "fam", id)).await.expect("rotate"));
    assert_eq!(store.get_refresh_token("t1").await.expect("t1").used_at, Some(at));
    let t2 = store.get_refresh_token("t2").await.expect("successor stored");
    assert_eq!((t2.family_id.as_str(), t2.used_at, t2.revoked_at), ("fam", None, None));

    // The same token again: refused, and its would-be successor is not stored.
    assert!(
        !store
            .rotate_refresh_token("t1", now(), refresh("t3", "fam", id))
            .await
            .expect("rotate again")
    );
    assert!(matches!(store.get_refresh_token("t3").await, Err(StoreError::NotFound)));
    assert_eq!(
        store.get_refresh_token("t1").await.expect("t1").used_at,
        Some(at),
        "first use time is kept"
    );

    // An unknown token rotates nothing either.
    assert!(
        !store
            .rotate_refresh_token("unknown", now(), refresh("t4", "fam", id))
            .await
            .expect("rotate")
    );
    assert!(matches!(store.get_refresh_token("t4").await, Err(StoreError::NotFound)));

    // The successor rotates normally.
    assert!(
        store.rotate_refresh_token("t2", now(), refresh("t5", "fam", id)).await.expect("rotate t2")
    );
}

pub async fn rotate_revoked_refresh_token_fails(store: DynStore) {
    let id = user(&store, "revoked@example.com").await;
    store.insert_refresh_token(refresh("r1", "fam", id)).await.expect("insert");
    assert_eq!(store.revoke_refresh_family("fam", now()).await.expect("revoke"), 1);
    assert!(
        !store.rotate_refresh_token("r1", now(), refresh("r2", "fam", id)).await.expect("rotate")
    );
    assert!(matches!(store.get_refresh_token("r2").await, Err(StoreError::NotFound)));
    assert_eq!(store.get_refresh_token("r1").await.expect("r1").used_at, None);
}

pub async fn revoke_refresh_family_revokes_only_that_family(store: DynStore) {
    let id = user(&store, "family@example.com").await;
    store.insert_refresh_token(refresh("a1", "fam-a", id)).await.expect("insert");
    store.insert_refresh_token(refresh("a2", "fam-a", id)).await.expect("insert");
    store.insert_refresh_token(refresh("b1", "fam-b", id)).await.expect("insert");

    let at = now();
    assert_eq!(store.revoke_refresh_family("fam-a", at).await.expect("revoke"), 2);
    assert_eq!(store.get_refresh_token("a1").await.expect("a1").revoked_at, Some(at));
    assert_eq!(store.get_refresh_token("a2").await.expect("a2").revoked_at, Some(at));
    assert_eq!(store.get_refresh_token("b1").await.expect("b1").revoked_at, None);
    // Already revoked: nothing more to revoke, and the first revocation time stays.
    assert_eq!(
        store.revoke_refresh_family("fam-a", now() + Duration::seconds(5)).await.expect("again"),
        0
    );
    assert_eq!(store.get_refresh_token("a1").await.expect("a1").revoked_at, Some(at));
    assert_eq!(store.revoke_refresh_family("no-such-family", now()).await.expect("none"), 0);
}

pub async fn api_token_insert_list_get_and_touch(store: DynStore) {
    let owner = user(&store, "owner@example.com").await;
    let other = user(&store, "other@example.com").await;
    let row = api_token(owner, "ci", "h-ci");
    let (created_at, expires_at) = (row.created_at, row.expires_at);
    let first = store.insert_api_token(row).await.expect("insert");
    assert_eq!(first.name, "ci");
    assert_eq!(first.scopes, Scopes::new([Scope::Basic]));
    assert_eq!((first.created_at, first.expires_at), (created_at, expires_at));
    assert_eq!((first.last_used_at, first.revoked_at), (None, None));
    let second =
        store.insert_api_token(api_token(owner, "laptop", "h-laptop")).await.expect("insert");
    store.insert_api_token(api_token(other, "theirs", "h-theirs")).await.expect("insert");

    let listed = store.list_api_tokens(owner).await.expect("list");
    assert_eq!(listed, vec![second.clone(), first.clone()], "own tokens only, newest first");

    let found = store.get_api_token_by_hash("h-ci").await.expect("by hash");
    assert_eq!((found.user_id, found.info.clone()), (owner, first.clone()));
    assert!(matches!(store.get_api_token_by_hash("h-unknown").await, Err(StoreError::NotFound)));

    let dup = store.insert_api_token(api_token(other, "dup", "h-ci")).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "got {dup:?}");

    let at = now();
    store.touch_api_token(first.id, at).await.expect("touch");
    assert_eq!(
        store.get_api_token_by_hash("h-ci").await.expect("by hash").info.last_used_at,
        Some(at)
    );
}

pub async fn api_token_revoke_own_and_not_others(store: DynStore) {
    let owner = user(&store, "owner@example.com").await;
    let intruder = user(&store, "intruder@example.com").await;
    let token = store.insert_api_token(api_token(owner, "ci", "h-ci")).await.expect("insert");

    let stolen = store.revoke_api_token(intruder, token.id, now()).await;
    assert!(
        matches!(stolen, Err(StoreError::NotFound)),
        "revoking another user's token: {stolen:?}"
    );
    assert_eq!(store.get_api_token_by_hash("h-ci").await.expect("get").info.revoked_at, None);
    assert!(matches!(store.revoke_api_token(owner, 9999, now()).await, Err(StoreError::NotFound)));

    let at = now();
    store.revoke_api_token(owner, token.id, at).await.expect("revoke own");
    assert_eq!(store.get_api_token_by_hash("h-ci").await.expect("get").info.revoked_at, Some(at));
    // Revoking twice is fine and keeps the first time.
    store.revoke_api_token(owner, token.id, at + Duration::seconds(5)).await.expect("revoke again");
    assert_eq!(store.get_api_token_by_hash("h-ci").await.expect("get").info.revoked_at, Some(at));
}

pub async fn audit_list_is_newest_first_with_total(store: DynStore) {
    for i in 0..5 {
        let mut entry = audit(&format!("action.{i}"), &format!("user:{i}"));
        entry.actor_id = None;
        entry.actor_email = None;
        store.insert_audit(entry).await.expect("insert");
    }
    let (entries, total) = store.list_audit(2, 0).await.expect("page 1");
    assert_eq!(total, 5);
    assert_eq!(
        entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["action.4", "action.3"]
    );
    assert!(entries[0].id > entries[1].id);
    assert_eq!((entries[0].actor_id, entries[0].actor_email.as_deref()), (None, None));

    let (entries, total) = store.list_audit(2, 4).await.expect("last page");
    assert_eq!(total, 5);
    assert_eq!(entries.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["action.0"]);
}

pub async fn get_or_init_secret_first_writer_wins(store: DynStore) {
    let at = now();
    assert_eq!(store.get_or_init_secret("jwt", "first", at).await.expect("init"), "first");
    assert_eq!(store.get_or_init_secret("jwt", "second", at).await.expect("again"), "first");
    assert_eq!(store.get_or_init_secret("other", "mine", at).await.expect("other"), "mine");
}

pub async fn concurrent_get_or_init_secret_agree(store: DynStore) {
    const N: usize = 10;
    let barrier = Arc::new(Barrier::new(N));
    let mut tasks = Vec::new();
    for i in 0..N {
        let store = store.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.get_or_init_secret("shared", &format!("candidate-{i}"), now()).await
        }));
    }
    let mut values = HashSet::new();
    for task in tasks {
        values.insert(task.await.expect("task").expect("get_or_init_secret"));
    }
    assert_eq!(values.len(), 1, "every instance must end up with the same secret: {values:?}");
}
