-- LLM gateway: prices, the call ledger, budgets with atomic reservations, alerts once per period.
-- Money is integer nano-dollars (1e-9 USD); prices are nano-dollars per million tokens.

-- model is an exact model name, or a prefix ending in '*' (e.g. 'llama*'); the longest match wins.
CREATE TABLE llm_prices (
    model                     TEXT   PRIMARY KEY,
    input_per_mtok            BIGINT NOT NULL CHECK (input_per_mtok >= 0),
    output_per_mtok           BIGINT NOT NULL CHECK (output_per_mtok >= 0),
    cached_input_per_mtok     BIGINT NOT NULL CHECK (cached_input_per_mtok >= 0),
    updated_at                BIGINT NOT NULL,
    updated_by                BIGINT REFERENCES users(id) ON DELETE SET NULL
);

-- Every call: streamed, failed, abandoned and cached ones included.
CREATE TABLE llm_calls (
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
                        CHECK (outcome IN ('ok', 'error', 'interrupted', 'abandoned', 'cache_hit')),
    streamed            BOOLEAN NOT NULL,
    price_known         BOOLEAN NOT NULL,
    error               TEXT,
    request_id          TEXT
);
CREATE INDEX llm_calls_user_at ON llm_calls(user_id, at);
CREATE INDEX llm_calls_at ON llm_calls(at);

-- Limits: scope 'global' or 'user:<id>' (a user without a row gets the configured default).
CREATE TABLE budgets (
    scope       TEXT   PRIMARY KEY,
    period      TEXT   NOT NULL CHECK (period IN ('daily', 'weekly', 'monthly')),
    limit_nanos BIGINT NOT NULL CHECK (limit_nanos >= 0),
    updated_at  BIGINT NOT NULL,
    updated_by  BIGINT REFERENCES users(id) ON DELETE SET NULL
);

-- Spend and open reservations per budget scope and period (period_start: UTC ms of the
-- period's start in the configured time zone). A reservation only succeeds while
-- spent + reserved + amount <= limit, in one statement, so concurrent calls cannot overshoot.
CREATE TABLE budget_usage (
    scope          TEXT   NOT NULL,
    period_start   BIGINT NOT NULL,
    spent_nanos    BIGINT NOT NULL DEFAULT 0,
    reserved_nanos BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, period_start)
);

-- Each threshold (80, 95, 100 %) alerts once per budget and period.
CREATE TABLE budget_alerts (
    scope        TEXT    NOT NULL,
    period_start BIGINT  NOT NULL,
    threshold    INTEGER NOT NULL,
    at           BIGINT  NOT NULL,
    PRIMARY KEY (scope, period_start, threshold)
);

-- Public list prices (USD per million tokens: input / output / cached input) as of 2026-11,
-- in nano-dollars. Admins edit them; an unknown model is priced at llm.default_price and flagged.
INSERT INTO llm_prices (model, input_per_mtok, output_per_mtok, cached_input_per_mtok, updated_at) VALUES
    ('gpt-4o*',                 2500000000, 10000000000, 1250000000, 0),
    ('gpt-4o-mini*',             150000000,   600000000,   75000000, 0),
    ('gpt-4.1*',                2000000000,  8000000000,  500000000, 0),
    ('gpt-4.1-mini*',            400000000,  1600000000,  100000000, 0),
    ('gpt-4.1-nano*',            100000000,   400000000,   25000000, 0),
    ('o3*',                     2000000000,  8000000000,  500000000, 0),
    ('o3-mini*',                1100000000,  4400000000,  550000000, 0),
    ('o4-mini*',                1100000000,  4400000000,  275000000, 0),
    ('text-embedding-3-small',    20000000,           0,          0, 0),
    ('text-embedding-3-large',   130000000,           0,          0, 0),
    ('claude-opus-4*',         15000000000, 75000000000, 1500000000, 0),
    ('claude-sonnet-4*',        3000000000, 15000000000,  300000000, 0),
    ('claude-3-7-sonnet*',      3000000000, 15000000000,  300000000, 0),
    ('claude-3-5-haiku*',        800000000,  4000000000,   80000000, 0),
    ('llama*',                           0,           0,          0, 0),
    ('qwen*',                            0,           0,          0, 0),
    ('mistral*',                         0,           0,          0, 0),
    ('gemma*',                           0,           0,          0, 0),
    ('phi*',                             0,           0,          0, 0),
    ('nomic-embed*',                     0,           0,          0, 0);
