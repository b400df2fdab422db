//! `/`: where a signed-in user lands.

use crate::components::session::use_session;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::{LazyRoute, lazy_route};

/// The dashboard.
pub struct DashboardRoute;

#[lazy_route]
impl LazyRoute for DashboardRoute {
    fn data() -> Self {
        DashboardRoute
    }

    fn view(_this: Self) -> AnyView {
        let session = use_session();
        let name = move || session.current().map(|u| u.display_name).unwrap_or_default();
        // `true`: the area works today; `false`: it is on its way (an honest placeholder page).
        let areas = [
            ("/search", "Search", "Find what the team already wrote.", true),
            (
                "/sources",
                "Sources",
                "Upload files; admins connect Confluence, Jira and GitLab.",
                true,
            ),
            ("/usage", "Usage & Budget", "See model spend against your budget.", true),
            ("/jobs", "Jobs", "Follow syncs and other background work.", true),
            ("/rfcs", "RFCs", "Draft RFCs grounded in your knowledge.", false),
            ("/code-docs", "Code Docs", "Generate docs from code.", false),
        ];
        view! {
            <Title text="Dashboard" />
            <section class="page">
                <h1 id="dashboard-title">"Welcome, " {name}</h1>
                <p class="muted">"Your engineering workbench."</p>
                <div class="grid">
                    {areas
                        .into_iter()
                        .map(|(href, title, text, built)| {
                            view! {
                                <A href=href attr:class="card tile">
                                    <h2>{title}</h2>
                                    <p class="muted">{text}</p>
                                    {(!built).then(|| view! { <span class="badge">"Not built yet"</span> })}
                                </A>
                            }
                        })
                        .collect_view()}
                </div>
            </section>
        }
        .into_any()
    }
}
