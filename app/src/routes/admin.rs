//! `/admin`: find users, change their scopes, deactivate them; read the audit log.

use crate::api::admin::{SetUserActive, SetUserScopes, list_audit, list_users};
use crate::api::usage::SetBudget;
use crate::components::form::FieldError;
use crate::components::form::{ErrorBanner, LoadError};
use crate::components::session::use_session;
use crate::components::shell::{AdminTabs, scope_refused};
use crate::components::table::Pager;
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
            return scope_refused("Admin", Scope::Admin);
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
        view! {
            <Title text="Admin" />
            <section class="page">
                <h1>"Admin"</h1>
                <AdminTabs current="/admin" />
                <div class="card">
                    <h2>"Users"</h2>
                    <input id="user-search" type="search" placeholder="Search by e-mail or name" on:input=on_search aria-label="Search users" />
                    <ErrorBanner error=action_error />
                    <Transition fallback=|| view! { <p class="loading">"Loading users…"</p> }>
                        {move || Suspend::new(async move {
                            match users.await {
                                Ok(page) => {
                                    let total = page.total;
                                    let rows = page.items.into_iter().map(|u| view! { <UserRow user=u me set_scopes set_active /> }).collect_view();
                                    view! {
                                        <table class="table" id="users-table">
                                            <thead><tr><th>"User"</th><th>"Scopes"</th><th>"Status"</th><th>"Last sign-in"</th></tr></thead>
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
                    <h2>"Audit log"</h2>
                    <Transition fallback=|| view! { <p class="loading">"Loading audit log…"</p> }>
                        {move || Suspend::new(async move {
                            match audit.await {
                                Ok(page) => {
                                    let total = page.total;
                                    view! {
                                        <table class="table" id="audit-table">
                                            <thead><tr><th>"When"</th><th>"Who"</th><th>"Action"</th><th>"Target"</th><th>"Details"</th></tr></thead>
                                            <tbody>
                                                {page.items.into_iter().map(|a| view! {
                                                    <tr>
                                                        <td>{a.at.format("%Y-%m-%d %H:%M:%S").to_string()}</td>
                                                        <td>{a.actor_email.unwrap_or_default()}</td>
                                                        <td><code>{a.action}</code></td>
                                                        <td>{a.target}</td>
                                                        <td><code>{a.detail}</code></td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table>
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
    let active = user.active;
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
                {if active { "active" } else { "deactivated" }}
                " "
                <button
                    type="button"
                    class="btn btn-small"
                    disabled=id == me
                    on:click=move |_| { set_active.dispatch(SetUserActive { user_id: id, active: !active }); }
                >
                    {if active { "Deactivate" } else { "Activate" }}
                </button>
            </td>
            <td>{user.last_login_at.map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_else(|| "never".into())}</td>
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
    view! {
        <div class="card" id="budget-form">
            <h2>"Budgets"</h2>
            <p class="muted">"Set one user's budget, or leave the e-mail empty for the team's. Every change needs a reason and is audited."</p>
            <form class="inline-form" on:submit=submit>
                <label for="budget-email">"User e-mail"</label>
                <input id="budget-email" type="email" placeholder="everyone (team budget)" bind:value=email />
                <label for="budget-limit">"Limit (USD)"</label>
                <input id="budget-limit" type="number" min="0" step="0.01" bind:value=limit />
                <label for="budget-period">"Period"</label>
                <select id="budget-period" on:change=move |ev| period.set(event_target_value(&ev)) prop:value=move || period.get()>
                    <option value="daily">"daily"</option>
                    <option value="weekly">"weekly"</option>
                    <option value="monthly">"monthly"</option>
                </select>
                <label for="budget-reason">"Reason"</label>
                <input id="budget-reason" type="text" bind:value=reason />
                <button type="submit" class="btn btn-primary" disabled=move || set_budget.pending().get()>"Save budget"</button>
            </form>
            <FieldError error field="user_email" />
            <FieldError error field="limit_usd" />
            <FieldError error field="reason" />
            <ErrorBanner error />
            {move || saved().map(|b| view! {
                <p class="banner banner-ok" role="status" id="budget-saved">
                    {format!("Saved: {} {} budget {} (resets {})", b.budget, b.period, model::usd(b.limit_nanos), b.resets_at.format("%Y-%m-%d %H:%M UTC"))}
                </p>
            })}
        </div>
    }
}
