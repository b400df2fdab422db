//! HTTP tests against a spawned application (SQLite by default; the main account flow also on
//! PostgreSQL), plus the cache and rate limiter against a real local Redis.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;

mod admin;
mod admin_jobs;
mod auth;
mod authz;
mod browser;
mod cache;
mod helpers;
mod hostile;
mod hygiene;
mod jobs_live;
mod knowledge;
mod llm;
mod mail;
mod notifications;
mod ops;
mod ratelimit;
mod redis_outage;
mod rfc_model;
mod rfc_templates;
mod rfcs;
mod security;
mod shutdown;
mod smtp_sink;
mod tokens;
mod ws;

on_both_backends!(
    auth: [
        register_gives_201_token_pair_and_first_user_is_admin,
        duplicate_registration_is_409,
        login_gives_token_pair_and_wrong_password_is_401,
        me_returns_caller_for_bearer_token,
        refresh_rotates_and_reuse_revokes_whole_family,
        logout_revokes_the_session,
    ],
    rfcs: [
        the_wizard_starts_an_rfc_with_the_templates_questions,
        a_draft_without_a_model_cites_only_its_sources_and_sections_are_edited,
    ],
    rfc_templates: [
        admins_copy_edit_and_switch_templates,
    ],
    knowledge: [
        uploaded_files_are_synced_found_with_highlights_and_downloaded,
        owner_only_sources_stay_invisible_until_shared_with_members,
        confluence_source_syncs_two_result_pages_prunes_and_never_shows_its_secret,
        confluence_sync_failing_on_page_two_resumes_from_the_checkpoint,
    ],
);
