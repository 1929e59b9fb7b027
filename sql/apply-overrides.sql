-- The default per-model timeout/num_retries policy (opsctl/data/policy.toml)
-- as plain SQL, for operators without opsctl:
--
--   psql -X -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -f sql/apply-overrides.sql
--
-- Same result as `opsctl db apply-overrides --yes` with the default policy
-- (a test checks this), minus the plan and the undo file: run
-- `opsctl db apply-overrides --dry-run` first if you can.
--
-- Patterns match the plaintext model_name column: exact names, SQL LIKE
-- (% _) and shell globs (* ?). When several match one name, an exact name
-- wins, then the pattern with the most literal characters, then the earlier
-- tier, then the earlier entry. Values are merged into litellm_params as
-- JSON numbers (LiteLLM reads any string there as ciphertext); every other
-- key is kept. Rows already compliant are not touched, so a second run
-- updates 0 rows. A row whose litellm_params is not a JSON object (an array,
-- a string) is listed first and left alone: `||` would wrap it in an array
-- that grows on every run.

BEGIN;

SELECT model_name, model_id, jsonb_typeof(litellm_params) AS "litellm_params is not an object: left alone"
FROM "LiteLLM_ProxyModelTable"
WHERE jsonb_typeof(litellm_params) <> 'object'
ORDER BY model_name, model_id;

WITH rules (pattern, tier_index, rule_index, timeout, num_retries) AS (
    VALUES
        -- tier "local"
        ('vllm-qwen2.5-0.5b-instruct', 0, 0, 30, 1),
        ('llamacpp-local', 0, 1, 30, 1),
        ('gemma3-1b-local', 0, 2, 30, 1),
        ('llama3.2-1b-local', 0, 3, 30, 1),
        ('local-embeddings', 0, 4, 30, 1),
        ('local-rerank', 0, 5, 30, 1),
        -- tier "cloud"
        ('%cloud%', 1, 6, 90, 2),
        ('deepseek-*', 1, 7, 90, 2),
        ('chat-default', 1, 8, 90, 2),
        ('embeddings-default', 1, 9, 90, 2),
        ('rerank-default', 1, 10, 90, 2)
),
ranked_rules AS (
    SELECT rules.*,
           translate(pattern, '*?', '%_') AS like_pattern,
           pattern !~ '[%_*?]' AS is_exact,
           length(translate(pattern, '%_*?', '')) AS literal_chars
    FROM rules
),
winners AS (
    SELECT DISTINCT ON (m.model_id) m.model_id, r.timeout, r.num_retries
    FROM "LiteLLM_ProxyModelTable" AS m
    JOIN ranked_rules AS r ON m.model_name LIKE r.like_pattern ESCAPE ''
    ORDER BY m.model_id, r.is_exact DESC, r.literal_chars DESC, r.tier_index, r.rule_index
)
UPDATE "LiteLLM_ProxyModelTable" AS t
SET litellm_params = t.litellm_params
        || jsonb_build_object('timeout', w.timeout, 'num_retries', w.num_retries),
    updated_at = now() AT TIME ZONE 'UTC',
    updated_by = 'opsctl-sql'
FROM winners AS w
WHERE t.model_id = w.model_id
  AND jsonb_typeof(t.litellm_params) = 'object'
  AND (t.litellm_params -> 'timeout' IS DISTINCT FROM to_jsonb(w.timeout)
       OR t.litellm_params -> 'num_retries' IS DISTINCT FROM to_jsonb(w.num_retries))
RETURNING t.model_name, t.model_id, w.timeout, w.num_retries;

COMMIT;
