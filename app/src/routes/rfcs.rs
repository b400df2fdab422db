//! The RFC studio: `/rfcs` (the user's RFCs), `/rfcs/new` (the wizard) and `/rfcs/:id` (the
//! studio: clarifying questions, sources, the draft streaming in section by section, section
//! tools, the completeness check). Markdown is shown only as HTML sanitized on the server.

use crate::api::rfcs::{
    AddRfcSection, AddRfcSource, AnswerRfcQuestion, AskRfcQuestions, CreateRfc, DeleteRfcSection,
    DraftRfc, EditRfcSection, GroundRfc, MoveRfcSection, RegenerateRfcSection, ReviewRfc,
    RfcStudio, SearchRfcSources, SectionHtml, SetRfcSourceRemoved, SettleRfcProposal, get_rfc,
    list_rfc_templates, list_rfcs, render_markdown, rfc_quality,
};
use crate::components::form::{ErrorBanner, FormGate, LoadError, ValidationList};
use crate::components::live::use_live_events;
use crate::i18n::{Locale, td_string};
use crate::l10n;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::{LazyRoute, lazy_route};
use model::error::AppError;
use model::{
    Answer, AnswerInput, DocLanguage, JobState, LivePayload, MoveSectionInput, NewRfcInput,
    NewSectionInput, QuestionKind, RegenerateInput, ReviewAspect, Rfc, RfcDraftEvent, RfcQuestion,
    RfcReview, RfcSection, RfcStatus, SectionEditInput, SectionIssue, SectionState, TaskType,
};
use std::collections::HashMap;

/// The job kind that writes drafts.
const DRAFT_KIND: &str = "rfc.draft";

fn status_word(l: Locale, s: RfcStatus) -> &'static str {
    match s {
        RfcStatus::Clarifying => td_string!(l, rfcs.status_clarifying),
        RfcStatus::Grounding => td_string!(l, rfcs.status_grounding),
        RfcStatus::Drafting => td_string!(l, rfcs.status_drafting),
        RfcStatus::Draft => td_string!(l, rfcs.status_draft),
    }
}

/// `/rfcs`, `/rfcs/new` and `/rfcs/:id`: one lazy route for the three pages, so the studio is
/// one WASM module.
/// Separate routes would be modules sharing code, and the splitter makes a chunk for every
/// combination of routes that share a function: every other page then loads more, smaller
/// chunks (measured for three routes: +10 to +20 KiB brotli on every page).
pub struct RfcsRoute;

#[lazy_route]
impl LazyRoute for RfcsRoute {
    fn data() -> Self {
        RfcsRoute
    }

    fn view(_this: Self) -> AnyView {
        let path = leptos_router::hooks::use_location().pathname.get_untracked();
        if path.trim_end_matches('/').ends_with("/rfcs/new") {
            wizard()
        } else if use_params_map().read_untracked().get("id").is_some() {
            studio()
        } else {
            list()
        }
    }
}

/// `/rfcs`: the user's RFCs.
fn list() -> AnyView {
    let lang = l10n::use_lang();
    let rfcs = Resource::new(|| (), |_| list_rfcs(100, 0));
    view! {
            <Title text=td_string!(lang, rfcs.title) />
            <section class="page">
                <div class="card-head">
                    <h1>{td_string!(lang, rfcs.title)}</h1>
                    <a class="btn btn-primary" href="/rfcs/new" id="new-rfc">{td_string!(lang, rfcs.new)}</a>
                </div>
                <p class="muted">{td_string!(lang, rfcs.intro)}</p>
                <div class="card">
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, rfcs.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match rfcs.await {
                                Ok(page) if page.items.is_empty() => view! { <p class="muted">{td_string!(lang, rfcs.none)}</p> }.into_any(),
                                Ok(page) => view! {
                                    <table class="table" id="rfcs-table">
                                        <thead><tr>
                                            <th>{td_string!(lang, rfcs.number)}</th>
                                            <th>{td_string!(lang, rfcs.rfc_title)}</th>
                                            <th>{td_string!(lang, rfcs.status)}</th>
                                            <th>{td_string!(lang, rfcs.updated)}</th>
                                        </tr></thead>
                                        <tbody>
                                            {page.items.into_iter().map(|r| view! {
                                                <tr>
                                                    <td class="nowrap"><a href=format!("/rfcs/{}", r.id)>{r.number.clone()}</a></td>
                                                    <td>{r.title.clone()}</td>
                                                    <td><span class="badge">{status_word(lang, r.status)}</span></td>
                                                    <td class="nowrap">{l10n::date_time(lang, r.updated_at)}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any(),
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                </div>
            </section>
        }
        .into_any()
}

/// `/rfcs/new`: the wizard.
fn wizard() -> AnyView {
    let lang = l10n::use_lang();
    let templates = Resource::new(|| (), |_| list_rfc_templates());
    let create = ServerAction::<CreateRfc>::new();
    let task = RwSignal::new(String::from("new_feature"));
    let template = RwSignal::new(String::from("feature"));
    let title = RwSignal::new(String::new());
    let description = RwSignal::new(String::new());
    let language = RwSignal::new(String::from(if lang == Locale::ru { "ru" } else { "en" }));
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(rfc)) = create.value().get() {
            navigate(&format!("/rfcs/{}", rfc.summary.id), Default::default());
        }
    });
    let error = Signal::derive(move || create.value().get().and_then(Result::err));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateRfc {
            input: NewRfcInput {
                task_type: TaskType::parse(&task.get_untracked()).unwrap_or(TaskType::NewFeature),
                template: template.get_untracked(),
                title: title.get_untracked(),
                description: description.get_untracked(),
                language: DocLanguage::parse(&language.get_untracked()).unwrap_or(DocLanguage::En),
                source_ids: None,
                tags: Vec::new(),
            },
        });
    };
    view! {
            <Title text=td_string!(lang, rfcs.new) />
            <section class="page">
                <h1>{td_string!(lang, rfcs.new)}</h1>
                <form method="post" class="card stack" id="rfc-wizard" on:submit=submit><FormGate>
                    <label for="rfc-task">{td_string!(lang, rfcs.task)}</label>
                    <select id="rfc-task" bind:value=task>
                        <option value="new_feature">{td_string!(lang, rfcs.task_new)}</option>
                        <option value="modify_existing">{td_string!(lang, rfcs.task_modify)}</option>
                        <option value="analyze_current">{td_string!(lang, rfcs.task_analyze)}</option>
                    </select>
                    <label for="rfc-template">{td_string!(lang, rfcs.template)}</label>
                    <Transition fallback=move || view! { <p class="loading">{td_string!(lang, rfcs.loading)}</p> }>
                        {move || Suspend::new(async move {
                            match templates.await {
                                Ok(list) => {
                                    // The first offered template when the usual one is off.
                                    if !list.iter().any(|t| t.key == template.get_untracked())
                                        && let Some(first) = list.first()
                                    {
                                        template.set(first.key.clone());
                                    }
                                    view! {
                                    <select id="rfc-template" bind:value=template>
                                        {list.into_iter().map(|t| {
                                            let name = if lang == Locale::ru { t.name_ru.clone() } else { t.name_en.clone() };
                                            view! { <option value=t.key.clone()>{name}</option> }
                                        }).collect_view()}
                                    </select>
                                }.into_any()
                                }
                                Err(e) => view! { <LoadError error=e /> }.into_any(),
                            }
                        })}
                    </Transition>
                    <label for="rfc-title">{td_string!(lang, rfcs.rfc_title)}</label>
                    <input id="rfc-title" type="text" maxlength="200" required bind:value=title />
                    <label for="rfc-description">{td_string!(lang, rfcs.description)}</label>
                    <textarea id="rfc-description" rows="6" maxlength="4000" required
                        placeholder=td_string!(lang, rfcs.description_hint) bind:value=description></textarea>
                    <label for="rfc-language">{td_string!(lang, rfcs.language)}</label>
                    <select id="rfc-language" bind:value=language>
                        <option value="en">{td_string!(lang, lang.en)}</option>
                        <option value="ru">{td_string!(lang, lang.ru)}</option>
                    </select>
                    <p class="hint">{td_string!(lang, rfcs.knowledge_hint)}</p>
                    <ValidationList error />
                    <ErrorBanner error />
                    <button type="submit" class="btn btn-primary" id="rfc-create" disabled=move || create.pending().get()>
                        {move || if create.pending().get() { td_string!(lang, rfcs.creating) } else { td_string!(lang, rfcs.create) }}
                    </button>
                </FormGate></form>
            </section>
        }
        .into_any()
}

/// What the studio changes; every change reloads the RFC.
#[derive(Clone, Copy)]
struct Studio {
    id: Signal<i64>,
    answer: ServerAction<AnswerRfcQuestion>,
    ask: ServerAction<AskRfcQuestions>,
    ground: ServerAction<GroundRfc>,
    source: ServerAction<SetRfcSourceRemoved>,
    draft: ServerAction<DraftRfc>,
    edit: ServerAction<EditRfcSection>,
    regenerate: ServerAction<RegenerateRfcSection>,
    settle: ServerAction<SettleRfcProposal>,
    add_source: ServerAction<AddRfcSource>,
    add_section: ServerAction<AddRfcSection>,
    move_section: ServerAction<MoveRfcSection>,
    delete_section: ServerAction<DeleteRfcSection>,
    review: ServerAction<ReviewRfc>,
    /// The last search for more sources (kept across reloads, to add several of its hits).
    search: ServerAction<SearchRfcSources>,
    /// Sections being written now, by id (from `/ws`).
    live: RwSignal<HashMap<i64, RfcDraftEvent>>,
    /// Bumped by live events that end a section or the job.
    reload: RwSignal<u32>,
    /// Why the draft job stopped, if it failed (a budget's message, say).
    job_error: RwSignal<Option<String>>,
}

impl Studio {
    /// Grows with every change (each action's count only grows).
    fn version(&self) -> usize {
        [
            self.answer.version(),
            self.ask.version(),
            self.ground.version(),
            self.source.version(),
            self.draft.version(),
            self.edit.version(),
            self.regenerate.version(),
            self.settle.version(),
            self.add_source.version(),
            self.add_section.version(),
            self.move_section.version(),
            self.delete_section.version(),
            self.review.version(),
        ]
        .iter()
        .map(|v| v.get())
        .sum::<usize>()
            + self.reload.get() as usize
    }

    fn error(&self) -> Option<AppError> {
        let e = |v: Option<Result<_, AppError>>| v.and_then(Result::err);
        e(self.answer.value().get().map(|r| r.map(|_| ())))
            .or_else(|| e(self.ask.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.ground.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.source.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.draft.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.edit.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.regenerate.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.settle.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.add_source.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.add_section.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.move_section.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.delete_section.value().get()))
            .or_else(|| e(self.review.value().get().map(|r| r.map(|_| ()))))
            .or_else(|| e(self.search.value().get().map(|r| r.map(|_| ()))))
    }

    /// Forgets what belonged to the RFC shown before: back and forward between two RFCs keep
    /// this page and change only its id, and search hits, live sections, a job's failure or an
    /// action's error of one RFC must not show on the other.
    fn forget(&self) {
        self.live.set(HashMap::new());
        self.job_error.set(None);
        self.answer.clear();
        self.ask.clear();
        self.ground.clear();
        self.source.clear();
        self.draft.clear();
        self.edit.clear();
        self.regenerate.clear();
        self.settle.clear();
        self.add_source.clear();
        self.add_section.clear();
        self.move_section.clear();
        self.delete_section.clear();
        self.review.clear();
        self.search.clear();
    }
}

/// `/rfcs/:id`: the studio.
fn studio() -> AnyView {
    let lang = l10n::use_lang();
    let params = use_params_map();
    let id = Signal::derive(move || {
        params.read().get("id").and_then(|s| s.parse::<i64>().ok()).unwrap_or(0)
    });
    let studio = Studio {
        id,
        answer: ServerAction::new(),
        ask: ServerAction::new(),
        ground: ServerAction::new(),
        source: ServerAction::new(),
        draft: ServerAction::new(),
        edit: ServerAction::new(),
        regenerate: ServerAction::new(),
        settle: ServerAction::new(),
        add_source: ServerAction::new(),
        add_section: ServerAction::new(),
        move_section: ServerAction::new(),
        delete_section: ServerAction::new(),
        review: ServerAction::new(),
        search: ServerAction::new(),
        live: RwSignal::new(HashMap::new()),
        reload: RwSignal::new(0),
        job_error: RwSignal::new(None),
    };
    Effect::new(move |shown: Option<i64>| {
        let now = id.get();
        if shown.is_some_and(|before| before != now) {
            studio.forget();
        }
        now
    });
    let rfc = Resource::new(move || (id.get(), studio.version()), |(id, _)| get_rfc(id));
    let quality = Resource::new(move || (id.get(), studio.version()), |(id, _)| rfc_quality(id));
    let live = use_live_events();
    Effect::new(move |_| {
        let Some(event) = live.latest.get() else { return };
        if let Some(d) = event.rfc_draft() {
            if d.rfc_id != id.get_untracked() {
                return;
            }
            let ends = d.state != SectionState::Writing;
            studio.live.update(|m| {
                if ends {
                    m.remove(&d.section_id);
                } else {
                    m.insert(d.section_id, d);
                }
            });
            if ends {
                studio.reload.update(|v| *v += 1);
            }
            return;
        }
        match event.payload() {
            Some(LivePayload::Job(j)) if j.kind == DRAFT_KIND => {
                if matches!(j.state, JobState::Dead | JobState::Cancelled | JobState::Succeeded) {
                    studio.job_error.set(j.error.clone().filter(|_| j.state == JobState::Dead));
                    studio.live.set(HashMap::new());
                    studio.reload.update(|v| *v += 1);
                }
            }
            _ => {}
        }
    });
    let error = Signal::derive(move || studio.error());
    view! {
            <section class="page rfc-studio">
                <Transition fallback=move || view! { <p class="loading">{td_string!(lang, rfcs.loading)}</p> }>
                    {move || Suspend::new(async move {
                        match rfc.await {
                            Ok(RfcStudio { rfc, html }) => view! { <StudioView rfc html studio quality /> }.into_any(),
                            Err(e) => view! { <LoadError error=e /> }.into_any(),
                        }
                    })}
                </Transition>
                <ValidationList error />
                <ErrorBanner error />
            </section>
        }
        .into_any()
}

#[component]
fn StudioView(
    rfc: Rfc,
    html: Vec<SectionHtml>,
    studio: Studio,
    quality: Resource<Result<model::QualityReport, AppError>>,
) -> impl IntoView {
    let lang = l10n::use_lang();
    let id = rfc.summary.id;
    let status = rfc.summary.status;
    let drafting = status == RfcStatus::Drafting;
    let has_sections = !rfc.sections.is_empty();
    let all_done = has_sections && rfc.sections.iter().all(|s| s.state == SectionState::Done);
    let before_draft = matches!(status, RfcStatus::Clarifying | RfcStatus::Grounding);
    let can_ask = before_draft && rfc.question_rounds < 3;
    let title = format!("{} · {}", rfc.summary.number, rfc.summary.title);
    let notice = rfc.notice.clone();
    let readiness = rfc.readiness.clone();
    let questions = rfc.questions.clone();
    let sources = rfc.sources.clone();
    let taken: Vec<i64> = rfc.sources.iter().map(|s| s.chunk_id).collect();
    let sections = rfc.sections.clone();
    let keys: HashMap<String, i64> =
        rfc.sections.iter().filter_map(|s| Some((s.template_key.clone()?, s.id))).collect();
    let cost = rfc.cost_nanos;
    view! {
        <Title text=title.clone() />
        <h1 id="rfc-title">{title}</h1>
        <p class="muted">
            <span class="badge" id="rfc-status">{status_word(lang, status)}</span>
            " · " {td_string!(lang, rfcs.cost)} " " <span id="rfc-cost">{l10n::usd(lang, cost)}</span>
        </p>
        {notice.map(|n| view! { <p class="banner banner-warning" role="status">{n}</p> })}
        {move || studio.job_error.get().map(|e| view! { <p class="banner banner-error" role="alert" id="rfc-job-error">{e}</p> })}
        {(!questions.is_empty() && before_draft).then(|| view! {
            <div class="card" id="rfc-questions">
                <h2>{td_string!(lang, rfcs.questions)}</h2>
                {questions.into_iter().map(|q| view! { <QuestionRow q studio /> }).collect_view()}
                {can_ask.then(|| view! {
                    <button class="btn" id="rfc-ask-more" disabled=move || studio.ask.pending().get()
                        on:click=move |_| { studio.ask.dispatch(AskRfcQuestions { id }); }>
                        {td_string!(lang, rfcs.ask_more)}
                    </button>
                })}
            </div>
        })}
        <div class="card" id="rfc-sources">
            <div class="card-head">
                <h2>{td_string!(lang, rfcs.sources)}</h2>
                {before_draft.then(|| view! {
                    <button class="btn" id="rfc-ground" disabled=move || studio.ground.pending().get()
                        on:click=move |_| { studio.ground.dispatch(GroundRfc { id }); }>
                        {move || if studio.ground.pending().get() { td_string!(lang, rfcs.searching) } else { td_string!(lang, rfcs.find_sources) }}
                    </button>
                })}
            </div>
            {if sources.is_empty() {
                view! { <p class="muted">{td_string!(lang, rfcs.no_sources)}</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list rfc-source-list">
                        {sources.into_iter().map(|s| {
                            let (sid, removed) = (s.id, s.removed);
                            view! {
                                <li class:removed=removed data-label=s.label>
                                    <strong>{format!("[S{}] ", s.label)}</strong>
                                    <a href=s.url.clone() target="_blank" rel="noopener noreferrer">{s.title.clone()}</a>
                                    <p class="snippet">{s.excerpt.chars().take(280).collect::<String>()}</p>
                                    <button class="btn btn-small btn-ghost rfc-source-toggle"
                                        on:click=move |_| { studio.source.dispatch(SetRfcSourceRemoved { id, source_id: sid, removed: !removed }); }>
                                        {if removed { td_string!(lang, rfcs.restore) } else { td_string!(lang, rfcs.remove) }}
                                    </button>
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
            <SourceSearch studio taken />
        </div>
        {(!readiness.is_empty()).then(|| view! {
            <div class="banner banner-warning" id="rfc-readiness">
                <p>{td_string!(lang, rfcs.not_ready)}</p>
                <ul>{readiness.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}</ul>
            </div>
        })}
        {(!all_done && !drafting).then(|| view! {
            <button class="btn btn-primary" id="rfc-draft" disabled=move || studio.draft.pending().get()
                on:click=move |_| { studio.job_error.set(None); studio.draft.dispatch(DraftRfc { id }); }>
                {if has_sections { td_string!(lang, rfcs.resume_draft) } else { td_string!(lang, rfcs.write_draft) }}
            </button>
        })}
        {drafting.then(|| view! { <p class="banner" role="status" id="rfc-drafting">{td_string!(lang, rfcs.drafting)}</p> })}
        {has_sections.then(|| view! { <Sections sections html studio drafting /> })}
        {has_sections.then(|| view! { <Quality quality studio keys /> })}
    }
}

#[component]
fn QuestionRow(q: RfcQuestion, studio: Studio) -> impl IntoView {
    let lang = l10n::use_lang();
    let qid = q.id;
    let id = studio.id;
    let value = RwSignal::new(match &q.answer {
        Some(Answer::Text(t)) | Some(Answer::SingleChoice(t)) => t.clone(),
        Some(Answer::MultipleChoice(cs)) => cs.join("\n"),
        Some(Answer::YesNo(b)) => {
            if *b {
                "yes".into()
            } else {
                "no".into()
            }
        }
        Some(Answer::Number(n)) => n.to_string(),
        None => String::new(),
    });
    let kind = q.kind;
    let options = q.options.clone();
    let chosen = RwSignal::new(match &q.answer {
        Some(Answer::MultipleChoice(cs)) => cs.clone(),
        _ => Vec::new(),
    });
    let save = move |_| {
        let v = value.get_untracked();
        let answer = match kind {
            QuestionKind::Text => Answer::Text(v),
            QuestionKind::SingleChoice => Answer::SingleChoice(v),
            QuestionKind::MultipleChoice => Answer::MultipleChoice(chosen.get_untracked()),
            QuestionKind::YesNo => Answer::YesNo(v == "yes"),
            QuestionKind::Number => {
                Answer::Number(v.trim().replace(',', ".").parse().unwrap_or(f64::NAN))
            }
        };
        studio.answer.dispatch(AnswerRfcQuestion {
            id: id.get_untracked(),
            question_id: qid,
            input: AnswerInput { answer: Some(answer), skip: false },
        });
    };
    let skip = move |_| {
        studio.answer.dispatch(AnswerRfcQuestion {
            id: id.get_untracked(),
            question_id: qid,
            input: AnswerInput { answer: None, skip: true },
        });
    };
    let input_id = format!("rfc-q-{qid}");
    let state = if q.skipped {
        Some(td_string!(lang, rfcs.skipped))
    } else if q.answer.is_some() {
        Some(td_string!(lang, rfcs.answered))
    } else {
        None
    };
    let field = match kind {
        QuestionKind::Text => view! { <textarea id=input_id.clone() rows="2" placeholder=q.placeholder.clone() bind:value=value></textarea> }.into_any(),
        QuestionKind::Number => view! { <input id=input_id.clone() type="text" inputmode="decimal" placeholder=q.placeholder.clone() bind:value=value /> }.into_any(),
        QuestionKind::YesNo => view! {
            <select id=input_id.clone() bind:value=value>
                <option value="">"—"</option>
                <option value="yes">{td_string!(lang, rfcs.yes)}</option>
                <option value="no">{td_string!(lang, rfcs.no)}</option>
            </select>
        }.into_any(),
        QuestionKind::SingleChoice => view! {
            <select id=input_id.clone() bind:value=value>
                <option value="">"—"</option>
                {options.into_iter().map(|o| view! { <option value=o.clone()>{o.clone()}</option> }).collect_view()}
            </select>
        }.into_any(),
        QuestionKind::MultipleChoice => view! {
            <div id=input_id.clone() class="row">
                {options.into_iter().map(|o| {
                    let o2 = o.clone();
                    let checked = chosen.get_untracked().contains(&o);
                    view! {
                        <label><input type="checkbox" checked=checked on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            chosen.update(|c| { c.retain(|x| x != &o2); if on { c.push(o2.clone()); } });
                        } />" "{o.clone()}</label>
                    }
                }).collect_view()}
            </div>
        }.into_any(),
    };
    view! {
        <div class="rfc-question stack" data-question=qid>
            <label for=input_id><strong>{q.text.clone()}</strong> {state.map(|s| view! { " " <span class="badge">{s}</span> })}</label>
            {(!q.why.is_empty()).then(|| view! { <p class="hint">{q.why.clone()}</p> })}
            {field}
            <div class="row">
                <button class="btn btn-small rfc-answer" on:click=save>{td_string!(lang, rfcs.save_answer)}</button>
                <button class="btn btn-small btn-ghost rfc-skip" on:click=skip>{td_string!(lang, rfcs.skip)}</button>
            </div>
        </div>
    }
}

#[component]
fn Sections(
    sections: Vec<RfcSection>,
    html: Vec<SectionHtml>,
    studio: Studio,
    drafting: bool,
) -> impl IntoView {
    let lang = l10n::use_lang();
    let mut html = html.into_iter();
    let count = sections.len();
    let heading = RwSignal::new(String::new());
    view! {
        <div id="rfc-sections">
            {sections.into_iter().enumerate().map(|(index, s)| {
                let SectionHtml { body, proposed } = html.next().unwrap_or_default();
                let proposed = proposed.unwrap_or_default();
                view! { <SectionCard s body proposed studio drafting index count /> }
            }).collect_view()}
            {(!drafting).then(|| view! {
                <form class="inline-form" id="rfc-add-section" on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    studio.add_section.dispatch(AddRfcSection {
                        id: studio.id.get_untracked(),
                        input: NewSectionInput { heading: heading.get_untracked(), body: String::new(), position: None },
                    });
                    heading.set(String::new());
                }>
                    <input type="text" maxlength="200" aria-label=td_string!(lang, rfcs.new_section)
                        placeholder=td_string!(lang, rfcs.new_section) bind:value=heading />
                    <button type="submit" class="btn btn-small">{td_string!(lang, rfcs.add_section)}</button>
                </form>
            })}
        </div>
    }
}

/// Searching the RFC's knowledge for more sources; a hit already among the sources says so.
#[component]
fn SourceSearch(studio: Studio, taken: Vec<i64>) -> impl IntoView {
    let lang = l10n::use_lang();
    let q = RwSignal::new(String::new());
    view! {
        <form class="inline-form" id="rfc-source-search" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            studio.search.dispatch(SearchRfcSources { id: studio.id.get_untracked(), q: q.get_untracked() });
        }>
            <input type="search" maxlength="10000" aria-label=td_string!(lang, rfcs.more_sources)
                placeholder=td_string!(lang, rfcs.more_sources) bind:value=q />
            <button type="submit" class="btn btn-small" disabled=move || studio.search.pending().get()>{td_string!(lang, rfcs.search)}</button>
        </form>
        {move || studio.search.value().get().and_then(Result::ok).map(|hits| {
            if hits.is_empty() {
                return view! { <p class="muted">{td_string!(lang, rfcs.no_hits)}</p> }.into_any();
            }
            view! {
                <ul class="plain-list rfc-hits">
                    {hits.into_iter().map(|h| {
                        let (document_id, chunk_id) = (h.document_id, h.chunk_id);
                        let added = taken.contains(&chunk_id);
                        view! {
                            <li>
                                <a href=h.url.clone() target="_blank" rel="noopener noreferrer">{h.title.clone()}</a>
                                <p class="snippet">{h.excerpt.clone()}</p>
                                {if added {
                                    view! { <span class="badge">{td_string!(lang, rfcs.added)}</span> }.into_any()
                                } else {
                                    view! {
                                        <button class="btn btn-small rfc-add-source" on:click=move |_| {
                                            studio.add_source.dispatch(AddRfcSource { id: studio.id.get_untracked(), document_id, chunk_id });
                                        }>{td_string!(lang, rfcs.add)}</button>
                                    }.into_any()
                                }}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }.into_any()
        })}
    }
}

fn state_word(l: Locale, s: SectionState) -> &'static str {
    match s {
        SectionState::Pending => td_string!(l, rfcs.section_pending),
        SectionState::Writing => td_string!(l, rfcs.section_writing),
        SectionState::Done => td_string!(l, rfcs.section_done),
        SectionState::Failed => td_string!(l, rfcs.section_failed),
    }
}

#[component]
fn SectionCard(
    s: RfcSection,
    body: String,
    proposed: String,
    studio: Studio,
    drafting: bool,
    /// Place among `count` sections.
    index: usize,
    count: usize,
) -> impl IntoView {
    let lang = l10n::use_lang();
    let sid = s.id;
    let heading = s.heading.clone();
    let move_to = move |position: usize| {
        studio.move_section.dispatch(MoveRfcSection {
            id: studio.id.get_untracked(),
            section_id: sid,
            input: MoveSectionInput { position: position as i32 },
        });
    };
    let remove = move |_| {
        let sure = window()
            .confirm_with_message(&format!(
                "{} «{heading}»?",
                td_string!(lang, rfcs.remove_section)
            ))
            .unwrap_or(false);
        if sure {
            studio
                .delete_section
                .dispatch(DeleteRfcSection { id: studio.id.get_untracked(), section_id: sid });
        }
    };
    let id = studio.id;
    let editing = RwSignal::new(false);
    let text = RwSignal::new(s.body.clone());
    let instruction = RwSignal::new(String::new());
    let preview = Action::new(move |t: &String| {
        let t = t.clone();
        async move { render_markdown(vec![t]).await.ok().and_then(|mut v| v.pop()).unwrap_or_default() }
    });
    let live_text =
        move || studio.live.with(|m| m.get(&sid).map(|d| (d.text.clone(), d.index, d.total)));
    let state = s.state;
    let has_proposal = s.proposed_body.is_some();
    view! {
        <article class="card rfc-section" data-section=sid data-key=s.template_key.clone().unwrap_or_default()>
            <div class="card-head">
                <h2>{s.heading.clone()}</h2>
                <span class="badge rfc-section-state">{move || if live_text().is_some() { state_word(lang, SectionState::Writing) } else { state_word(lang, state) }}</span>
            </div>
            {move || match live_text() {
                Some((t, i, n)) => view! {
                    <p class="hint">{td_string!(lang, rfcs.writing_of, index = i, total = n)}</p>
                    <div class="rfc-live" aria-live="polite">{t}</div>
                }.into_any(),
                None => view! { <div class="md" inner_html=body.clone()></div> }.into_any(),
            }}
            {has_proposal.then(|| view! {
                <div class="rfc-proposal">
                    <p class="hint">{td_string!(lang, rfcs.proposal)} " " {s.proposed_instruction.clone().unwrap_or_default()}</p>
                    <div class="md" inner_html=proposed.clone()></div>
                    <div class="row">
                        <button class="btn btn-small btn-primary rfc-accept" on:click=move |_| { studio.settle.dispatch(SettleRfcProposal { id: id.get_untracked(), section_id: sid, accept: true }); }>{td_string!(lang, rfcs.accept)}</button>
                        <button class="btn btn-small btn-ghost rfc-drop" on:click=move |_| { studio.settle.dispatch(SettleRfcProposal { id: id.get_untracked(), section_id: sid, accept: false }); }>{td_string!(lang, rfcs.drop)}</button>
                    </div>
                </div>
            })}
            {(!drafting).then(|| view! {
                <Show when=move || editing.get() fallback=move || view! {
                    <div class="row">
                        <button class="btn btn-small rfc-edit" on:click=move |_| editing.set(true)>{td_string!(lang, rfcs.edit)}</button>
                        <button class="btn btn-small btn-ghost rfc-up" disabled={index == 0} aria-label=td_string!(lang, rfcs.move_up)
                            on:click=move |_| move_to(index.saturating_sub(1))>"↑"</button>
                        <button class="btn btn-small btn-ghost rfc-down" disabled={index + 1 >= count} aria-label=td_string!(lang, rfcs.move_down)
                            on:click=move |_| move_to(index + 1)>"↓"</button>
                        <button class="btn btn-small btn-ghost rfc-remove-section" on:click=remove.clone()>{td_string!(lang, rfcs.remove)}</button>
                        <form class="inline-form rfc-regenerate" on:submit=move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            studio.regenerate.dispatch(RegenerateRfcSection { id: id.get_untracked(), section_id: sid, input: RegenerateInput { instruction: instruction.get_untracked() } });
                        }>
                            <input type="text" maxlength="500" placeholder=td_string!(lang, rfcs.instruction_hint)
                                aria-label=td_string!(lang, rfcs.instruction) bind:value=instruction />
                            <button type="submit" class="btn btn-small">{td_string!(lang, rfcs.regenerate)}</button>
                        </form>
                    </div>
                }>
                    <div class="stack rfc-editor">
                        <textarea rows="10" aria-label=td_string!(lang, rfcs.edit) bind:value=text></textarea>
                        <div class="row">
                            <button class="btn btn-small btn-primary rfc-save" on:click=move |_| {
                                studio.edit.dispatch(EditRfcSection { id: id.get_untracked(), section_id: sid, input: SectionEditInput { heading: None, body: text.get_untracked() } });
                                editing.set(false);
                            }>{td_string!(lang, rfcs.save)}</button>
                            <button class="btn btn-small rfc-preview" on:click=move |_| { preview.dispatch(text.get_untracked()); }>{td_string!(lang, rfcs.preview)}</button>
                            <button class="btn btn-small btn-ghost" on:click=move |_| editing.set(false)>{td_string!(lang, rfcs.cancel)}</button>
                        </div>
                        {move || preview.value().get().map(|h| view! { <div class="md rfc-preview-body" inner_html=h></div> })}
                    </div>
                </Show>
            })}
        </article>
    }
}

fn issue_word(l: Locale, i: SectionIssue) -> &'static str {
    match i {
        SectionIssue::Missing => td_string!(l, rfcs.issue_missing),
        SectionIssue::Empty => td_string!(l, rfcs.issue_empty),
        SectionIssue::Placeholder => td_string!(l, rfcs.issue_placeholder),
        SectionIssue::Thin => td_string!(l, rfcs.issue_thin),
        SectionIssue::DanglingCitations => td_string!(l, rfcs.issue_dangling),
    }
}

/// The completeness check; "write this section" writes a weak section again as a proposal.
#[component]
fn Quality(
    quality: Resource<Result<model::QualityReport, AppError>>,
    studio: Studio,
    /// Section ids by template key.
    keys: HashMap<String, i64>,
) -> impl IntoView {
    let lang = l10n::use_lang();
    let instruction = td_string!(lang, rfcs.write_this_instruction).to_string();
    view! {
        <div class="card" id="rfc-quality">
            <h2>{td_string!(lang, rfcs.quality)}</h2>
            <p class="hint">{td_string!(lang, rfcs.quality_hint)}</p>
            <Transition fallback=move || view! { <p class="loading">{td_string!(lang, rfcs.loading)}</p> }>
                {move || {
                    let (keys, instruction) = (keys.clone(), instruction.clone());
                    Suspend::new(async move {
                    match quality.await {
                        Ok(q) => view! {
                            <p class="stat"><span class="stat-value" id="rfc-score">{q.structure_score}</span>" / 100"</p>
                            <ul class="plain-list" id="rfc-findings">
                                {q.findings.into_iter().map(|f| {
                                    let target = keys.get(&f.section).copied();
                                    let instruction = instruction.clone();
                                    view! {
                                        <li data-finding=f.section.clone()>
                                            <strong>{f.heading.clone()}</strong>" — "{issue_word(lang, f.issue)}
                                            {target.map(|section_id| view! {
                                                " "
                                                <button class="btn btn-small btn-ghost rfc-write-this" on:click=move |_| {
                                                    studio.regenerate.dispatch(RegenerateRfcSection {
                                                        id: studio.id.get_untracked(),
                                                        section_id,
                                                        input: RegenerateInput { instruction: instruction.clone() },
                                                    });
                                                }>{td_string!(lang, rfcs.write_this)}</button>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            <Review review=q.review studio lang />
                        }.into_any(),
                        Err(e) => view! { <LoadError error=e /> }.into_any(),
                    }
                    })
                }}
            </Transition>
        </div>
    }
}

fn aspect_word(l: Locale, a: ReviewAspect) -> &'static str {
    match a {
        ReviewAspect::Clarity => td_string!(l, rfcs.aspect_clarity),
        ReviewAspect::Risks => td_string!(l, rfcs.aspect_risks),
        ReviewAspect::Alternatives => td_string!(l, rfcs.aspect_alternatives),
    }
}

/// The model's review beside the score: its notes, whether the RFC changed since, and the
/// button that asks for a (new) one.
#[component]
fn Review(
    review: Option<RfcReview>,
    studio: Studio,
    /// The page's language (read by the caller: this renders inside a `Suspend`).
    lang: Locale,
) -> impl IntoView {
    view! {
        <div id="rfc-review" class="stack">
            <div class="card-head">
                <h3>{td_string!(lang, rfcs.review)}</h3>
                <button class="btn btn-small" id="rfc-review-run" disabled=move || studio.review.pending().get()
                    on:click=move |_| { studio.review.dispatch(ReviewRfc { id: studio.id.get_untracked() }); }>
                    {move || if studio.review.pending().get() { td_string!(lang, rfcs.reviewing) } else { td_string!(lang, rfcs.review_run) }}
                </button>
            </div>
            <p class="hint">{td_string!(lang, rfcs.review_hint)}</p>
            {review.map(|r| view! {
                {r.stale.then(|| view! { <p class="banner banner-warning" id="rfc-review-stale">{td_string!(lang, rfcs.review_stale)}</p> })}
                <ul class="plain-list">
                    {r.notes.into_iter().map(|n| view! {
                        <li data-aspect=n.aspect.as_str()>
                            <strong>{aspect_word(lang, n.aspect)}</strong>" "
                            <span class="badge">{format!("{}/5", n.rating)}</span>
                            <p>{n.note}</p>
                        </li>
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
}
