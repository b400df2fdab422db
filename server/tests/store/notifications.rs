//! The contract of notification persistence: newest first with total and unread counts, read
//! marks only by their owner, retention, and who counts as an active admin.

use chrono::{DateTime, Duration, Utc};
use domain::store::{DynStore, NewAuditEntry, NewNotification, NewUserRow, StoreError};
use model::{Scope, Scopes};

async fn user(store: &DynStore, email: &str, scopes: Scopes) -> i64 {
    store
        .create_user(NewUserRow {
            email: email.into(),
            display_name: "Someone".into(),
            password_hash: "hash".into(),
            scopes,
            first_user_scopes: None,
            created_at: Utc::now(),
        })
        .await
        .unwrap()
        .id
}

fn basic() -> Scopes {
    Scopes::new([Scope::Basic])
}

fn note(user_id: i64, title: &str, at: DateTime<Utc>) -> NewNotification {
    NewNotification {
        user_id,
        kind: "budget_alert".into(),
        title: title.into(),
        body: format!("{title} body"),
        link: Some("/usage".into()),
        created_at: at,
    }
}

fn audit() -> NewAuditEntry {
    NewAuditEntry {
        at: Utc::now(),
        actor_id: None,
        actor_email: None,
        action: "user.update".into(),
        target: "test".into(),
        detail: "{}".into(),
    }
}

pub async fn notifications_list_newest_first_with_total_and_unread(store: DynStore) {
    let ann = user(&store, "ann@example.com", basic()).await;
    let bob = user(&store, "bob@example.com", basic()).await;
    let t0 = Utc::now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let n = store
            .insert_notification(&note(ann, &format!("n{i}"), t0 + Duration::seconds(i)))
            .await
            .unwrap();
        assert_eq!(
            (n.title.clone(), n.link.as_deref(), n.read_at),
            (format!("n{i}"), Some("/usage"), None)
        );
        assert_eq!(n.created_at.timestamp_millis(), (t0 + Duration::seconds(i)).timestamp_millis());
        ids.push(n.id);
    }
    store.insert_notification(&note(bob, "bob's", t0)).await.unwrap();

    let page = store.list_notifications(ann, 2, 0).await.unwrap();
    assert_eq!((page.total, page.unread), (5, 5));
    assert_eq!(page.items.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(), ["n4", "n3"]);
    let page = store.list_notifications(ann, 2, 4).await.unwrap();
    assert_eq!(page.items.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(), ["n0"]);
    assert_eq!(page.items[0].body, "n0 body");

    store.mark_notification_read(ann, ids[1], Utc::now()).await.unwrap();
    let page = store.list_notifications(ann, 10, 0).await.unwrap();
    assert_eq!((page.total, page.unread), (5, 4));
    assert_eq!(store.count_unread_notifications(ann).await.unwrap(), 4);
    assert!(page.items.iter().find(|n| n.id == ids[1]).unwrap().read_at.is_some());

    let empty = store
        .list_notifications(user(&store, "cy@example.com", basic()).await, 10, 0)
        .await
        .unwrap();
    assert_eq!((empty.items.len(), empty.total, empty.unread), (0, 0, 0));
}

pub async fn notifications_are_marked_read_only_by_their_owner(store: DynStore) {
    let ann = user(&store, "ann@example.com", basic()).await;
    let bob = user(&store, "bob@example.com", basic()).await;
    let n = store.insert_notification(&note(ann, "mine", Utc::now())).await.unwrap();
    store.insert_notification(&note(bob, "bob's", Utc::now())).await.unwrap();

    let err = store.mark_notification_read(bob, n.id, Utc::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let err = store.mark_notification_read(ann, n.id + 1000, Utc::now()).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    assert_eq!(store.count_unread_notifications(ann).await.unwrap(), 1);

    let first = Utc::now() - Duration::minutes(5);
    store.mark_notification_read(ann, n.id, first).await.unwrap();
    store.mark_notification_read(ann, n.id, Utc::now()).await.unwrap();
    let read_at = store.list_notifications(ann, 1, 0).await.unwrap().items[0].read_at.unwrap();
    assert_eq!(
        read_at.timestamp_millis(),
        first.timestamp_millis(),
        "a second mark keeps the first"
    );

    // Mark all: only the caller's unread ones, counted.
    store.insert_notification(&note(ann, "two", Utc::now())).await.unwrap();
    store.insert_notification(&note(ann, "three", Utc::now())).await.unwrap();
    assert_eq!(store.mark_all_notifications_read(ann, Utc::now()).await.unwrap(), 2);
    assert_eq!(store.mark_all_notifications_read(ann, Utc::now()).await.unwrap(), 0);
    assert_eq!(store.count_unread_notifications(ann).await.unwrap(), 0);
    assert_eq!(store.count_unread_notifications(bob).await.unwrap(), 1);
}

pub async fn old_notifications_are_purged_read_or_not(store: DynStore) {
    let ann = user(&store, "ann@example.com", basic()).await;
    let now = Utc::now();
    let old =
        store.insert_notification(&note(ann, "old", now - Duration::days(100))).await.unwrap();
    store.insert_notification(&note(ann, "old unread", now - Duration::days(91))).await.unwrap();
    store.insert_notification(&note(ann, "recent", now - Duration::days(89))).await.unwrap();
    store.mark_notification_read(ann, old.id, now).await.unwrap();

    assert_eq!(store.purge_notifications(now - Duration::days(90)).await.unwrap(), 2);
    let page = store.list_notifications(ann, 10, 0).await.unwrap();
    assert_eq!(page.items.iter().map(|n| n.title.as_str()).collect::<Vec<_>>(), ["recent"]);
    assert_eq!(store.purge_notifications(now - Duration::days(90)).await.unwrap(), 0);
}

pub async fn active_admins_are_the_active_users_with_the_admin_scope(store: DynStore) {
    let admin = user(&store, "admin@example.com", Scopes::all()).await;
    user(&store, "member@example.com", basic()).await;
    let only_admin = user(&store, "root@example.com", Scopes::new([Scope::Admin])).await;
    let retired = user(&store, "retired@example.com", Scopes::all()).await;
    store.set_user_active(retired, false, audit()).await.unwrap();

    let admins = store.list_active_admins().await.unwrap();
    assert_eq!(admins.iter().map(|u| u.id).collect::<Vec<_>>(), [admin, only_admin]);
    assert!(admins.iter().all(|u| u.active && u.scopes.contains(Scope::Admin)));

    store.set_user_scopes(admin, &basic(), audit()).await.unwrap();
    let admins = store.list_active_admins().await.unwrap();
    assert_eq!(admins.iter().map(|u| u.id).collect::<Vec<_>>(), [only_admin]);
}
