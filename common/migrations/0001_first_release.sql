-- 0001: the first release's data model (as released; never edited).

-- Users: reps, managers and admins, synced from Gong's /v2/users.
CREATE TABLE IF NOT EXISTS users (
    id          text PRIMARY KEY,               -- Gong user id
    email       text,
    name        text NOT NULL DEFAULT '',
    title       text,
    role        text NOT NULL DEFAULT 'rep' CHECK (role IN ('rep', 'manager', 'admin')),
    manager_id  text REFERENCES users (id) ON DELETE SET NULL,
    active      boolean NOT NULL DEFAULT true,
    deleted_at  timestamptz,                    -- soft delete: hidden from non-admins
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS users_manager_idx ON users (manager_id);

-- Calls: Gong metadata, where the raw transcript lives, and its canonical hash.
CREATE TABLE IF NOT EXISTS calls (
    id               text PRIMARY KEY,          -- Gong call id
    title            text NOT NULL DEFAULT '',
    url              text,
    started_at       timestamptz,
    duration_s       integer,
    primary_user_id  text,
    parties          jsonb NOT NULL DEFAULT '[]', -- [{speakerId, name, affiliation, userId, ...}]
    transcript_key   text,                      -- object key of the gzipped raw transcript
    transcript_hash  text,                      -- sha256 of the canonical transcript
    transcript_tokens integer,
    metrics          jsonb,                     -- conversation metrics (no LLM)
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS calls_rep_started_idx ON calls (primary_user_id, started_at);
CREATE INDEX IF NOT EXISTS calls_started_idx ON calls (started_at);

-- Webhook deliveries; also the outbox the dispatcher drains.
CREATE TABLE IF NOT EXISTS webhook_events (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE,      -- Gong call id ("test:<id>" for test deliveries)
    call_id          text NOT NULL,
    is_test          boolean NOT NULL DEFAULT false,
    payload          jsonb NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'dispatched', 'test', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    flow_run_id      uuid,
    dispatched_at    timestamptz
);
CREATE INDEX IF NOT EXISTS webhook_events_pending_idx
    ON webhook_events (next_attempt_at) WHERE status = 'pending';

-- Rubric and knowledge-base versions as loaded from rubrics/.
CREATE TABLE IF NOT EXISTS rubrics (
    dimension     text NOT NULL,
    version       text NOT NULL,
    content_hash  text NOT NULL,
    content       jsonb NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (dimension, version)
);
CREATE TABLE IF NOT EXISTS knowledge_base_versions (
    name          text NOT NULL,                -- file stem
    version       text NOT NULL,
    content_hash  text NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version)
);

-- Coaching sessions: one per (call, dimension) analysis, partitioned quarterly.
CREATE TABLE IF NOT EXISTS coaching_sessions (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    call_id          text NOT NULL,
    rep_id           text,
    dimension        text NOT NULL,
    model            text NOT NULL,
    cache_key        text NOT NULL,             -- sha256(dimension:transcript_hash:rubric_version)
    transcript_hash  text NOT NULL,
    rubric_version   text NOT NULL,
    status           text NOT NULL CHECK (status IN ('completed', 'failed')),
    overall_score    numeric(3, 2),
    result           jsonb,                     -- DimensionAssessment
    chunk_count      integer NOT NULL DEFAULT 1,
    quotes_dropped   integer NOT NULL DEFAULT 0,
    cached_from      bigint,                    -- session reused through the tier-1 cache
    error            text,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE IF NOT EXISTS coaching_sessions_default PARTITION OF coaching_sessions DEFAULT;
CREATE INDEX IF NOT EXISTS coaching_sessions_cache_idx
    ON coaching_sessions (cache_key, transcript_hash, rubric_version);
CREATE INDEX IF NOT EXISTS coaching_sessions_call_idx ON coaching_sessions (call_id, dimension);
CREATE INDEX IF NOT EXISTS coaching_sessions_rep_idx ON coaching_sessions (rep_id, created_at);

-- Creates the quarterly partitions from the quarter holding `start` for `quarters` quarters.
-- Rows already in the default partition for a new range are moved into it.
CREATE OR REPLACE FUNCTION ensure_session_partitions(start date, quarters integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    q_start date := date_trunc('quarter', start)::date;
    q_end   date;
    name    text;
    created integer := 0;
BEGIN
    FOR i IN 0 .. quarters - 1 LOOP
        q_end := (q_start + interval '3 months')::date;
        name := format('coaching_sessions_%sq%s',
                       extract(year FROM q_start), extract(quarter FROM q_start));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TEMP TABLE _moved ON COMMIT DROP AS
                            SELECT * FROM coaching_sessions_default
                            WHERE created_at >= %L AND created_at < %L', q_start, q_end);
            EXECUTE format('DELETE FROM coaching_sessions_default
                            WHERE created_at >= %L AND created_at < %L', q_start, q_end);
            EXECUTE format('CREATE TABLE %I PARTITION OF coaching_sessions
                            FOR VALUES FROM (%L) TO (%L)', name, q_start, q_end);
            EXECUTE 'INSERT INTO coaching_sessions OVERRIDING SYSTEM VALUE SELECT * FROM _moved';
            DROP TABLE _moved;
            created := created + 1;
        END IF;
        q_start := q_end;
    END LOOP;
    RETURN created;
END $$;
SELECT ensure_session_partitions(current_date, 5);

-- Tier-1 cache lookups, so hit rates are queryable.
CREATE TABLE IF NOT EXISTS cache_lookups (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    call_id    text NOT NULL,
    dimension  text NOT NULL,
    cache_key  text NOT NULL,
    hit        boolean NOT NULL
);
CREATE INDEX IF NOT EXISTS cache_lookups_at_idx ON cache_lookups (at);

-- One row per successful Claude API response: the cost ledger.
CREATE TABLE IF NOT EXISTS claude_usage (
    id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                     timestamptz NOT NULL DEFAULT now(),
    request_id             text,
    model                  text NOT NULL,
    call_id                text,
    dimension              text,
    chunk_index            integer,
    purpose                text NOT NULL DEFAULT 'score',  -- score | repair
    input_tokens           integer NOT NULL,
    output_tokens          integer NOT NULL,
    cache_read_tokens      integer NOT NULL DEFAULT 0,
    cache_write_5m_tokens  integer NOT NULL DEFAULT 0,
    cache_write_1h_tokens  integer NOT NULL DEFAULT 0,
    usd                    numeric(12, 6) NOT NULL,
    is_batch               boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS claude_usage_at_idx ON claude_usage (at);
CREATE INDEX IF NOT EXISTS claude_usage_call_idx ON claude_usage (call_id);

-- Claude requests refused for good (4xx), with the API's message.
CREATE TABLE IF NOT EXISTS claude_errors (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    model        text NOT NULL,
    call_id      text,
    dimension    text,
    status_code  integer,
    message      text NOT NULL
);

-- Weekly HTML reports written to object storage.
CREATE TABLE IF NOT EXISTS weekly_reports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    week_start  date NOT NULL,
    scope       text NOT NULL CHECK (scope IN ('rep', 'team', 'index')),
    subject_id  text NOT NULL DEFAULT '',       -- rep id, manager id, or '' for the index
    object_key  text NOT NULL,
    summary     jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (week_start, scope, subject_id)
);

-- Bearer tokens of the MCP HTTP transport, stored hashed.
CREATE TABLE IF NOT EXISTS api_tokens (
    token_hash  text PRIMARY KEY,               -- sha256 of the token
    user_id     text NOT NULL REFERENCES users (id),
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Additive migrations --------------------------------------------------------------------
-- A completed session is superseded when a newer one for the same call and dimension lands
-- (forced re-analysis, rubric bump): reads use the current ones without DISTINCT ON.
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS superseded_at timestamptz;
CREATE INDEX IF NOT EXISTS coaching_sessions_current_rep_idx
    ON coaching_sessions (rep_id, dimension) WHERE superseded_at IS NULL AND status = 'completed';
CREATE INDEX IF NOT EXISTS coaching_sessions_current_call_idx
    ON coaching_sessions (call_id) WHERE superseded_at IS NULL AND status = 'completed';

-- Message Batches in flight: a re-run after a restart resumes the batch instead of paying again.
CREATE TABLE IF NOT EXISTS claude_batches (
    batch_id      text PRIMARY KEY,
    submitted_at  timestamptz NOT NULL DEFAULT now(),
    requests      jsonb NOT NULL,                -- custom_id -> {call_id, dimension, chunk, cache_key}
    status        text NOT NULL DEFAULT 'submitted' CHECK (status IN ('submitted', 'processed')),
    processed_at  timestamptz
);
