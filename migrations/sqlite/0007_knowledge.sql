-- Knowledge sources, their documents and chunks, the embedding cache, sync runs, uploaded files,
-- the index change log that keeps every instance's search index current, and search analytics.
-- Timestamps are Unix ms (UTC).
CREATE TABLE sources (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,               -- confluence | jira | gitlab | files
    config       TEXT    NOT NULL,               -- JSON, no secrets
    secret       TEXT,                           -- credentials sealed with the deployment key
    visibility   TEXT    NOT NULL,               -- everyone | members | owner
    owner_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    schedule     TEXT,                           -- cron expression, NULL for manual only
    enabled      BOOLEAN NOT NULL DEFAULT TRUE,
    cursor       TEXT,                           -- returned by the last completed sync
    checkpoint   TEXT,                           -- where an interrupted sync resumes
    last_sync_at BIGINT,
    last_status  TEXT,
    last_error   TEXT,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE UNIQUE INDEX sources_name ON sources(name);

CREATE TABLE source_members (
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (source_id, user_id)
);
CREATE INDEX source_members_user ON source_members(user_id);

CREATE TABLE documents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id    INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    external_id  TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    url          TEXT    NOT NULL,
    author       TEXT,
    doc_type     TEXT    NOT NULL,
    language     TEXT,
    labels       TEXT    NOT NULL,               -- JSON array of strings
    updated_at   BIGINT  NOT NULL,               -- at the source
    content_hash TEXT    NOT NULL,
    chunk_count  INTEGER NOT NULL,
    indexed_at   BIGINT  NOT NULL,
    UNIQUE (source_id, external_id)
);

CREATE TABLE chunks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id  INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ord          INTEGER NOT NULL,
    heading      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    content_hash TEXT    NOT NULL
);
CREATE INDEX chunks_document ON chunks(document_id, ord);

-- Vectors keyed by what was embedded and by which model: unchanged text is never embedded twice.
CREATE TABLE embeddings (
    content_hash TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    dim          INTEGER NOT NULL,
    vector       BLOB    NOT NULL,               -- little-endian f32 × dim
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (content_hash, model)
);

CREATE TABLE source_files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    format      TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    sha256      TEXT    NOT NULL,
    bytes       BLOB    NOT NULL,
    uploaded_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX source_files_source ON source_files(source_id);

CREATE TABLE sync_runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source_id   INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    job_id      INTEGER,
    trigger     TEXT    NOT NULL,                -- manual | schedule | upload | create
    status      TEXT    NOT NULL,                -- running | succeeded | failed | cancelled
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    processed   BIGINT  NOT NULL DEFAULT 0,
    total       BIGINT,
    added       BIGINT  NOT NULL DEFAULT 0,
    updated     BIGINT  NOT NULL DEFAULT 0,
    unchanged   BIGINT  NOT NULL DEFAULT 0,
    deleted     BIGINT  NOT NULL DEFAULT 0,
    errors      BIGINT  NOT NULL DEFAULT 0,
    log         TEXT    NOT NULL DEFAULT '',     -- newline-separated, capped
    error       TEXT
);
CREATE INDEX sync_runs_source ON sync_runs(source_id, id);

-- Every change to a document's indexed content appends here; each instance's index applies the
-- entries after the last one it saw.
CREATE TABLE index_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL,
    at          BIGINT  NOT NULL
);

CREATE TABLE search_queries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    query      TEXT    NOT NULL,
    filters    TEXT    NOT NULL,
    results    BIGINT  NOT NULL,
    latency_us BIGINT  NOT NULL,
    cached     BOOLEAN NOT NULL,
    at         BIGINT  NOT NULL
);
CREATE INDEX search_queries_at ON search_queries(at);
CREATE INDEX search_queries_user ON search_queries(user_id, at);

CREATE TABLE search_clicks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    query_id    INTEGER NOT NULL REFERENCES search_queries(id) ON DELETE CASCADE,
    user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    position    INTEGER NOT NULL,
    document_id INTEGER NOT NULL,
    at          BIGINT  NOT NULL
);
CREATE INDEX search_clicks_at ON search_clicks(at);
