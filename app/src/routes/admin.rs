//! `/admin`: find users, change their scopes, deactivate them; read the audit log.

use crate::api::admin::{SetUserActive, SetUserScopes, list_audit, list_users};
use crate::api::usage::SetBudget;
use crate::components::form::FieldError;
use crate::components::form::{ErrorBanner, FormGate, LoadError};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::components::table::Pager;
use crate::i18n::td_string;
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{AuditEntry, Page, Scope, User};
use std::time::Duration;

const PAGE: i64 = 20;

/// The admin page.
pub struct AdminRoute;

/// What the page reads and changes. It is made inside `view()`, not `data()`, so that its
/// resources and actions ship in the page's own WASM chunk, not in the main module.
struct AdminData {
    query: RwSignal<String>,
    offset: RwSignal<i64>,
    audit_offset: RwSignal<i64>,
    users: Resource<Result<Page<User>, AppError>>,
    audit: Resource<Result<Page<AuditEntry>, AppError>>,
    set_scopes: ServerAction<SetUserScopes>,
    set_active: ServerAction<SetUserActive>,
    set_budget: ServerAction<SetBudget>,
}

impl AdminData {
    fn load() -> Self {
        let query = RwSignal::new(String::new());
        let offset = RwSignal::new(0i64);
        let audit_offset = RwSignal::new(0i64);
        let set_scopes = ServerAction::<SetUserScopes>::new();
        let set_active = ServerAction::<SetUserActive>::new();
        let set_budget = ServerAction::<SetBudget>::new();
        let users = Resource::new(
            move || {
                (query.get(), offset.get(), set_scopes.version().get(), set_active.version().get())
            },
            |(q, o, _, _)| list_users(q, PAGE, o),
        );
        let audit = Resource::new(
            move || {
                (
                    audit_offset.get(),
                    set_scopes.version().get(),
                    set_active.version().get(),
                    set_budget.version().get(),
                )
            },
            |(o, _, _, _)| list_audit(PAGE, o),
        );
        AdminData { query, offset, audit_offset, users, audit, set_scopes, set_active, set_budget }
    }
}

#[lazy_route]
impl LazyRoute for AdminRoute {
    fn data() -> Self {
        AdminRoute
    }

    fn view(_this: Self) -> AnyView {
        // Checked first: a member gets the refusal without firing requests they may not make.
        let session = use_session();
        if !session.has(Scope::Admin) {
            return scope_refused(|l| td_string!(l, admin.title), Scope::Admin);
        }
        let path = leptos_router::hooks::use_location().pathname.get_untracked();
        if path.trim_end_matches('/').ends_with("/admin/templates") {
            return super::rfc_templates::templates_admin();
        }
        let this = AdminData::load();
        let AdminData {
            query,
            offset,
            audit_offset,
            users,
            audit,
            set_scopes,
            set_active,
            set_budget,
        } = this;
        let me = session.current().map(|u| u.id).unwrap_or_default();
        let ticket = StoredValue::new(0u32);
        let on_search = move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            ticket.update_value(|t| *t += 1);
            let mine = ticket.get_value();
            set_timeout(
                move || {
                    if ticket.get_value() == mine {
                        offset.set(0);
                        query.set(value);
                    }
                },
                Duration::from_millis(250),
            );
        };
        let action_error = Signal::derive(move || {
            set_scopes
                .value()
                .get()
                .and_then(Result::err)
                .or_else(|| set_active.value().get().and_then(Result::err))
        });
        let lang = crate::l10n::use_lang();
        view! {
            <Title text=td_string!(lang, admin.title) />
            <section class="page">
                <h1>{td_string!(lang, admin.title)}</h1>
                <AdminTabs current="/admin" />
                <div class="card">
                    <h2>{td_string!(lang, admin.users)}</h2>
                    <input id="user-search" type="search" placeholder=td_string!(lang, admin.search_placeholder) on:input=on_search aria-label=td_string!(lang, admin.search_users) />
                    <ErrorBanner error=action_error />
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, admin.loading_users)}</p> }>
                        {move || Suspend::new(async move {
                            match users.await {
                                Ok(page) => {
                                    let total = page.total;
                                    let rows = page.items.into_iter().map(|u| view! { <UserRow user=u me set_scopes set_active /> }).collect_view();
                                    view! {
                                        <table class="table" id="users-table">
                                            <thead><tr>
                                                <th>{td_string!(lang, admin.user)}</th>
                                                <th>{td_string!(lang, admin.scopes)}</th>
                                                <th>{td_string!(lang, admin.status)}</th>
                                                <th>{td_string!(lang, admin.last_sign_in)}</th>
                                            </tr></thead>
                                            <tbody>{rows}</tbody>
                                        </table>
                                        <Pager offset total page=PAGE />
                                    }.into_any()
                                }
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
                <BudgetForm set_budget />
                <div class="card">
                    <h2>{td_string!(lang, admin.audit)}</h2>
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, admin.loading_audit)}</p> }>
                        {move || Suspend::new(async move {
                            match audit.await {
                                Ok(page) => {
                                    let total = page.total;
                                    view! {
                                        <div class="table-scroll">
                                        <table class="table" id="audit-table">
                                            <thead><tr>
                                                <th>{td_string!(lang, admin.when)}</th>
                                                <th>{td_string!(lang, admin.who)}</th>
                                                <th>{td_string!(lang, admin.action)}</th>
                                                <th>{td_string!(lang, admin.target)}</th>
                                                <th>{td_string!(lang, admin.details)}</th>
                                            </tr></thead>
                                            <tbody>
                                                {page.items.into_iter().map(|a| {
                                                    let at = a.at;
                                                    view! {
                                                        <tr>
                                                            <td class="nowrap">{move || l10n::date_time(lang, at)}</td>
                                                            <td>{a.actor_email.unwrap_or_default()}</td>
                                                            <td><code>{a.action}</code></td>
                                                            <td>{a.target}</td>
                                                            <td class="detail-cell"><code>{a.detail}</code></td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table>
                                        </div>
                                        <Pager offset=audit_offset total page=PAGE />
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
fn UserRow(
    user: User,
    me: i64,
    set_scopes: ServerAction<SetUserScopes>,
    set_active: ServerAction<SetUserActive>,
) -> impl IntoView {
    let id = user.id;
    let lang = crate::l10n::use_lang();
    let active = user.active;
    let last_login = user.last_login_at;
    let scopes = user.scopes.clone();
    let boxes = Scope::ALL
        .into_iter()
        .map(|scope| {
            let current = scopes.clone();
            let toggle = move |_| {
                let mut next: Vec<String> = current.iter().filter(|s| *s != scope).map(|s| s.as_str().to_string()).collect();
                if !current.contains(scope) {
                    next.push(scope.as_str().to_string());
                }
                set_scopes.dispatch(SetUserScopes { user_id: id, scopes: next });
            };
            view! {
                <label class="scope">
                    <input type="checkbox" checked=scopes.contains(scope) on:change=toggle data-scope=scope.as_str() />
                    {scope.as_str()}
                </label>
            }
        })
        .collect_view();
    view! {
        <tr data-user-email=user.email.clone()>
            <td>
                <strong>{user.display_name.clone()}</strong>
                <br />
                <span class="muted">{user.email.clone()}</span>
            </td>
            <td>{boxes}</td>
            <td>
                {move || if active { td_string!(lang, admin.active) } else { td_string!(lang, admin.deactivated) }}
                " "
                <button
                    type="button"
                    class="btn btn-small"
                    disabled=id == me
                    on:click=move |_| { set_active.dispatch(SetUserActive { user_id: id, active: !active }); }
                >
                    {move || if active { td_string!(lang, admin.deactivate) } else { td_string!(lang, admin.activate) }}
                </button>
            </td>
            <td>{move || last_login.map(|d| l10n::date_time(lang, d)).unwrap_or_else(|| td_string!(lang, admin.never).to_string())}</td>
        </tr>
    }
}

/// Sets a user's budget (by e-mail) or the team's (no e-mail), with a reason.
#[component]
fn BudgetForm(set_budget: ServerAction<SetBudget>) -> impl IntoView {
    let email = RwSignal::new(String::new());
    let limit = RwSignal::new(String::from("10"));
    let period = RwSignal::new(String::from("monthly"));
    let reason = RwSignal::new(String::new());
    let error = Signal::derive(move || set_budget.value().get().and_then(Result::err));
    let saved = move || set_budget.value().get().and_then(Result::ok);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let email = email.get_untracked();
        set_budget.dispatch(SetBudget {
            user_email: (!email.trim().is_empty()).then_some(email),
            limit_usd: limit.get_untracked().trim().parse().unwrap_or(-1.0),
            period: period.get_untracked(),
            reason: reason.get_untracked(),
        });
    };
    let lang = crate::l10n::use_lang();
    view! {
        <div class="card" id="budget-form">
            <h2>{td_string!(lang, admin.budgets)}</h2>
            <p class="muted">{td_string!(lang, admin.budgets_text)}</p>
            <form method="post" class="inline-form" on:submit=submit><FormGate>
                <label for="budget-email">{td_string!(lang, admin.user_email)}</label>
                <input id="budget-email" type="email" placeholder=td_string!(lang, admin.everyone_placeholder) bind:value=email />
                <label for="budget-limit">{td_string!(lang, admin.limit)}</label>
                <input id="budget-limit" type="number" min="0" step="0.01" bind:value=limit />
                <label for="budget-period">{td_string!(lang, admin.period)}</label>
                <select id="budget-period" on:change=move |ev| period.set(event_target_value(&ev)) prop:value=move || period.get()>
                    <option value="daily">{td_string!(lang, usage.daily)}</option>
                    <option value="weekly">{td_string!(lang, usage.weekly)}</option>
                    <option value="monthly">{td_string!(lang, usage.monthly)}</option>
                </select>
                <label for="budget-reason">{td_string!(lang, admin.reason)}</label>
                <input id="budget-reason" type="text" bind:value=reason />
                <button type="submit" class="btn btn-primary" disabled=move || set_budget.pending().get()>{td_string!(lang, admin.save_budget)}</button>
            </FormGate></form>
            <FieldError error field="user_email" />
            <FieldError error field="limit_usd" />
            <FieldError error field="reason" />
            <ErrorBanner error />
            {move || saved().map(|b| {
                let l = lang;
                let text = td_string!(lang,
                    admin.saved,
                    budget = b.budget.to_string(),
                    period = l10n::period_words(l, &b.period),
                    amount = l10n::usd(l, b.limit_nanos),
                    at = l10n::date_time(l, b.resets_at)
                );
                view! { <p class="banner banner-ok" role="status" id="budget-saved">{text}</p> }
            })}
        </div>
    }
}
