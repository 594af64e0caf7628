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
