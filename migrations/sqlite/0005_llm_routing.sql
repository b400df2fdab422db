-- LLM gateway, run-time configuration: providers added by admins (keys encrypted with the
-- deployment's secret key, which is never stored here), routing settings, model quality.

CREATE TABLE llm_providers (
    name         TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('openai', 'anthropic', 'ollama')),
    base_url     TEXT    NOT NULL,
    -- 'v1:' || base64(nonce || XChaCha20-Poly1305 ciphertext); NULL when the provider needs no key.
    api_key_enc  TEXT,
    private      BOOLEAN NOT NULL,
    azure        BOOLEAN NOT NULL,
    timeout_secs BIGINT  NOT NULL CHECK (timeout_secs BETWEEN 1 AND 3600),
    max_retries  INTEGER NOT NULL CHECK (max_retries BETWEEN 0 AND 10),
    enabled      BOOLEAN NOT NULL,
    updated_at   BIGINT  NOT NULL,
    updated_by   BIGINT  REFERENCES users(id) ON DELETE SET NULL
);

-- One JSON document per key: 'routing' (strategy, per-feature routes, private pins).
CREATE TABLE llm_settings (
    key        TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by BIGINT REFERENCES users(id) ON DELETE SET NULL
);

-- Relative answer quality 0-100 for quality-optimised and balanced routing (NULL: 50).
ALTER TABLE llm_prices ADD COLUMN quality INTEGER CHECK (quality BETWEEN 0 AND 100);
UPDATE llm_prices SET quality = 90 WHERE model IN ('claude-opus-4*', 'o3*');
UPDATE llm_prices SET quality = 85 WHERE model IN ('claude-sonnet-4*', 'gpt-4.1*');
UPDATE llm_prices SET quality = 80 WHERE model IN ('gpt-4o*', 'claude-3-7-sonnet*', 'o4-mini*');
UPDATE llm_prices SET quality = 72 WHERE model IN ('o3-mini*', 'gpt-4.1-mini*');
UPDATE llm_prices SET quality = 65 WHERE model IN ('gpt-4o-mini*', 'claude-3-5-haiku*');
UPDATE llm_prices SET quality = 55 WHERE model IN ('gpt-4.1-nano*', 'qwen*', 'llama*', 'mistral*', 'gemma*');
UPDATE llm_prices SET quality = 45 WHERE model = 'phi*';

CREATE INDEX llm_calls_unpriced ON llm_calls(model) WHERE NOT price_known;
