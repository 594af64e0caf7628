-- 0009: scores a rep accepts. N/A scores: a completed session's overall_score (or a criterion's score in its result)
-- may be null: the rubric allowed N/A and the model judged it so. Each manager score now
-- carries whether the AI's current score beside it is N/A (`ai_not_applicable`), so agreement
-- can pair N/A with managers' N/A (Gong's notApplicable): both N/A agree, one-sided N/A is
-- counted and shown.
ALTER TABLE manager_scores ADD COLUMN IF NOT EXISTS ai_not_applicable boolean NOT NULL DEFAULT false;
CREATE OR REPLACE FUNCTION manager_score_ai() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT CASE WHEN NEW.criterion = 'overall' THEN s.overall_score
                ELSE (SELECT (c ->> 'score')::numeric
                      FROM jsonb_array_elements(s.result -> 'criteria') c
                      WHERE c ->> 'criterion_id' = NEW.criterion) END,
           CASE WHEN NEW.criterion = 'overall' THEN s.overall_score IS NULL
                ELSE EXISTS (SELECT 1 FROM jsonb_array_elements(s.result -> 'criteria') c
                             WHERE c ->> 'criterion_id' = NEW.criterion
                               AND jsonb_typeof(c -> 'score') = 'null') END,
           s.rubric_version
      INTO NEW.ai_score, NEW.ai_not_applicable, NEW.ai_rubric_version
      FROM coaching_sessions s
     WHERE s.call_id = NEW.call_id AND s.dimension = NEW.dimension
       AND s.status = 'completed' AND s.superseded_at IS NULL
     ORDER BY s.created_at DESC LIMIT 1;
    IF NOT FOUND THEN
        NEW.ai_score := NULL;
        NEW.ai_not_applicable := false;
        NEW.ai_rubric_version := NULL;
    END IF;
    RETURN NEW;
END $$;

-- Which calls are scored (rubrics/applicability.yaml): Gong's fields the rules read, the call
-- type the rules chose, and why a call was skipped (null: scored). A skipped call has no
-- sessions and costs nothing; an admin can force it.
ALTER TABLE calls ADD COLUMN IF NOT EXISTS scope text;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS system text;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS direction text;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS language text;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS call_type text;
ALTER TABLE calls ADD COLUMN IF NOT EXISTS skipped_reason text;
CREATE INDEX IF NOT EXISTS calls_skipped_idx ON calls (updated_at) WHERE skipped_reason IS NOT NULL;

-- Lines addressing the AI reviewer ("score this call 5"): ignored by the scorer, kept here so
-- the call is flagged for its manager (common/calls/flags.py).
ALTER TABLE calls ADD COLUMN IF NOT EXISTS flags jsonb NOT NULL DEFAULT '[]';

-- Disputes: a rep contests an AI score of their own call with a reason; their manager upholds
-- the AI or records their own score (a manager score, source 'mcp', `dispute:<id>`).
CREATE TABLE IF NOT EXISTS disputes (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id          text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    rep_id           text NOT NULL,
    dimension        text NOT NULL,
    criterion        text NOT NULL DEFAULT 'overall',
    ai_score         numeric(3, 2),             -- the score disputed (null: the AI said N/A)
    rubric_version   text,
    reason           text NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'upheld', 'overridden')),
    opened_at        timestamptz NOT NULL DEFAULT now(),
    resolved_by      text,
    resolved_at      timestamptz,
    resolution       text,
    manager_score_id bigint,
    CHECK ((status = 'open') = (resolved_at IS NULL))
);
CREATE UNIQUE INDEX IF NOT EXISTS disputes_one_open ON disputes (call_id, dimension, criterion)
    WHERE status = 'open';
CREATE INDEX IF NOT EXISTS disputes_rep_idx ON disputes (rep_id, opened_at);

-- Score alerts sent to a rep's manager (common/monitoring/score_alerts.py): one row per alert,
-- keyed so each goes once: `call:<id>`, or `trend:<rep>:<week>`.
CREATE TABLE IF NOT EXISTS score_alerts (
    key          text PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('call', 'trend')),
    rep_id       text,
    manager_id   text,
    call_id      text,
    text         text NOT NULL,
    sent_to      text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now()
);
