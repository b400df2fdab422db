-- Settlement that cannot be lost: every open reservation is a row with an owner (the instance
-- serving the call) and an expiry the owner keeps renewing. A reaper on any instance settles
-- expired ones as 'orphaned' calls; the ledger says which token counts were estimated.

-- SQLite cannot change a CHECK constraint in place: the ledger is rebuilt with the new outcome
-- and the new column, keeping every row and id.
CREATE TABLE llm_calls_new (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  BIGINT  NOT NULL,
    user_id             BIGINT  REFERENCES users(id) ON DELETE SET NULL,
    feature             TEXT    NOT NULL,
    provider            TEXT    NOT NULL,
    model               TEXT    NOT NULL,
    input_tokens        BIGINT  NOT NULL,
    output_tokens       BIGINT  NOT NULL,
    cached_input_tokens BIGINT  NOT NULL,
    cost_nanos          BIGINT  NOT NULL,
    latency_ms          BIGINT  NOT NULL,
    outcome             TEXT    NOT NULL
                        CHECK (outcome IN ('ok', 'error', 'interrupted', 'abandoned', 'cache_hit',
                                           'orphaned')),
    streamed            BOOLEAN NOT NULL,
    price_known         BOOLEAN NOT NULL,
    error               TEXT,
    request_id          TEXT,
    -- Some token count was estimated by Blueprint, not reported by the provider.
    usage_estimated     BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO llm_calls_new (id, at, user_id, feature, provider, model, input_tokens, output_tokens,
    cached_input_tokens, cost_nanos, latency_ms, outcome, streamed, price_known, error, request_id)
SELECT id, at, user_id, feature, provider, model, input_tokens, output_tokens,
    cached_input_tokens, cost_nanos, latency_ms, outcome, streamed, price_known, error, request_id
FROM llm_calls;
DROP TABLE llm_calls;
ALTER TABLE llm_calls_new RENAME TO llm_calls;
CREATE INDEX llm_calls_user_at ON llm_calls(user_id, at);
CREATE INDEX llm_calls_at ON llm_calls(at);
CREATE INDEX llm_calls_unpriced ON llm_calls(model) WHERE NOT price_known;

-- One row per admitted call until it is settled. budgets: JSON [[scope, period_start], …];
-- price_*: nano-dollars per million tokens, as priced when the call was admitted.
-- reaped_call_id: the 'orphaned' ledger row the reaper wrote (kept a day, so a call that was
-- only slow, not lost, corrects that row instead of being billed twice).
CREATE TABLE llm_reservations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    owner             TEXT    NOT NULL,
    expires_at        BIGINT  NOT NULL,
    amount_nanos      BIGINT  NOT NULL CHECK (amount_nanos >= 0),
    budgets           TEXT    NOT NULL,
    at                BIGINT  NOT NULL,
    user_id           BIGINT,
    feature           TEXT    NOT NULL,
    provider          TEXT    NOT NULL,
    model             TEXT    NOT NULL,
    prompt_tokens     BIGINT  NOT NULL,
    input_per_mtok    BIGINT  NOT NULL,
    streamed          BOOLEAN NOT NULL,
    price_known       BOOLEAN NOT NULL,
    request_id        TEXT,
    reaped_call_id    BIGINT
);
CREATE INDEX llm_reservations_owner ON llm_reservations(owner);
CREATE INDEX llm_reservations_expires ON llm_reservations(expires_at);
