-- 0004: the read model (call_scores), expiring MCP tokens, partitions covering history.

-- Read model -----------------------------------------------------------------------------
-- One row per analysed call with its current scores and a full-text index over what managers
-- search (title, coaching notes, strengths, improvements). Kept by triggers on
-- coaching_sessions and calls, so every writer (flows, batches, seeds) keeps it current.
CREATE TABLE IF NOT EXISTS call_scores (
    call_id            text PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    rep_id             text,
    started_at         timestamptz NOT NULL,        -- the call's start (its creation if unknown)
    title              text NOT NULL DEFAULT '',
    product_knowledge  numeric(3, 2),
    discovery          numeric(3, 2),
    objections         numeric(3, 2),
    engagement         numeric(3, 2),
    average            numeric(3, 2),
    dimensions         integer NOT NULL DEFAULT 0,
    search             tsvector NOT NULL,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS call_scores_rep_idx ON call_scores (rep_id, started_at DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS call_scores_started_idx ON call_scores (started_at DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS call_scores_search_idx ON call_scores USING gin (search);

CREATE OR REPLACE FUNCTION refresh_call_scores(p_calls text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_scores cs USING unnest(p_calls) AS k(id)
    WHERE cs.call_id = k.id AND NOT EXISTS (
        SELECT 1 FROM coaching_sessions s WHERE s.call_id = cs.call_id
          AND s.status = 'completed' AND s.superseded_at IS NULL);
    INSERT INTO call_scores AS cs (call_id, rep_id, started_at, title, product_knowledge,
        discovery, objections, engagement, average, dimensions, search, updated_at)
    SELECT c.id, c.primary_user_id, coalesce(c.started_at, c.created_at), c.title,
           max(s.overall_score) FILTER (WHERE s.dimension = 'product_knowledge'),
           max(s.overall_score) FILTER (WHERE s.dimension = 'discovery'),
           max(s.overall_score) FILTER (WHERE s.dimension = 'objections'),
           max(s.overall_score) FILTER (WHERE s.dimension = 'engagement'),
           round(avg(s.overall_score), 2), count(*),
           setweight(to_tsvector('english', c.title), 'A')
             || setweight(to_tsvector('english', string_agg(concat_ws(' ',
                  s.result ->> 'coaching_note', s.result ->> 'strengths',
                  s.result ->> 'improvements'), ' ')), 'B'),
           now()
    FROM (SELECT DISTINCT id FROM unnest(p_calls) AS k(id)) k
    JOIN calls c ON c.id = k.id
    JOIN coaching_sessions s ON s.call_id = c.id
    WHERE s.status = 'completed' AND s.superseded_at IS NULL
    GROUP BY c.id
    ON CONFLICT (call_id) DO UPDATE SET
        rep_id = excluded.rep_id, started_at = excluded.started_at, title = excluded.title,
        product_knowledge = excluded.product_knowledge, discovery = excluded.discovery,
        objections = excluded.objections, engagement = excluded.engagement,
        average = excluded.average, dimensions = excluded.dimensions,
        search = excluded.search, updated_at = excluded.updated_at;
END $$;

-- Statement-level triggers with transition tables: a COPY of 200,000 sessions refreshes each
-- call once, set-based, instead of once per row.
CREATE OR REPLACE FUNCTION call_scores_from_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM refresh_call_scores(ARRAY(SELECT DISTINCT call_id FROM new_rows));
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM refresh_call_scores(ARRAY(SELECT call_id FROM new_rows
                                          UNION SELECT call_id FROM old_rows));
    ELSE
        PERFORM refresh_call_scores(ARRAY(SELECT DISTINCT call_id FROM old_rows));
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS call_scores_sessions_insert ON coaching_sessions;
CREATE TRIGGER call_scores_sessions_insert AFTER INSERT ON coaching_sessions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_sessions();
DROP TRIGGER IF EXISTS call_scores_sessions_update ON coaching_sessions;
CREATE TRIGGER call_scores_sessions_update AFTER UPDATE ON coaching_sessions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_sessions();
DROP TRIGGER IF EXISTS call_scores_sessions_delete ON coaching_sessions;
CREATE TRIGGER call_scores_sessions_delete AFTER DELETE ON coaching_sessions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_sessions();

CREATE OR REPLACE FUNCTION call_scores_from_calls() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_call_scores(ARRAY(SELECT n.id FROM new_rows n JOIN old_rows o USING (id)
        WHERE (n.title, n.started_at, n.primary_user_id)
              IS DISTINCT FROM (o.title, o.started_at, o.primary_user_id)));
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS call_scores_calls ON calls;
CREATE TRIGGER call_scores_calls AFTER UPDATE ON calls
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_calls();

-- Fill the read model for calls analysed before it existed (a no-op once it is complete).
SELECT refresh_call_scores(ARRAY(
    SELECT DISTINCT s.call_id FROM coaching_sessions s
    WHERE s.status = 'completed' AND s.superseded_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM call_scores cs WHERE cs.call_id = s.call_id)));

-- MCP access: tokens expire, record when they were last used, and are revoked by id.
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS expires_at timestamptz;
ALTER TABLE api_tokens ADD COLUMN IF NOT EXISTS last_used_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS api_tokens_id_idx ON api_tokens (id);

-- History as well as the next year: a backfill of last year never lands in the default
-- partition (`sales-coach init-db` extends this to RETENTION_YEARS when that is longer).
SELECT ensure_session_partitions((current_date - interval '5 years')::date, 25);
