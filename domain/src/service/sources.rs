//! Knowledge sources as people manage them: create, edit, delete, test a connection, sync now,
//! upload files, see sync runs; and the per-minute tick that enqueues scheduled syncs. Who may
//! do what: any user with the `search` scope keeps file sources of their own (visible to them or
//! to listed users); connector sources (which call URLs) and team-wide visibility are for admins.
//! Credentials are sealed with the deployment key before they reach the store and never leave it.

use crate::auth::Principal;
use crate::errors::internal;
use crate::knowledge::connectors::{self, ConnectorError};
use crate::knowledge::extract;
use crate::service::audit_by;
use crate::service::sync::{SYNC_ATTEMPTS, SYNC_SOURCE, SyncPayload};
use crate::state::AppState;
use crate::store::{NewJob, NewSource, NewSourceFile, SourceRecord, StoreError};
use chrono::Utc;
use croner::parser::{CronParser, Seconds};
use model::error::{AppError, FieldError};
use model::{
    Job, JobPriority, Scope, Source, SourceFile, SourceForm, SourceKind, SyncRun, Visibility,
};
use secrecy::SecretString;

/// Kind of the per-minute job that enqueues sources' scheduled syncs.
pub const SCHEDULE_TICK: &str = "knowledge.schedule";

fn is_admin(user: &Principal) -> bool {
    user.scopes.contains(Scope::Admin)
}

fn can_manage(user: &Principal, s: &SourceRecord) -> bool {
    is_admin(user) || s.owner_id == user.user_id
}

fn to_model(user: &Principal, s: SourceRecord) -> Source {
    Source {
        id: s.id,
        can_manage: can_manage(user, &s),
        kind: SourceKind::parse(&s.kind).unwrap_or(SourceKind::Files),
        config: serde_json::from_str(&s.config).unwrap_or(serde_json::Value::Null),
        has_secret: s.secret.is_some(),
        visibility: Visibility::parse(&s.visibility).unwrap_or(Visibility::Owner),
        owner_id: s.owner_id,
        owner_email: s.owner_email,
        members: s.member_emails,
        schedule: s.schedule,
        enabled: s.enabled,
        documents: s.documents,
        chunks: s.chunks,
        last_sync_at: s.last_sync_at,
        last_status: s.last_status,
        last_error: s.last_error,
        created_at: s.created_at,
        name: s.name,
    }
}

fn not_found(e: StoreError) -> AppError {
    match e {
        StoreError::NotFound => AppError::not_found("source"),
        e => e.into(),
    }
}

/// Sources the user can see (admins: all), by name.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn list(state: &AppState, user: &Principal) -> Result<Vec<Source>, AppError> {
    let visible = state.store.visible_source_ids(user.user_id).await?;
    Ok(state
        .store
        .list_sources()
        .await?
        .into_iter()
        .filter(|s| is_admin(user) || visible.contains(&s.id))
        .map(|s| to_model(user, s))
        .collect())
}

/// One source the user can see.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn get(state: &AppState, user: &Principal, id: i64) -> Result<Source, AppError> {
    let s = visible(state, user, id).await?;
    Ok(to_model(user, s))
}

async fn visible(state: &AppState, user: &Principal, id: i64) -> Result<SourceRecord, AppError> {
    let s = state.store.get_source(id).await.map_err(not_found)?;
    if is_admin(user) || state.store.visible_source_ids(user.user_id).await?.contains(&id) {
        Ok(s)
    } else {
        Err(AppError::not_found("source"))
    }
}

async fn managed(state: &AppState, user: &Principal, id: i64) -> Result<SourceRecord, AppError> {
    let s = visible(state, user, id).await?;
    if can_manage(user, &s) {
        Ok(s)
    } else {
        Err(AppError::forbidden(crate::tr!("only the source's owner or an admin may change it")))
    }
}

/// The most a source's JSON settings may take (spaces, projects, globs, a JQL filter).
const MAX_CONFIG_BYTES: usize = 32 * 1024;
/// The most a credential may take (API tokens and PATs are well under 1 KiB).
const MAX_SECRET_BYTES: usize = 4096;

/// Validated settings of a form.
struct Parsed {
    kind: SourceKind,
    visibility: Visibility,
    members: Vec<i64>,
    schedule: Option<String>,
    secret: Option<SecretString>,
}

async fn parse_form(
    state: &AppState,
    user: &Principal,
    form: &SourceForm,
) -> Result<Parsed, AppError> {
    let mut errors = Vec::new();
    let name = form.name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        errors.push(FieldError::new(
            "name",
            "length",
            crate::tr!("name must be 1 to 80 characters"),
        ));
    } else if model::has_unsafe_chars(name) {
        errors.push(FieldError::new(
            "name",
            "format",
            crate::tr!("name must not contain control or text-direction characters"),
        ));
    }
    let kind = SourceKind::parse(form.kind.trim());
    if kind.is_none() {
        errors.push(FieldError::new(
            "kind",
            "one_of",
            crate::tr!("kind must be confluence, jira, gitlab or files"),
        ));
    }
    if kind.is_some_and(|k| k != SourceKind::Files) && !is_admin(user) {
        return Err(AppError::forbidden(crate::tr!(
            "only admins may add Confluence, Jira or GitLab sources"
        )));
    }
    let visibility = Visibility::parse(form.visibility.trim());
    if visibility.is_none() {
        errors.push(FieldError::new(
            "visibility",
            "one_of",
            crate::tr!("visibility must be everyone, members or owner"),
        ));
    }
    if visibility == Some(Visibility::Everyone) && !is_admin(user) {
        errors.push(FieldError::new(
            "visibility",
            "admin_only",
            crate::tr!("only admins may share a source with everyone"),
        ));
    }
    let mut members = Vec::new();
    for (i, email) in form.members.iter().enumerate() {
        let email = email.trim().to_lowercase();
        if email.is_empty() {
            continue;
        }
        match state.store.get_user_by_email(&email).await {
            Ok(u) => members.push(u.user.id),
            Err(StoreError::NotFound) => errors.push(FieldError::new(
                &format!("members[{i}]"),
                "unknown_user",
                crate::tr!("no user with the e-mail %{email}", email = email),
            )),
            Err(e) => return Err(e.into()),
        }
    }
    members.sort_unstable();
    members.dedup();
    let schedule = form.schedule.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if let Some(expr) = schedule
        && CronParser::builder().seconds(Seconds::Optional).build().parse(expr).is_err()
    {
        errors.push(FieldError::new(
            "schedule",
            "cron",
            crate::tr!(
                "schedule must be a cron expression such as `0 */30 * * * *` (seconds optional)"
            ),
        ));
    }
    if !form.config.is_object() {
        errors.push(FieldError::new(
            "config",
            "object",
            crate::tr!("config must be a JSON object"),
        ));
    } else if form.config.to_string().len() > MAX_CONFIG_BYTES {
        errors.push(FieldError::new(
            "config",
            "max_size",
            format!("config must be at most {} KiB of JSON", MAX_CONFIG_BYTES / 1024),
        ));
    }
    if form.secret.as_deref().is_some_and(|s| s.len() > MAX_SECRET_BYTES) {
        errors.push(FieldError::new(
            "secret",
            "max_size",
            crate::tr!(
                "secret must be at most %{MAX_SECRET_BYTES} bytes",
                MAX_SECRET_BYTES = MAX_SECRET_BYTES
            ),
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation { errors });
    }
    let secret = form
        .secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_string()));
    Ok(Parsed {
        kind: kind.unwrap_or(SourceKind::Files),
        visibility: visibility.unwrap_or(Visibility::Owner),
        members,
        schedule: schedule.map(str::to_string),
        secret,
    })
}

/// A stored credential goes only to the origin it was entered for: a form that moves the base
/// URL to another scheme, host or port must carry the secret again.
fn keep_secret_at_its_origin(
    stored_config: &str,
    form: &serde_json::Value,
) -> Result<(), AppError> {
    let stored: serde_json::Value = serde_json::from_str(stored_config).unwrap_or_default();
    let base = |v: &serde_json::Value| {
        v.get("base_url").and_then(|b| b.as_str()).and_then(crate::outbound::origin)
    };
    if base(&stored) != base(form) {
        return Err(AppError::invalid(
            "secret",
            "required_for_new_origin",
            crate::tr!(
                "the base URL now points elsewhere: enter the credentials again to send them there"
            ),
        ));
    }
    Ok(())
}

fn connector_error(e: ConnectorError) -> AppError {
    match e {
        ConnectorError::Config { field, message } => AppError::invalid(&field, "invalid", message),
        ConnectorError::Unauthorized { .. } => {
            AppError::invalid("secret", "rejected", e.to_string())
        }
        other => AppError::Unavailable { message: other.to_string() },
    }
}

fn seal(state: &AppState, secret: &SecretString) -> Result<String, AppError> {
    let boxed = state
        .llm
        .secrets()
        .ok_or_else(|| internal("no deployment key to seal source credentials"))?;
    boxed.seal(secret).map_err(internal)
}

fn open(state: &AppState, sealed: &str) -> Result<SecretString, AppError> {
    let boxed = state
        .llm
        .secrets()
        .ok_or_else(|| internal("no deployment key to open source credentials"))?;
    boxed.open(sealed).map_err(|_| {
        AppError::invalid(
            "secret",
            "unreadable",
            crate::tr!("the stored credentials cannot be opened; enter them again"),
        )
    })
}

/// Creates a source; connector sources get their first sync at once.
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn create(
    state: &AppState,
    user: &Principal,
    form: SourceForm,
) -> Result<Source, AppError> {
    let p = parse_form(state, user, &form).await?;
    if p.kind != SourceKind::Files {
        connectors::build(p.kind, &form.config, p.secret.clone(), state.urls)
            .map_err(connector_error)?;
    }
    let sealed = p.secret.as_ref().map(|s| seal(state, s)).transpose()?;
    let row = NewSource {
        name: form.name.trim().to_string(),
        kind: p.kind.as_str().into(),
        config: form.config.to_string(),
        secret: sealed,
        visibility: p.visibility.as_str().into(),
        owner_id: user.user_id,
        members: p.members,
        schedule: p.schedule,
        enabled: form.enabled,
        at: Utc::now(),
    };
    let audit = audit_by(
        user,
        "source.create",
        String::new(),
        serde_json::json!({ "name": row.name, "kind": row.kind, "visibility": row.visibility }),
    );
    let s = state.store.create_source(&row, audit).await.map_err(|e| match e {
        StoreError::Conflict { .. } => {
            AppError::invalid("name", "unique", crate::tr!("a source with this name exists"))
        }
        e => e.into(),
    })?;
    if p.kind != SourceKind::Files {
        enqueue_sync(state, user.user_id, s.id, "create").await?;
    }
    Ok(to_model(user, s))
}

/// Replaces a source's settings (an empty secret keeps the stored one).
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn update(
    state: &AppState,
    user: &Principal,
    id: i64,
    form: SourceForm,
) -> Result<Source, AppError> {
    let current = managed(state, user, id).await?;
    let p = parse_form(state, user, &form).await?;
    if p.kind.as_str() != current.kind {
        return Err(AppError::invalid(
            "kind",
            "immutable",
            crate::tr!("a source's kind cannot change"),
        ));
    }
    if p.kind != SourceKind::Files {
        let secret = match (&p.secret, &current.secret) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(sealed)) => {
                keep_secret_at_its_origin(&current.config, &form.config)?;
                Some(open(state, sealed)?)
            }
            (None, None) => None,
        };
        connectors::build(p.kind, &form.config, secret, state.urls).map_err(connector_error)?;
    }
    let sealed = p.secret.as_ref().map(|s| seal(state, s)).transpose()?;
    let row = NewSource {
        name: form.name.trim().to_string(),
        kind: p.kind.as_str().into(),
        config: form.config.to_string(),
        secret: sealed.clone(),
        visibility: p.visibility.as_str().into(),
        owner_id: current.owner_id,
        members: p.members,
        schedule: p.schedule,
        enabled: form.enabled,
        at: Utc::now(),
    };
    let audit = audit_by(
        user,
        "source.update",
        format!("source:{id}"),
        serde_json::json!({ "name": row.name, "visibility": row.visibility, "secret_changed": sealed.is_some() }),
    );
    let s = state.store.update_source(id, &row, sealed.is_none(), audit).await.map_err(
        |e| match e {
            StoreError::Conflict { .. } => {
                AppError::invalid("name", "unique", crate::tr!("a source with this name exists"))
            }
            e => not_found(e),
        },
    )?;
    // A visibility change needs no index work: every search reads the visible sources afresh
    // and cached pages are keyed by them.
    Ok(to_model(user, s))
}

/// Deletes a source with all its documents.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn delete(state: &AppState, user: &Principal, id: i64) -> Result<(), AppError> {
    let s = managed(state, user, id).await?;
    let audit = audit_by(
        user,
        "source.delete",
        format!("source:{id}"),
        serde_json::json!({ "name": s.name }),
    );
    state.store.delete_source(id, audit).await.map_err(not_found)?;
    state.knowledge.notify_changed();
    Ok(())
}

/// Checks a form's URL and credentials with one call (an empty secret uses the stored one of
/// source `id`).
#[tracing::instrument(skip_all, fields(user.id = user.user_id))]
pub async fn test_connection(
    state: &AppState,
    user: &Principal,
    id: Option<i64>,
    form: SourceForm,
) -> Result<String, AppError> {
    let p = parse_form(state, user, &form).await?;
    if p.kind == SourceKind::Files {
        return Ok("File sources need no connection.".into());
    }
    let secret = match (&p.secret, id) {
        (Some(s), _) => Some(s.clone()),
        (None, Some(id)) => {
            let s = managed(state, user, id).await?;
            if s.secret.is_some() {
                keep_secret_at_its_origin(&s.config, &form.config)?;
            }
            s.secret.as_deref().map(|sealed| open(state, sealed)).transpose()?
        }
        (None, None) => None,
    };
    let connector =
        connectors::build(p.kind, &form.config, secret, state.urls).map_err(connector_error)?;
    connector.test_connection().await.map_err(connector_error)
}

async fn enqueue_sync(
    state: &AppState,
    owner: i64,
    source_id: i64,
    trigger: &str,
) -> Result<Job, AppError> {
    let now = Utc::now();
    let mut job = NewJob::new(
        SYNC_SOURCE,
        serde_json::to_value(SyncPayload { source_id, trigger: trigger.into() })
            .map_err(internal)?,
        now,
    )
    .owner(owner)
    .priority(JobPriority::Normal);
    job.max_attempts = SYNC_ATTEMPTS;
    if trigger == "upload" {
        job = burst(job, source_id, now, state.knowledge.settings().upload_sync_delay);
    }
    let job = state.store.enqueue_job(job).await?;
    state.jobs.notify_enqueued();
    Ok(job)
}

/// Uploads and deletions of files share one sync per window of `delay`: every change in the
/// window gets the window's key (the store returns the job already there) and the sync starts
/// when the window closes, after the last change in it was stored.
fn burst(
    job: NewJob,
    source_id: i64,
    now: chrono::DateTime<Utc>,
    delay: std::time::Duration,
) -> NewJob {
    let window = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX).max(1);
    let slot = now.timestamp_millis().div_euclid(window);
    let closes =
        chrono::DateTime::from_timestamp_millis(slot.saturating_add(1).saturating_mul(window))
            .unwrap_or(now);
    job.idempotency_key(format!("sync:{source_id}:files:{window}:{slot}")).run_after(closes)
}

/// Starts a sync of the source now.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn sync_now(state: &AppState, user: &Principal, id: i64) -> Result<Job, AppError> {
    managed(state, user, id).await?;
    enqueue_sync(state, user.user_id, id, "manual").await
}

/// A source's sync runs, newest first.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn runs(state: &AppState, user: &Principal, id: i64) -> Result<Vec<SyncRun>, AppError> {
    visible(state, user, id).await?;
    Ok(state.store.list_sync_runs(id, 50).await?)
}

/// A file source's files.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn files(
    state: &AppState,
    user: &Principal,
    id: i64,
) -> Result<Vec<SourceFile>, AppError> {
    visible(state, user, id).await?;
    Ok(state.store.list_source_files(id).await?)
}

/// Keeps an uploaded file and indexes it. The content is checked first (type sniffed from the
/// bytes, size, text extractable), so a bad upload is refused with nothing stored.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id))]
pub async fn upload(
    state: &AppState,
    user: &Principal,
    id: i64,
    name: &str,
    bytes: Vec<u8>,
) -> Result<SourceFile, AppError> {
    let s = managed(state, user, id).await?;
    if s.kind != SourceKind::Files.as_str() {
        return Err(AppError::invalid(
            "source",
            "kind",
            crate::tr!("files can only be uploaded to a file source"),
        ));
    }
    let name = name.trim();
    let name = if name.is_empty() { "upload" } else { name };
    if model::has_unsafe_chars(name) {
        return Err(AppError::invalid(
            "file",
            "name_format",
            crate::tr!("the file name must not contain control or text-direction characters"),
        ));
    }
    if name.chars().count() > 200 {
        return Err(AppError::invalid(
            "file",
            "name_length",
            crate::tr!("the file name must be at most 200 characters"),
        ));
    }
    let limit = state.knowledge.settings().max_upload_bytes;
    if bytes.len() > limit {
        return Err(AppError::invalid(
            "file",
            "max_size",
            format!("the file is {} bytes; the limit is {limit} bytes", bytes.len()),
        ));
    }
    let checked = state
        .knowledge
        .extractor()
        .extract(&bytes, name, limit, Some(std::time::Duration::from_secs(10)))
        .await;
    let format = match checked {
        Ok((format, _)) => format,
        Err(extract::ExtractError::Unavailable(reason)) => {
            tracing::warn!(%reason, "upload not checked: extraction unavailable");
            return Err(AppError::Unavailable { message: reason });
        }
        Err(e) => {
            return Err(AppError::invalid("file", e.rule(), format!("{name}: {e}")));
        }
    };
    use sha2::Digest;
    let file = state
        .store
        .insert_source_file(&NewSourceFile {
            source_id: id,
            name: name.to_string(),
            format: format.as_str().into(),
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            bytes,
            uploaded_by: user.user_id,
            at: Utc::now(),
        })
        .await?;
    enqueue_sync(state, user.user_id, id, "upload").await?;
    Ok(file)
}

/// An uploaded file's bytes, for whoever may see the source.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id, file.id = file_id))]
pub async fn download(
    state: &AppState,
    user: &Principal,
    id: i64,
    file_id: i64,
) -> Result<(SourceFile, Vec<u8>), AppError> {
    visible(state, user, id).await?;
    let (f, bytes) = state.store.get_source_file(file_id).await.map_err(|e| match e {
        StoreError::NotFound => AppError::not_found("file"),
        e => e.into(),
    })?;
    if f.source_id != id {
        return Err(AppError::not_found("file"));
    }
    Ok((f, bytes))
}

/// Deletes a file; the next sync (enqueued now) removes its document.
#[tracing::instrument(skip_all, fields(user.id = user.user_id, id = id, file.id = file_id))]
pub async fn delete_file(
    state: &AppState,
    user: &Principal,
    id: i64,
    file_id: i64,
) -> Result<(), AppError> {
    managed(state, user, id).await?;
    state.store.delete_source_file(id, file_id).await.map_err(|e| match e {
        StoreError::NotFound => AppError::not_found("file"),
        e => e.into(),
    })?;
    enqueue_sync(state, user.user_id, id, "upload").await?;
    Ok(())
}

/// Enqueues the syncs whose schedule fired since their last sync (once per firing across
/// instances: the idempotency key names the source and the fire time).
#[tracing::instrument(skip_all)]
pub async fn enqueue_scheduled(state: &AppState) -> anyhow::Result<usize> {
    let now = Utc::now();
    let mut n = 0;
    for s in state.store.list_sources().await? {
        let Some(expr) = s.schedule.as_deref().filter(|_| s.enabled) else { continue };
        let Ok(cron) = CronParser::builder().seconds(Seconds::Optional).build().parse(expr) else {
            continue;
        };
        let from = s.last_sync_at.unwrap_or(s.created_at);
        let Ok(next) = cron.find_next_occurrence(&from, false) else { continue };
        if next > now {
            continue;
        }
        let mut job = NewJob::new(
            SYNC_SOURCE,
            serde_json::to_value(SyncPayload { source_id: s.id, trigger: "schedule".into() })?,
            now,
        )
        .owner(s.owner_id)
        .idempotency_key(format!("sync:{}:{}", s.id, next.timestamp()));
        job.max_attempts = SYNC_ATTEMPTS;
        state.store.enqueue_job(job).await?;
        n += 1;
    }
    if n > 0 {
        state.jobs.notify_enqueued();
    }
    Ok(n)
}
