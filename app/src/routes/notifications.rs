//! `/notifications`: the user's notifications, newest first. Unread ones stand out and are
//! marked read one by one or all at once; new ones appear live (topic `notification`).

use crate::api::notifications::{
    MarkAllNotificationsRead, MarkNotificationRead, list_notifications,
};
use crate::components::form::{ErrorBanner, LoadError};
use crate::components::live::use_live_events;
use crate::components::table::Pager;
use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{LiveTopic, Notification, NotificationPage};

const PAGE: i64 = 20;

/// The notifications page.
pub struct NotificationsRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct NotificationsData {
    page: Resource<Result<NotificationPage, AppError>>,
    offset: RwSignal<i64>,
    reload: RwSignal<u32>,
    mark: ServerAction<MarkNotificationRead>,
    mark_all: ServerAction<MarkAllNotificationsRead>,
}

impl NotificationsData {
    fn load() -> Self {
        let offset = RwSignal::new(0i64);
        let reload = RwSignal::new(0u32);
        let mark = ServerAction::<MarkNotificationRead>::new();
        let mark_all = ServerAction::<MarkAllNotificationsRead>::new();
        let page = Resource::new(
            move || (offset.get(), reload.get(), mark.version().get(), mark_all.version().get()),
            |(offset, _, _, _)| list_notifications(PAGE, offset),
        );
        NotificationsData { page, offset, reload, mark, mark_all }
    }
}

#[lazy_route]
impl LazyRoute for NotificationsRoute {
    fn data() -> Self {
        NotificationsRoute
    }

    fn view(_this: Self) -> AnyView {
        let this = NotificationsData::load();
        let NotificationsData { page, offset, reload, mark, mark_all } = this;
        let live = use_live_events();
        Effect::new(move |_| {
            if live.latest.get().is_some_and(|e| e.topic == LiveTopic::Notification.as_str()) {
                reload.update(|r| *r += 1);
            }
        });
        let error = Signal::derive(move || {
            mark.value()
                .get()
                .and_then(Result::err)
                .or_else(|| mark_all.value().get().and_then(Result::err))
        });
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, notifications.title) />
            <section class="page">
                <div class="card-head">
                    <h1>{td_string!(lang, notifications.title)}</h1>
                    <button
                        type="button"
                        class="btn btn-small"
                        id="mark-all-read"
                        disabled=move || mark_all.pending().get()
                        on:click=move |_| {
                            mark_all.dispatch(MarkAllNotificationsRead {});
                        }
                    >
                        {td_string!(lang, notifications.mark_all)}
                    </button>
                </div>
                <ErrorBanner error />
                <div class="card">
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, notifications.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match page.await {
                                Ok(p) if p.items.is_empty() => view! { <p class="muted">{td_string!(lang, notifications.none)}</p> }.into_any(),
                                Ok(p) => {
                                    let total = p.total;
                                    let unread = p.unread;
                                    view! {
                                        <p class="muted" id="unread-count">{move || td_string!(lang, notifications.unread, count = crate::l10n::number(lang, unread))}</p>
                                        <ul class="notifications" id="notifications">
                                            {p.items.into_iter().map(|n| view! { <NotificationItem notification=n mark /> }).collect_view()}
                                        </ul>
                                        <Pager offset total page=PAGE />
                                    }.into_any()
                                }
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </section>
        }
        .into_any()
    }
}

#[component]
fn NotificationItem(
    notification: Notification,
    mark: ServerAction<MarkNotificationRead>,
) -> impl IntoView {
    let id = notification.id;
    let lang = crate::l10n::use_lang();
    let created = notification.created_at;
    let unread = notification.read_at.is_none();
    view! {
        <li class="notification" data-notification-id=id.to_string() data-unread=unread.to_string()>
            <div class="card-head">
                <strong>{notification.title.clone()}</strong>
                <span class="muted">{move || l10n::date_time(lang, created)}</span>
            </div>
            <p>{notification.body.clone()}</p>
            <div class="notification-actions">
                {notification.link.clone().map(|href| view! { <a href=href>{td_string!(lang, notifications.open)}</a> })}
                {unread.then(|| view! {
                    <button type="button" class="link" on:click=move |_| { mark.dispatch(MarkNotificationRead { id }); }>
                        {td_string!(lang, notifications.mark_read)}
                    </button>
                })}
            </div>
        </li>
    }
}
