-- The RFC studio: an RFC is a list of sections with stable ids, the wizard's questions and
-- answers, and the knowledge chunks it is grounded on. Timestamps are Unix ms (UTC).
CREATE TABLE rfcs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    year            INTEGER NOT NULL,
    seq             INTEGER NOT NULL,                -- RFC-<year>-<seq, 3 digits at least>
    title           TEXT    NOT NULL,
    task_type       TEXT    NOT NULL CHECK (task_type IN ('new_feature', 'modify_existing', 'analyze_current')),
    template        TEXT    NOT NULL,
    language        TEXT    NOT NULL CHECK (language IN ('en', 'ru')),
    status          TEXT    NOT NULL CHECK (status IN ('clarifying', 'grounding', 'drafting', 'draft')),
    description     TEXT    NOT NULL,
    owner_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tags            TEXT    NOT NULL DEFAULT '[]',   -- JSON array of strings
    source_ids      TEXT,                            -- JSON array of knowledge source ids; NULL: all the owner may see
    question_rounds INTEGER NOT NULL DEFAULT 0,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    UNIQUE (year, seq)
);
CREATE INDEX rfcs_owner ON rfcs(owner_id, updated_at);
CREATE INDEX rfcs_updated ON rfcs(updated_at);

CREATE TABLE rfc_sections (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    rfc_id               INTEGER NOT NULL REFERENCES rfcs(id) ON DELETE CASCADE,
    template_key         TEXT,                       -- NULL: added by a person
    heading              TEXT    NOT NULL,
    body                 TEXT    NOT NULL DEFAULT '',
    position             INTEGER NOT NULL,
    provenance           TEXT    NOT NULL CHECK (provenance IN ('ai', 'human', 'template')),
    state                TEXT    NOT NULL CHECK (state IN ('pending', 'writing', 'done', 'failed')),
    citations            TEXT    NOT NULL DEFAULT '[]', -- JSON array of source labels, all resolving
    dropped_citations    INTEGER NOT NULL DEFAULT 0,
    proposed_body        TEXT,                       -- a regenerated text awaiting acceptance
    proposed_instruction TEXT,
    updated_at           BIGINT  NOT NULL
);
CREATE INDEX rfc_sections_rfc ON rfc_sections(rfc_id, position);

CREATE TABLE rfc_questions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rfc_id      INTEGER NOT NULL REFERENCES rfcs(id) ON DELETE CASCADE,
    round       INTEGER NOT NULL,
    position    INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'single_choice', 'multiple_choice', 'yes_no', 'number')),
    text        TEXT    NOT NULL,
    why         TEXT    NOT NULL,
    placeholder TEXT    NOT NULL,
    options     TEXT    NOT NULL DEFAULT '[]',       -- JSON array of strings
    origin      TEXT    NOT NULL CHECK (origin IN ('model', 'template')),
    section     TEXT,
    answer      TEXT,                                -- JSON, model::Answer
    skipped     BOOLEAN NOT NULL DEFAULT FALSE,
    answered_at BIGINT
);
CREATE INDEX rfc_questions_rfc ON rfc_questions(rfc_id, round, position);

-- A snapshot of each chunk as it was retrieved: citations keep resolving after a re-sync.
CREATE TABLE rfc_sources (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    rfc_id      INTEGER NOT NULL REFERENCES rfcs(id) ON DELETE CASCADE,
    label       INTEGER NOT NULL,                    -- [S<label>], never reused within an RFC
    chunk_id    BIGINT  NOT NULL,
    document_id BIGINT  NOT NULL,
    source_id   BIGINT  NOT NULL,
    title       TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    heading     TEXT    NOT NULL,
    excerpt     TEXT    NOT NULL,
    query       TEXT,                                -- NULL: added by a person
    removed     BOOLEAN NOT NULL DEFAULT FALSE,
    added_at    BIGINT  NOT NULL,
    UNIQUE (rfc_id, label),
    UNIQUE (rfc_id, chunk_id)
);

-- Model calls made for an RFC carry its id; the ledger outlives the RFC.
ALTER TABLE llm_calls ADD COLUMN rfc_id BIGINT;
CREATE INDEX llm_calls_rfc ON llm_calls(rfc_id) WHERE rfc_id IS NOT NULL;
