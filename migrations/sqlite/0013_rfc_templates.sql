-- Admins' RFC templates. A copy of a template keeps its whole definition here as JSON; a row
-- with no definition only switches a built-in template (whose text stays compiled in) on or off.
CREATE TABLE rfc_templates (
    key         TEXT    PRIMARY KEY,
    definition  TEXT,
    enabled     BOOLEAN NOT NULL,
    updated_at  BIGINT  NOT NULL,
    updated_by  BIGINT  REFERENCES users(id) ON DELETE SET NULL
);
