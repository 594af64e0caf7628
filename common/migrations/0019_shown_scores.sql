-- 0019: the score a person sees (issue 28, the read side of the publish gate).
--
-- For a call's dimension the shown score is, in order:
--   1. a person's word: the latest manager score on the dimension's overall (any source),
--      its score, or N/A when it says not applicable;
--   2. else the current session's score when the gate published it;
--   3. else nothing: the dimension is held for review. The AI's score stays beside it as a
--      suggestion and enters no average, trend, comparison, alert or report.
-- `shown_scores` is that rule, one row per current session (with its stored result, which
-- search indexes); `call_scores` (the read model
-- every average reads) now holds only shown scores, and `held` counts a call's held
-- dimensions. A manager's score changes what the rep sees at once: a trigger on
-- manager_scores refreshes the calls it touches.
CREATE OR REPLACE VIEW shown_scores AS
SELECT s.call_id, s.dimension, s.id AS session_id, s.overall_score AS ai_score, s.state,
       coalesce(s.result -> 'review_reasons', '[]'::jsonb) AS review_reasons,
       m.id AS manager_score_id, m.score AS manager_score,
       m.reviewer_id AS manager_reviewer_id, m.source AS manager_source,
       m.scored_at AS manager_scored_at,
       CASE WHEN m.id IS NOT NULL THEN m.score::numeric(3, 2)
            WHEN s.state = 'published' THEN s.overall_score END AS shown_score,
       CASE WHEN m.id IS NOT NULL THEN 'manager'
            WHEN s.state = 'published' THEN 'ai' END AS shown_source,
       CASE WHEN m.id IS NOT NULL THEN m.not_applicable
            WHEN s.state = 'published' THEN s.overall_score IS NULL
            ELSE false END AS not_applicable,
       (m.id IS NULL AND s.state <> 'published') AS held,
       s.result
FROM coaching_sessions s
LEFT JOIN LATERAL (
    SELECT x.id, x.score, x.not_applicable, x.reviewer_id, x.source, x.scored_at
    FROM manager_scores x
    WHERE x.call_id = s.call_id AND x.dimension = s.dimension AND x.criterion = 'overall'
    ORDER BY x.scored_at DESC, x.id DESC LIMIT 1
) m ON true
WHERE s.status = 'completed' AND s.superseded_at IS NULL;

ALTER TABLE call_scores ADD COLUMN IF NOT EXISTS held integer NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION refresh_call_scores(p_calls text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM call_scores cs USING unnest(p_calls) AS k(id)
    WHERE cs.call_id = k.id AND NOT EXISTS (
        SELECT 1 FROM coaching_sessions s WHERE s.call_id = cs.call_id
          AND s.status = 'completed' AND s.superseded_at IS NULL);
    INSERT INTO call_scores AS cs (call_id, rep_id, started_at, title, product_knowledge,
        discovery, objections, engagement, average, dimensions, held, search, updated_at)
    SELECT c.id, c.primary_user_id, coalesce(c.started_at, c.created_at), c.title,
           max(v.shown_score) FILTER (WHERE v.dimension = 'product_knowledge'),
           max(v.shown_score) FILTER (WHERE v.dimension = 'discovery'),
           max(v.shown_score) FILTER (WHERE v.dimension = 'objections'),
           max(v.shown_score) FILTER (WHERE v.dimension = 'engagement'),
           round(avg(v.shown_score), 2), count(*), count(*) FILTER (WHERE v.held),
           setweight(to_tsvector('english', c.title), 'A')
             || setweight(to_tsvector('english', string_agg(concat_ws(' ',
                  v.result ->> 'coaching_note', v.result ->> 'strengths',
                  v.result ->> 'improvements'), ' ')), 'B'),
           now()
    FROM (SELECT DISTINCT id FROM unnest(p_calls) AS k(id)) k
    JOIN calls c ON c.id = k.id
    JOIN shown_scores v ON v.call_id = c.id
    GROUP BY c.id
    ON CONFLICT (call_id) DO UPDATE SET
        rep_id = excluded.rep_id, started_at = excluded.started_at, title = excluded.title,
        product_knowledge = excluded.product_knowledge, discovery = excluded.discovery,
        objections = excluded.objections, engagement = excluded.engagement,
        average = excluded.average, dimensions = excluded.dimensions, held = excluded.held,
        search = excluded.search, updated_at = excluded.updated_at;
END $$;

-- A manager's score, written, changed or removed, refreshes its calls (set-based, once per
-- statement). The no-op key updates that keep `ai_score` current (0008) change nothing a
-- person sees and refresh nothing.
CREATE OR REPLACE FUNCTION call_scores_from_manager_scores() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM refresh_call_scores(ARRAY(SELECT DISTINCT call_id FROM new_rows
                                          WHERE criterion = 'overall'));
    ELSIF TG_OP = 'UPDATE' THEN
        -- the rows whose shown values changed, either way (set operations: transition
        -- tables have no index, and a join of 10,000 rows by id would be nested loops)
        PERFORM refresh_call_scores(ARRAY(
            SELECT call_id FROM (
                (SELECT id, call_id, dimension, criterion, score, not_applicable, scored_at
                   FROM new_rows
                 EXCEPT
                 SELECT id, call_id, dimension, criterion, score, not_applicable, scored_at
                   FROM old_rows)
                UNION ALL
                (SELECT id, call_id, dimension, criterion, score, not_applicable, scored_at
                   FROM old_rows
                 EXCEPT
                 SELECT id, call_id, dimension, criterion, score, not_applicable, scored_at
                   FROM new_rows)
            ) changed WHERE criterion = 'overall' GROUP BY call_id));
    ELSE
        PERFORM refresh_call_scores(ARRAY(SELECT DISTINCT call_id FROM old_rows
                                          WHERE criterion = 'overall'));
    END IF;
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS call_scores_manager_insert ON manager_scores;
CREATE TRIGGER call_scores_manager_insert AFTER INSERT ON manager_scores
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_manager_scores();
DROP TRIGGER IF EXISTS call_scores_manager_update ON manager_scores;
CREATE TRIGGER call_scores_manager_update AFTER UPDATE ON manager_scores
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_manager_scores();
DROP TRIGGER IF EXISTS call_scores_manager_delete ON manager_scores;
CREATE TRIGGER call_scores_manager_delete AFTER DELETE ON manager_scores
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION call_scores_from_manager_scores();

-- Calls whose managers scored them before this release now show the manager's score.
SELECT refresh_call_scores(ARRAY(
    SELECT DISTINCT m.call_id FROM manager_scores m
    JOIN call_scores cs ON cs.call_id = m.call_id WHERE m.criterion = 'overall'));
