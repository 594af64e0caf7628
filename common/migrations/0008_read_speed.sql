-- 0008: the read model at a year of 10,000 calls a week (`bench/mcp_latency.py --reps 5000`).

-- Spend by team without a join through calls: each usage row and tier-1 lookup carries the
-- rep of its call, filled on insert (so every writer stays as it was) and kept when a call
-- changes hands. Erasure unlinks the call id; the rep id stays with the dollars.
ALTER TABLE claude_usage ADD COLUMN IF NOT EXISTS rep_id text;
ALTER TABLE cache_lookups ADD COLUMN IF NOT EXISTS rep_id text;
CREATE OR REPLACE FUNCTION fill_rep_id() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.rep_id IS NULL AND NEW.call_id IS NOT NULL THEN
        SELECT primary_user_id INTO NEW.rep_id FROM calls WHERE id = NEW.call_id;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS claude_usage_rep ON claude_usage;
CREATE TRIGGER claude_usage_rep BEFORE INSERT ON claude_usage
    FOR EACH ROW EXECUTE FUNCTION fill_rep_id();
DROP TRIGGER IF EXISTS cache_lookups_rep ON cache_lookups;
CREATE TRIGGER cache_lookups_rep BEFORE INSERT ON cache_lookups
    FOR EACH ROW EXECUTE FUNCTION fill_rep_id();
CREATE OR REPLACE FUNCTION usage_follows_call() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE claude_usage u SET rep_id = n.primary_user_id
      FROM new_rows n JOIN old_rows o USING (id)
     WHERE u.call_id = n.id AND n.primary_user_id IS DISTINCT FROM o.primary_user_id;
    UPDATE cache_lookups l SET rep_id = n.primary_user_id
      FROM new_rows n JOIN old_rows o USING (id)
     WHERE l.call_id = n.id AND n.primary_user_id IS DISTINCT FROM o.primary_user_id;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS usage_follows_call ON calls;
CREATE TRIGGER usage_follows_call AFTER UPDATE ON calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_follows_call();
UPDATE claude_usage u SET rep_id = c.primary_user_id
  FROM calls c WHERE c.id = u.call_id AND u.rep_id IS NULL;
UPDATE cache_lookups l SET rep_id = c.primary_user_id
  FROM calls c WHERE c.id = l.call_id AND l.rep_id IS NULL;
CREATE INDEX IF NOT EXISTS claude_usage_rep_at_idx ON claude_usage (rep_id, at)
    INCLUDE (usd, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens);
CREATE INDEX IF NOT EXISTS cache_lookups_rep_at_idx ON cache_lookups (rep_id, at) INCLUDE (hit);

-- Agreement: a team's manager scores in a window, and the rare re-scored sessions (a forced
-- re-analysis) that AI consistency compares, without reading every session of the window.
CREATE INDEX IF NOT EXISTS manager_scores_rep_idx ON manager_scores (rep_id, scored_at);
CREATE INDEX IF NOT EXISTS coaching_sessions_rescored_idx ON coaching_sessions (call_id, dimension)
    WHERE superseded_at IS NOT NULL AND status = 'completed' AND cached_from IS NULL;

-- Each manager score carries the AI's current score beside it (`ai_score`, the rubric version
-- it came from in `ai_rubric_version`), so agreement reads one table instead of probing every
-- session partition per score. Kept by triggers: when a manager score is written, and when a
-- scored call's sessions change (re-analysis, erasure).
ALTER TABLE manager_scores ADD COLUMN IF NOT EXISTS ai_score numeric(3, 2);
ALTER TABLE manager_scores ADD COLUMN IF NOT EXISTS ai_rubric_version text;
CREATE OR REPLACE FUNCTION manager_score_ai() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT CASE WHEN NEW.criterion = 'overall' THEN s.overall_score
                ELSE (SELECT (c ->> 'score')::numeric
                      FROM jsonb_array_elements(s.result -> 'criteria') c
                      WHERE c ->> 'criterion_id' = NEW.criterion) END,
           s.rubric_version
      INTO NEW.ai_score, NEW.ai_rubric_version
      FROM coaching_sessions s
     WHERE s.call_id = NEW.call_id AND s.dimension = NEW.dimension
       AND s.status = 'completed' AND s.superseded_at IS NULL
     ORDER BY s.created_at DESC LIMIT 1;
    IF NOT FOUND THEN
        NEW.ai_score := NULL;
        NEW.ai_rubric_version := NULL;
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS manager_scores_ai ON manager_scores;
CREATE TRIGGER manager_scores_ai BEFORE INSERT OR UPDATE OF call_id, dimension, criterion
    ON manager_scores FOR EACH ROW EXECUTE FUNCTION manager_score_ai();
CREATE OR REPLACE FUNCTION refresh_manager_pairs(p_calls text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- a no-op update of the key columns re-runs manager_score_ai for the calls' scores
    UPDATE manager_scores m SET call_id = m.call_id
     WHERE m.call_id = ANY(p_calls);
END $$;
CREATE OR REPLACE FUNCTION manager_pairs_from_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM refresh_manager_pairs(ARRAY(SELECT DISTINCT call_id FROM old_rows));
    ELSE
        PERFORM refresh_manager_pairs(ARRAY(SELECT DISTINCT call_id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS manager_pairs_sessions_insert ON coaching_sessions;
CREATE TRIGGER manager_pairs_sessions_insert AFTER INSERT ON coaching_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION manager_pairs_from_sessions();
DROP TRIGGER IF EXISTS manager_pairs_sessions_update ON coaching_sessions;
CREATE TRIGGER manager_pairs_sessions_update AFTER UPDATE ON coaching_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION manager_pairs_from_sessions();
DROP TRIGGER IF EXISTS manager_pairs_sessions_delete ON coaching_sessions;
CREATE TRIGGER manager_pairs_sessions_delete AFTER DELETE ON coaching_sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION manager_pairs_from_sessions();
UPDATE manager_scores SET call_id = call_id WHERE ai_score IS NULL;

-- Every tool looks its caller up by id or e-mail; JWT sign-in by trimmed e-mail.
CREATE INDEX IF NOT EXISTS users_email_idx ON users (lower(email));
CREATE INDEX IF NOT EXISTS users_email_trim_idx ON users (lower(trim(email)));

-- Company-wide spend this month (health, budget, cost_report for admins) from the index alone.
CREATE INDEX IF NOT EXISTS claude_usage_at_cover_idx ON claude_usage (at)
    INCLUDE (usd, input_tokens, output_tokens, cache_read_tokens, cache_write_5m_tokens,
             cache_write_1h_tokens);

-- access_log for one user (admins), newest first.
CREATE INDEX IF NOT EXISTS access_log_user_idx ON access_log (user_id, at);
