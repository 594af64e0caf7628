-- 0020: a person's word (issue 28). A manager's answer to the review queue (a held score, or
-- a published one drawn for the audit), an upheld dispute and a manager's own score are all
-- rows of manager_scores: the latest one for (call, dimension, criterion) is the score shown,
-- and the AI's stays beside it (its session, and the row's ai_score as it was then).
-- `confirms_ai`: the row says "the AI's score stands" (a confirmation, an upheld dispute); its
-- score is the AI's on the 1-5 scale (rounded half up; N/A when the AI said N/A), and
-- `ai_score` holds the AI's exact one. `calibrate` reads these as agreements a person checked.
ALTER TABLE manager_scores ADD COLUMN IF NOT EXISTS confirms_ai boolean NOT NULL DEFAULT false;

-- The review queue: current sessions held for review, found without reading every session.
CREATE INDEX IF NOT EXISTS coaching_sessions_held_idx ON coaching_sessions (created_at)
    WHERE state = 'needs_review' AND status = 'completed' AND superseded_at IS NULL;

-- The audit sample: a published session is drawn when this hash of its id, in [0, 1), is
-- below AUDIT_SHARE; stable for the session (common/accuracy/reviews.py computes the same).
CREATE OR REPLACE FUNCTION audit_draw(p_session_id bigint) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ('x' || substr(md5('audit:' || p_session_id::text), 1, 8))::bit(32)::bigint
           / 4294967296.0::double precision
$$;

-- A confirmation (or an upheld dispute) is the AI's score standing: the rep sees the AI's
-- exact score (3.4), not the 1-5 whole number the row holds (3). Same columns as 0019's view.
CREATE OR REPLACE VIEW shown_scores AS
SELECT s.call_id, s.dimension, s.id AS session_id, s.overall_score AS ai_score, s.state,
       coalesce(s.result -> 'review_reasons', '[]'::jsonb) AS review_reasons,
       m.id AS manager_score_id, m.score AS manager_score,
       m.reviewer_id AS manager_reviewer_id, m.source AS manager_source,
       m.scored_at AS manager_scored_at,
       CASE WHEN m.id IS NOT NULL AND m.confirms_ai AND NOT m.not_applicable
                 AND s.overall_score IS NOT NULL THEN s.overall_score
            WHEN m.id IS NOT NULL THEN m.score::numeric(3, 2)
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
    SELECT x.id, x.score, x.not_applicable, x.reviewer_id, x.source, x.scored_at, x.confirms_ai
    FROM manager_scores x
    WHERE x.call_id = s.call_id AND x.dimension = s.dimension AND x.criterion = 'overall'
    ORDER BY x.scored_at DESC, x.id DESC LIMIT 1
) m ON true
WHERE s.status = 'completed' AND s.superseded_at IS NULL;
