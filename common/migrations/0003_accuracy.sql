-- 0003: agreement with managers and rubric evals.

-- Accuracy -----------------------------------------------------------------------------------
-- Human scores, never overwriting the AI's: from Gong scorecards, Claude Desktop or a CSV.
-- criterion is a rubric criterion id, or 'overall' for the dimension's overall score.
CREATE TABLE IF NOT EXISTS manager_scores (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id         text NOT NULL,
    rep_id          text,
    reviewer_id     text NOT NULL,
    dimension       text NOT NULL,
    criterion       text NOT NULL DEFAULT 'overall',
    score           smallint CHECK (score BETWEEN 1 AND 5),
    not_applicable  boolean NOT NULL DEFAULT false,
    note            text,
    source          text NOT NULL CHECK (source IN ('gong', 'mcp', 'csv')),
    source_ref      text NOT NULL,               -- gong: answeredScorecardId:questionId
    rubric_version  text,                        -- the live rubric when it was recorded
    scored_at       timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((score IS NULL) = not_applicable),
    UNIQUE (source, source_ref)
);
CREATE INDEX IF NOT EXISTS manager_scores_call_idx ON manager_scores (call_id, dimension);
CREATE INDEX IF NOT EXISTS manager_scores_scored_idx ON manager_scores (source, scored_at);

-- Rubric evals: a candidate rubric set scored on the calls managers scored, apart from
-- production (its results never reach coaching_sessions, managers or the tier-1 cache).
CREATE TABLE IF NOT EXISTS eval_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rubrics_dir  text NOT NULL,
    calls        integer NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
CREATE TABLE IF NOT EXISTS eval_results (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    eval_run_id     bigint NOT NULL REFERENCES eval_runs (id) ON DELETE CASCADE,
    call_id         text NOT NULL,
    dimension       text NOT NULL,
    rubric_version  text NOT NULL,
    status          text NOT NULL CHECK (status IN ('completed', 'failed')),
    overall_score   numeric(3, 2),
    result          jsonb,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (eval_run_id, call_id, dimension)
);
