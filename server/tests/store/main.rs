//! Contract suite for the store. Every test in `contract.rs` (accounts), `jobs.rs` (the job
//! queue), `llm.rs` (the gateway), `notifications.rs`, `knowledge.rs` and `rfcs.rs` runs twice, on a fresh
//! SQLite file and on a fresh PostgreSQL database, as `sqlite::<module>::<name>` and
//! `postgres::<module>::<name>` (`on_both_backends!`). PostgreSQL tests fail (they are not
//! skipped) when the server is down.

// A test fails by panicking; clippy.toml's allow-*-in-tests only covers #[test] fns themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
#[macro_use]
mod common;
mod contract;
mod jobs;
mod knowledge;
mod llm;
mod notifications;
mod rfcs;

on_both_backends!(
    contract: [
        ping_answers,
        creates_user_and_reads_it_back,
        missing_user_is_not_found,
        duplicate_email_is_conflict,
        first_user_gets_first_user_scopes_second_gets_default,
        concurrent_first_registrations_make_exactly_one_admin,
        touch_user_login_records_time,
        list_users_search_is_case_insensitive,
        list_users_escapes_like_wildcards,
        list_users_paginates_with_total,
        set_user_scopes_writes_audit_entry_in_same_call,
        set_user_scopes_on_missing_user_is_not_found_and_writes_no_audit,
        deactivating_user_revokes_refresh_tokens_and_audits,
        set_user_password_replaces_hash_and_revokes_refresh_tokens,
        refresh_token_round_trips,
        rotate_refresh_token_succeeds_once,
        rotate_revoked_refresh_token_fails,
        revoke_refresh_family_revokes_only_that_family,
        api_token_insert_list_get_and_touch,
        api_token_revoke_own_and_not_others,
        audit_list_is_newest_first_with_total,
        get_or_init_secret_first_writer_wins,
        concurrent_get_or_init_secret_agree,
    ],
    llm: [
        prices_are_seeded_and_editable_with_an_audit_entry,
        concurrent_reservations_never_overshoot_and_refusals_name_the_budget,
        a_batch_decides_each_operation_as_if_it_ran_alone,
        a_reaped_hold_is_claimed_once_and_a_late_settlement_moves_only_the_difference,
        budget_alerts_are_claimed_once_per_threshold_and_period,
        providers_and_settings_round_trip_with_audit_entries,
        usage_buckets_unpriced_models_and_period_spends_aggregate,
    ],
    notifications: [
        notifications_list_newest_first_with_total_and_unread,
        notifications_are_marked_read_only_by_their_owner,
        old_notifications_are_purged_read_or_not,
        active_admins_are_the_active_users_with_the_admin_scope,
    ],
    jobs: [
        enqueue_stores_a_queued_job,
        claims_by_priority_then_run_after_then_id,
        claim_waits_for_run_after,
        enqueue_with_taken_idempotency_key_returns_existing_job,
        concurrent_idempotent_enqueues_make_one_job,
        fail_requeues_with_retry_at_then_dead_after_max_attempts,
        fail_without_retry_at_is_dead_at_once,
        cancel_queued_job_cancels_at_once,
        cancel_running_job_sets_flag_that_heartbeat_reports,
        cancel_by_another_user_is_not_found,
        complete_needs_the_current_lease,
        completing_writes_the_progress_no_heartbeat_carried,
        heartbeat_extends_lease_and_stores_progress,
        requeue_expired_puts_running_job_back_or_dead,
        release_returns_a_workers_jobs_without_counting_the_attempt,
        retry_and_discard_only_finished_failures,
        list_jobs_filters_and_paginates,
        finished_stats_count_a_window_and_purge_keeps_dead_jobs,
        queue_stats_count_by_kind_and_state,
        concurrent_claims_never_share_a_job,
        claim_cron_firing_wins_once_per_fire_time,
    ],
    rfcs: [
        rfcs_are_numbered_per_year_and_read_back,
        concurrent_rfc_creation_never_shares_a_number,
        concurrent_patches_of_different_fields_both_land,
        sections_keep_their_ids_through_insert_move_edit_and_delete,
        questions_keep_rounds_and_typed_answers,
        source_labels_are_given_once_and_never_reused,
        templates_are_added_once_rewritten_and_audited,
        the_last_template_on_stays_on_under_concurrent_switches,
    ],
    knowledge: [
        sources_are_created_updated_and_deleted_with_members_and_audit,
        taken_source_name_is_conflict,
        visible_source_ids_follow_visibility_members_and_owner,
        upsert_document_inserts_then_replaces_chunks_and_logs_each_write,
        delete_documents_removes_by_external_id_and_logs_them,
        load_index_documents_joins_vectors_of_the_asked_model_only,
        chunks_missing_embeddings_lists_each_unembedded_hash_once,
        sync_runs_start_resume_for_the_same_job_update_finish_and_list,
        checkpoint_is_cleared_only_when_a_sync_succeeds,
        search_queries_clicks_and_recent_distinct_searches,
        source_files_are_kept_listed_and_deleted_within_their_source,
        deleting_a_source_logs_its_documents_and_cascades,
    ],
);
