-- The whole data model, generated from common/migrations/ (`make schema`): read it here, change it
-- by adding a migration. Fresh installs and upgrades both run `sales-coach init-db`.

-- == 0001_first_release ==
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

-- == 0002_exactly_once ==
-- 0002: exactly-once analysis and at-most-once billing.

-- Exactly-once analysis ------------------------------------------------------------------
-- The outbox follows each call to its end: a run is created ('dispatched'), the run reports
-- 'completed' or goes back to 'pending' with a reason and a next attempt; the reconciler
-- re-queues runs that crashed, hung or vanished. After ANALYSIS_MAX_ATTEMPTS counted failures
-- a call is parked as 'needs_attention'. Outages (Claude, Gong, Postgres) never count.
ALTER TABLE webhook_events DROP CONSTRAINT IF EXISTS webhook_events_status_check;
UPDATE webhook_events SET status = 'needs_attention' WHERE status = 'failed';
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_status_check
    CHECK (status IN ('pending', 'dispatched', 'completed', 'needs_attention', 'test'));
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS run_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0;
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS completed_at timestamptz;
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS alerted_at timestamptz;
CREATE INDEX IF NOT EXISTS webhook_events_call_idx ON webhook_events (call_id);
CREATE INDEX IF NOT EXISTS webhook_events_dispatched_idx
    ON webhook_events (dispatched_at) WHERE status = 'dispatched';

-- At-most-once billing: one row per (work key, chunk). A scorer claims it with a lease before
-- paying for a request; the paid response's text and validated assessment are kept here as
-- they arrive, so a second run waits for or reuses them and a re-run pays only for what is
-- missing. work_key is the tier-1 cache key (or a per-request key for a forced re-analysis).
CREATE TABLE IF NOT EXISTS scoring_work (
    work_key       text NOT NULL,
    chunk_index    integer NOT NULL,
    call_id        text NOT NULL,
    dimension      text NOT NULL,
    status         text NOT NULL CHECK (status IN ('claimed', 'done', 'failed')),
    owner          text NOT NULL,
    lease_until    timestamptz NOT NULL,
    responses      integer NOT NULL DEFAULT 0,   -- paid responses (score, then repair)
    response_text  text,                         -- the latest paid response, for resuming
    assessment     jsonb,                        -- the validated DimensionAssessment
    error          text,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (work_key, chunk_index)
);
CREATE INDEX IF NOT EXISTS scoring_work_call_idx ON scoring_work (call_id);

-- A paid response is recorded once: the ledger is idempotent on the API's message id.
ALTER TABLE claude_usage ADD COLUMN IF NOT EXISTS response_id text;
CREATE UNIQUE INDEX IF NOT EXISTS claude_usage_response_idx ON claude_usage (response_id);

-- Claude concurrency across every worker: leased slots that expire when a holder dies.
CREATE TABLE IF NOT EXISTS claude_slots (
    slot         integer PRIMARY KEY,
    holder       text,
    lease_until  timestamptz NOT NULL DEFAULT '-infinity'
);

-- Shared request spacing and daily budget (Gong: 3/s and 10,000/day per company).
CREATE TABLE IF NOT EXISTS rate_limits (
    name        text PRIMARY KEY,
    next_at     timestamptz NOT NULL DEFAULT now(),
    day         date NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    used_today  integer NOT NULL DEFAULT 0
);

-- == 0003_accuracy ==
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

-- == 0004_read_model ==
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

-- == 0005_privacy ==
-- 0005: privacy erasure. Each erasure is recorded (who, when, what counts; never the erased
-- content). An erased call keeps a tombstone in the outbox, so a later delivery of it from
-- Gong is a duplicate and is never analysed again.
CREATE TABLE IF NOT EXISTS erasures (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    requested_by  text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('email', 'phone')),
    calls         integer NOT NULL,
    counts        jsonb NOT NULL
);
ALTER TABLE webhook_events DROP CONSTRAINT IF EXISTS webhook_events_status_check;
ALTER TABLE webhook_events ADD CONSTRAINT webhook_events_status_check
    CHECK (status IN ('pending', 'dispatched', 'completed', 'needs_attention', 'test', 'erased'));

-- == 0006_access_log ==
-- 0006: who read which call (and which weekly report) through MCP; admins query it.
CREATE TABLE IF NOT EXISTS access_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    user_id   text NOT NULL,
    action    text NOT NULL,             -- get_call_coaching | analyze_call | get_weekly_report
    call_id   text,
    subject   text                       -- a weekly report's scope:subject
);
CREATE INDEX IF NOT EXISTS access_log_at_idx ON access_log (at);
CREATE INDEX IF NOT EXISTS access_log_call_idx ON access_log (call_id, at);

-- == 0007_monitoring ==
-- 0007: monitors. The webhook records how long each stored delivery took to answer; incidents
-- open once when a monitor crosses its threshold and close once when it recovers.
ALTER TABLE webhook_events ADD COLUMN IF NOT EXISTS response_ms real;
CREATE INDEX IF NOT EXISTS webhook_events_received_idx ON webhook_events (received_at);
CREATE TABLE IF NOT EXISTS monitor_incidents (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor         text NOT NULL,
    opened_at       timestamptz NOT NULL DEFAULT now(),
    opened_value    double precision,
    threshold       double precision NOT NULL,
    closed_at       timestamptz,
    closed_value    double precision
);
CREATE UNIQUE INDEX IF NOT EXISTS monitor_incidents_open_idx
    ON monitor_incidents (monitor) WHERE closed_at IS NULL;
CREATE INDEX IF NOT EXISTS webhook_events_completed_idx ON webhook_events (completed_at)
    WHERE status = 'completed';

-- == 0008_read_speed ==
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

-- == 0009_scores_a_rep_accepts ==
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

-- == 0010_team_reads ==
-- Reads of a team of 1,000 reps over a year (issue 17's latency target).

-- team_overview's five weeks per rep read from the index alone (no heap visit per call).
CREATE INDEX IF NOT EXISTS call_scores_rep_scores_idx ON call_scores (rep_id, started_at DESC)
    INCLUDE (product_knowledge, discovery, objections, engagement);

-- The human ceiling pairs a manager's score with another reviewer's score of the same call,
-- dimension and criterion. Few scores have one: `has_peer` marks them (kept by the trigger
-- below), so agreement_report probes those few instead of every score of the team's quarter.
ALTER TABLE manager_scores ADD COLUMN IF NOT EXISTS has_peer boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION manager_scores_mark_peers(p_call text, p_dimension text, p_criterion text)
RETURNS void LANGUAGE sql AS $$
    UPDATE manager_scores m
    SET has_peer = EXISTS (SELECT 1 FROM manager_scores o
                           WHERE o.call_id = m.call_id AND o.dimension = m.dimension
                             AND o.criterion = m.criterion AND o.reviewer_id <> m.reviewer_id)
    WHERE m.call_id = p_call AND m.dimension = p_dimension AND m.criterion = p_criterion
$$;

CREATE OR REPLACE FUNCTION manager_scores_peers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- two reviewers scoring the same criterion at once: the second waits for the first to
    -- commit, and its marking then sees both scores (each statement a new snapshot)
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_advisory_xact_lock(7311010, hashtext(NEW.call_id || '/' || NEW.dimension
                                                        || '/' || NEW.criterion));
        PERFORM manager_scores_mark_peers(NEW.call_id, NEW.dimension, NEW.criterion);
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM pg_advisory_xact_lock(7311010, hashtext(OLD.call_id || '/' || OLD.dimension
                                                        || '/' || OLD.criterion));
        PERFORM manager_scores_mark_peers(OLD.call_id, OLD.dimension, OLD.criterion);
    END IF;
    RETURN NULL;
END $$;

-- only the key columns: setting has_peer itself does not fire it again
DROP TRIGGER IF EXISTS manager_scores_peers ON manager_scores;
CREATE TRIGGER manager_scores_peers
    AFTER INSERT OR DELETE OR UPDATE OF call_id, dimension, criterion, reviewer_id
    ON manager_scores FOR EACH ROW EXECUTE FUNCTION manager_scores_peers();

UPDATE manager_scores m SET has_peer = true
WHERE EXISTS (SELECT 1 FROM manager_scores o
              WHERE o.call_id = m.call_id AND o.dimension = m.dimension
                AND o.criterion = m.criterion AND o.reviewer_id <> m.reviewer_id);

CREATE INDEX IF NOT EXISTS manager_scores_peer_idx ON manager_scores (rep_id, scored_at)
    WHERE has_peer;

-- == 0011_team_plans ==
-- Planning a team's reads (issue 17's latency target).
--
-- Team reads filter `rep_id = ANY(<1,000 ids>)`. To estimate that, the planner compares every
-- id with every most-common value of the column, once per index it considers: with the default
-- 100 values that was 2.2 ms of planning per call_scores query and 5.4 ms per manager_scores
-- query, more than running them. Reps call about equally often, so a short list estimates as
-- well; the number of distinct reps is still sampled from the other columns' sample size.
-- Plans were compared before and after at 5,000 reps (docs/mcp-query-plans.md): unchanged.
ALTER TABLE call_scores ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE manager_scores ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE claude_usage ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE cache_lookups ALTER COLUMN rep_id SET STATISTICS 10;
ALTER TABLE disputes ALTER COLUMN rep_id SET STATISTICS 10;
-- agreement's AI consistency filters re-scored sessions by rep (7.3 ms of planning: 2.0)
ALTER TABLE coaching_sessions ALTER COLUMN rep_id SET STATISTICS 10;

-- Partitioned parents are never analysed by autovacuum: their statistics are made here
-- (about 40 s for 2M sessions on this machine; instant on a new database).
ANALYZE call_scores, manager_scores, claude_usage, cache_lookups, disputes, coaching_sessions;

-- == 0012_ai_criterion ==
-- One definition of "the AI's score of a dimension or criterion" in a session or eval result:
-- the manager-score trigger, the eval pairs and a new dispute all read it here (they spelled
-- the JSON lookup three times). `criterion` 'overall' is the dimension's overall score.
--   score           the score (null: not there, or N/A)
--   not_applicable  the AI judged it N/A (an overall of null, or a criterion scored null)
--   known           the session holds a score or an N/A for it (a criterion of this rubric)
CREATE OR REPLACE FUNCTION ai_criterion(
    p_overall numeric, p_result jsonb, p_criterion text,
    OUT score numeric, OUT not_applicable boolean, OUT known boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_criterion = 'overall' THEN p_overall ELSE (c ->> 'score')::numeric END,
           CASE WHEN p_criterion = 'overall' THEN p_overall IS NULL
                ELSE coalesce(jsonb_typeof(c -> 'score') = 'null', false) END,
           p_criterion = 'overall' OR c IS NOT NULL
    FROM (SELECT (SELECT x FROM jsonb_array_elements(p_result -> 'criteria') x
                  WHERE x ->> 'criterion_id' = p_criterion LIMIT 1) AS c) criterion
$$;

CREATE OR REPLACE FUNCTION manager_score_ai() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.score, a.not_applicable, s.rubric_version
      INTO NEW.ai_score, NEW.ai_not_applicable, NEW.ai_rubric_version
      FROM coaching_sessions s, ai_criterion(s.overall_score, s.result, NEW.criterion) a
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

-- == 0013_users_version ==
-- A token that changes whenever `users` does (issue 17's latency target): the MCP server keeps
-- each manager's team (1,000 people, 6 ms to list) and lists it again only when the token it
-- was listed under is no longer the current one. Random, not a counter: a database restored
-- from a backup brings back the token of that backup's users, never one that meant others.
CREATE TABLE IF NOT EXISTS users_version (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    token     uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO users_version DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Bumped once per statement that changed a row (a call's `ensure_rep`, an insert that finds
-- its user there already, changes nothing and bumps nothing).
CREATE OR REPLACE FUNCTION users_version_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE users_version SET token = gen_random_uuid();
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION users_version_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users_version SET token = gen_random_uuid();
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS users_version_insert ON users;
CREATE TRIGGER users_version_insert AFTER INSERT ON users REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_changed();
DROP TRIGGER IF EXISTS users_version_update ON users;
CREATE TRIGGER users_version_update AFTER UPDATE ON users REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_changed();
DROP TRIGGER IF EXISTS users_version_delete ON users;
CREATE TRIGGER users_version_delete AFTER DELETE ON users REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_changed();
DROP TRIGGER IF EXISTS users_version_truncate ON users;
CREATE TRIGGER users_version_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_truncated();

-- == 0014_paid_intents ==
-- 0014: requests in flight when a process dies are accounted for (common/scoring/ledger.py).
-- Before a Claude request is sent its intent is journalled; an intent whose response never
-- arrived (the process was killed mid-request) is recorded as paid with estimated usage.
-- `intent_id` is the request's key: one usage row per request, the response's or, failing
-- that, its estimate (a late response replaces its estimate). `estimated` marks the latter.
ALTER TABLE claude_usage ADD COLUMN IF NOT EXISTS intent_id text;
ALTER TABLE claude_usage ADD COLUMN IF NOT EXISTS estimated boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX IF NOT EXISTS claude_usage_intent_idx ON claude_usage (intent_id);

-- == 0015_import_pages ==
-- 0015: imports of any size. Manager scores are imported a page at a time, each page its own
-- transaction, and a window's (or a file's) progress is kept so a run that stops part-way
-- resumes after its last committed page.
CREATE TABLE IF NOT EXISTS import_progress (
    source      text NOT NULL CHECK (source IN ('gong', 'csv')),
    import_key  text NOT NULL,               -- gong: review window from/to; csv: the file's sha256
    pages       integer NOT NULL DEFAULT 0,  -- pages committed
    position    integer NOT NULL DEFAULT 0,  -- scorecards (gong) or records (csv) committed
    totals      jsonb NOT NULL DEFAULT '{}', -- the report's counts over the committed pages
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (source, import_key)
);

-- Peer marking without one lock per row. 0010 took an advisory lock per written row, held to
-- the end of the transaction: on the default lock table (max_locks_per_transaction 64) one
-- transaction failed "out of shared memory" after about 14,700 rows. Now every statement that
-- inserts or deletes manager scores first takes ONE lock for the table's peer marks (before it
-- writes a row, so it never waits for the lock while holding rows another writer needs), and
-- marks the keys it wrote set-wise once, at the end of the statement. Writers of manager scores
-- (a manager's score, an import page) are short and few, so they queue on that lock; two
-- reviewers scoring the same criterion at once still see each other's score when marking.
CREATE OR REPLACE FUNCTION manager_scores_peer_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7311010, 0);
    RETURN NULL;
END $$;

-- The keys (call, dimension, criterion) a statement inserted or deleted, marked set-wise.
CREATE OR REPLACE FUNCTION manager_scores_mark_keys() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE manager_scores m SET has_peer = k.peer
        FROM (SELECT s.id, EXISTS (SELECT 1 FROM manager_scores o
                                   WHERE o.call_id = s.call_id AND o.dimension = s.dimension
                                     AND o.criterion = s.criterion
                                     AND o.reviewer_id <> s.reviewer_id) AS peer
              FROM manager_scores s
              JOIN (SELECT DISTINCT call_id, dimension, criterion FROM new_rows) w
                USING (call_id, dimension, criterion)) k
        WHERE m.id = k.id AND m.has_peer <> k.peer;
    ELSE
        UPDATE manager_scores m SET has_peer = k.peer
        FROM (SELECT s.id, EXISTS (SELECT 1 FROM manager_scores o
                                   WHERE o.call_id = s.call_id AND o.dimension = s.dimension
                                     AND o.criterion = s.criterion
                                     AND o.reviewer_id <> s.reviewer_id) AS peer
              FROM manager_scores s
              JOIN (SELECT DISTINCT call_id, dimension, criterion FROM old_rows) w
                USING (call_id, dimension, criterion)) k
        WHERE m.id = k.id AND m.has_peer <> k.peer;
    END IF;
    RETURN NULL;
END $$;

-- An update that moves a score to another call, criterion or reviewer (rare: the no-op update
-- that refreshes the AI's score beside it changes no key and is skipped by WHEN).
CREATE OR REPLACE FUNCTION manager_scores_peers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7311010, 0);
    PERFORM manager_scores_mark_peers(NEW.call_id, NEW.dimension, NEW.criterion);
    PERFORM manager_scores_mark_peers(OLD.call_id, OLD.dimension, OLD.criterion);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS manager_scores_peers ON manager_scores;
CREATE TRIGGER manager_scores_peers
    AFTER UPDATE OF call_id, dimension, criterion, reviewer_id ON manager_scores FOR EACH ROW
    WHEN (OLD.call_id IS DISTINCT FROM NEW.call_id OR OLD.dimension IS DISTINCT FROM NEW.dimension
          OR OLD.criterion IS DISTINCT FROM NEW.criterion
          OR OLD.reviewer_id IS DISTINCT FROM NEW.reviewer_id)
    EXECUTE FUNCTION manager_scores_peers();
DROP TRIGGER IF EXISTS manager_scores_peer_lock ON manager_scores;
CREATE TRIGGER manager_scores_peer_lock BEFORE INSERT OR DELETE ON manager_scores
    FOR EACH STATEMENT EXECUTE FUNCTION manager_scores_peer_lock();
DROP TRIGGER IF EXISTS manager_scores_peers_insert ON manager_scores;
CREATE TRIGGER manager_scores_peers_insert AFTER INSERT ON manager_scores
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION manager_scores_mark_keys();
DROP TRIGGER IF EXISTS manager_scores_peers_delete ON manager_scores;
CREATE TRIGGER manager_scores_peers_delete AFTER DELETE ON manager_scores
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION manager_scores_mark_keys();

-- == 0016_analysed_rule ==
-- One rule per fact (issue 26).
--
-- The current session of a call and dimension: its completed session that no newer one has
-- superseded (`sessions.insert_session` supersedes). Reads say `current_sessions` instead of
-- repeating the condition; the view is inlined by the planner, so a read through it has the
-- plan the condition had (the partial indexes `coaching_sessions_current_*_idx` match it).
-- Its columns are those of coaching_sessions today: a migration that adds a column there
-- re-creates this view (CREATE OR REPLACE VIEW may append columns).
CREATE OR REPLACE VIEW current_sessions AS
    SELECT * FROM coaching_sessions WHERE status = 'completed' AND superseded_at IS NULL;

-- Is a call analysed? When a skip rule matched it (`calls.skipped_reason`), or when every
-- dimension its call type scores has a current session. Which dimensions a type scores is
-- configuration (rubrics/applicability.yaml), so the caller passes it: `type_dimensions` maps
-- a call type to its dimensions, `other_dimensions` are those of a type the map does not name
-- and of a call not typed yet (or not stored yet). The dispatcher, the demo and the benches
-- ask this function (through `common.scoring.analysed`); returns the analysed ones of `ids`.
CREATE OR REPLACE FUNCTION analysed_calls(ids text[], type_dimensions jsonb, other_dimensions text[])
RETURNS SETOF text LANGUAGE sql STABLE AS $$
    SELECT asked.id
    FROM unnest(ids) AS asked(id)
    LEFT JOIN calls c ON c.id = asked.id
    WHERE c.skipped_reason IS NOT NULL
       OR NOT EXISTS (
            SELECT 1
            FROM unnest(CASE WHEN type_dimensions ? c.call_type
                             THEN ARRAY(SELECT jsonb_array_elements_text(type_dimensions -> c.call_type))
                             ELSE other_dimensions END) AS wanted(dimension)
            WHERE NOT EXISTS (
                SELECT 1 FROM current_sessions s
                WHERE s.call_id = asked.id AND s.dimension = wanted.dimension))
$$;

-- == 0017_deals ==
-- 0017: the deal behind each call (common/deals owns both tables).
-- Gong's calls/extensive with Extended context names a call's CRM opportunity twice: as it stood
-- at the call (TimeOfCall) and as it stands now (Now). A deal's outcome is its stage now, mapped
-- through DEAL_STAGE_OUTCOMES (Probability 100 / 0 as a fallback); a daily flow refreshes open ones.
CREATE TABLE IF NOT EXISTS deals (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    crm_system     text NOT NULL,                -- Salesforce | HubSpot | MicrosoftDynamic | Generic
    opportunity_id text NOT NULL,                -- the CRM's id of the opportunity
    name           text,
    amount         numeric,
    close_date     date,
    stage          text,                         -- the stage now
    probability    numeric,
    outcome        text NOT NULL DEFAULT 'open' CHECK (outcome IN ('open', 'won', 'lost')),
    stage_mapped   boolean NOT NULL DEFAULT true, -- false: a stage name the map does not know
    closed_at      timestamptz,                  -- when we first saw it won or lost
    refreshed_at   timestamptz,                  -- when Gong last told us its state now
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (crm_system, opportunity_id)
);
CREATE INDEX IF NOT EXISTS deals_open_idx ON deals (refreshed_at NULLS FIRST) WHERE outcome = 'open';
CREATE INDEX IF NOT EXISTS deals_closed_idx ON deals (close_date) WHERE outcome <> 'open';
CREATE INDEX IF NOT EXISTS deals_name_idx ON deals (lower(name));

-- One row per call whose context was read: its deal (none: a call without a deal, which is
-- fine) and the stage at the call. A call without a row has not been asked about yet.
CREATE TABLE IF NOT EXISTS call_deals (
    call_id        text PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
    deal_id        bigint REFERENCES deals (id) ON DELETE SET NULL,
    stage_at_call  text,
    amount_at_call numeric,
    checked_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS call_deals_deal_idx ON call_deals (deal_id);

-- == 0018_publish_gate ==
-- 0018: the publish gate (issue 28). A dimension's session is `published` when its samples
-- agree, its scored criteria have grounded evidence, N/A is unanimous, the overall check holds
-- and the call carries no flag; otherwise, after the configured cascade, `needs_review`: its
-- score is the AI's suggestion, held until a person confirms or changes it (a manager's word,
-- in manager_scores, is what the rep then sees). `samples` is how many paid samples the
-- published (or suggested) score is the median of; `escalated` says a stronger stage of the
-- cascade was asked. Sessions made before this release were one sample and were shown: they
-- stay `published`.
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'published'
    CHECK (state IN ('published', 'needs_review'));
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS samples smallint NOT NULL DEFAULT 1;
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS escalated boolean NOT NULL DEFAULT false;

-- The view's columns follow the table's (0016 says a migration adding a column re-creates it).
CREATE OR REPLACE VIEW current_sessions AS
    SELECT * FROM coaching_sessions WHERE status = 'completed' AND superseded_at IS NULL;

-- == 0019_shown_scores ==
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

-- == 0020_reviews ==
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

-- == 0021_rep_notes ==
-- 0021: one coaching note per call for the rep (issue 30, item 1). Written deterministically
-- from the rubric, the scores a person may see and their evidence (common/repnotes/compose.py),
-- delivered by Slack DM or e-mail as the rep prefers, acknowledged with one click or an MCP tool.
-- The owner of all three tables is common/repnotes/outbox.py.

-- A rep's preferences: NULL channel / cadence means the default (Slack when SLACK_BOT_TOKEN
-- is set, else e-mail; REP_NOTE_DEFAULT_CADENCE). `manager_hold`: the rep's manager looks
-- at each call before its note goes out (held notes wait, released by the manager's review
-- of the call or by lifting the hold).
CREATE TABLE IF NOT EXISTS rep_note_prefs (
    rep_id        text PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    channel       text CHECK (channel IN ('slack', 'email')),
    cadence       text CHECK (cadence IN ('each_call', 'daily', 'weekly', 'off')),
    manager_hold  boolean NOT NULL DEFAULT false,
    hold_set_by   text,
    hold_set_at   timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The notes: one per (call, rep), its text fixed once sent. `status`: pending (due at
-- next_attempt_at), held (a manager's hold), sending (claimed by `lease_owner` until
-- `lease_until`; an expired lease is claimed again, and the sender first looks whether the
-- lost attempt went out), sent, failed (the recipient cannot be reached: no address, unknown
-- to Slack; a change of preferences queues it again), skipped (the rep turned notes off).
-- Erasing or expiring a call removes its note (and the note its delivery log).
CREATE TABLE IF NOT EXISTS rep_notes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id           text NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    rep_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body              text NOT NULL,                -- two or three sentences
    action            text NOT NULL,                -- the one next action
    moment_link       text,                         -- Gong link of the moment that matters most
    moment_at         text,                         -- its [mm:ss]
    focus             text NOT NULL,                -- dimension.criterion the note is about
    praise            text,                         -- dimension.criterion clearly improved
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN
                          ('pending', 'held', 'sending', 'sent', 'failed', 'skipped')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL,
    lease_owner       text,
    lease_until       timestamptz,
    channel           text CHECK (channel IN ('slack', 'email')),
    sent_at           timestamptz,
    acknowledged_at   timestamptz,
    acknowledged_via  text CHECK (acknowledged_via IN ('link', 'mcp')),
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (call_id, rep_id)
);
CREATE INDEX IF NOT EXISTS rep_notes_due_idx ON rep_notes (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS rep_notes_lease_idx ON rep_notes (lease_until)
    WHERE status = 'sending';
CREATE INDEX IF NOT EXISTS rep_notes_rep_idx ON rep_notes (rep_id, created_at);

-- Every delivery attempt: when, by which channel and worker, and how it ended (NULL while in
-- flight; `unknown` when its worker died before it could say).
CREATE TABLE IF NOT EXISTS rep_note_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    note_id      bigint NOT NULL REFERENCES rep_notes (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('slack', 'email')),
    worker       text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    outcome      text CHECK (outcome IN ('sent', 'already_sent', 'retry', 'failed', 'unknown')),
    detail       text,
    message_ref  text                               -- Slack ts, or the e-mail's Message-ID
);
CREATE INDEX IF NOT EXISTS rep_note_deliveries_note_idx ON rep_note_deliveries (note_id, attempt);

-- == 0022_validity_reports ==
-- 0022: validity reports kept (issue 29). The analysis of which criteria go with won deals
-- reads every closed deal's calls and fits a model per criterion: seconds for a large team.
-- The daily deal refresh computes it for the company and for each manager's team and keeps
-- the answer here; the MCP tool reads it (common/validity/reports.py owns the table).
CREATE TABLE IF NOT EXISTS validity_reports (
    scope_key   text PRIMARY KEY,        -- 'company', or 'team:<manager id>'
    computed_at timestamptz NOT NULL,
    min_deals   integer NOT NULL,
    reps        integer NOT NULL,        -- reps owning the deals
    report      jsonb NOT NULL           -- common.validity.Report
);

-- == 0023_weekly_plans ==
-- 0023: the weekly plan per rep (issue 30, item 2): what is working (3), what to tighten (2)
-- and one exercise built from a moment of the rep's own calls that week, drafted from the
-- scores a person may see (common/plans/draft.py), edited and approved by a manager, only
-- then sent (unless PLANS_SEND_UNAPPROVED), acknowledged by the rep. The owner of the three
-- tables is common/plans/store.py.

-- One plan per (rep, week). `status`: draft (written by the weekly flow; rewritten by a later
-- run until a manager edits it), approved (a manager's word; due to be sent), sent,
-- acknowledged (the rep read it). `working` / `tighten`: [{criterion, text, moment}] (the
-- moment: {call_id, call_title, quote, said_by, timestamp, link}); `exercise`: {criterion,
-- situation, customer_said, rep_said, said_by, timestamp, link, call_id, call_title,
-- strong_answer}. `coached`: the dimension.criterion the tighten items and the exercise name
-- (the coaching events of an approved, sent plan). `call_ids`: every call the plan quotes:
-- erasing or expiring one of them removes the plan (trigger below), as it removes a note.
-- Delivery: due at `next_attempt_at` (set on approval, or on drafting when unapproved plans
-- may go), claimed by `lease_owner` until `lease_until`; an expired lease is claimed again
-- and the sender first looks whether the lost attempt went out.
CREATE TABLE IF NOT EXISTS weekly_plans (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rep_id            text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    week_start        date NOT NULL,                -- the Monday of the plan's week
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN
                          ('draft', 'approved', 'sent', 'acknowledged')),
    working           jsonb NOT NULL DEFAULT '[]',
    tighten           jsonb NOT NULL DEFAULT '[]',
    exercise          jsonb,
    coached           text[] NOT NULL DEFAULT '{}',
    call_ids          text[] NOT NULL DEFAULT '{}',
    edited_by         text,                         -- the manager who edited it last
    edited_at         timestamptz,
    approved_by       text,
    approved_at       timestamptz,
    sent_unapproved   boolean NOT NULL DEFAULT false,
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz,                  -- NULL: not due (a draft waiting)
    lease_owner       text,
    lease_until       timestamptz,
    last_error        text,
    channel           text CHECK (channel IN ('slack', 'email')),
    sent_at           timestamptz,
    acknowledged_at   timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (rep_id, week_start)
);
CREATE INDEX IF NOT EXISTS weekly_plans_due_idx ON weekly_plans (next_attempt_at)
    WHERE status IN ('draft', 'approved');
CREATE INDEX IF NOT EXISTS weekly_plans_week_idx ON weekly_plans (week_start, rep_id);
CREATE INDEX IF NOT EXISTS weekly_plans_calls_idx ON weekly_plans USING gin (call_ids);

-- Every manager's edit: which part, before and after, by whom and when.
CREATE TABLE IF NOT EXISTS weekly_plan_edits (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id     bigint NOT NULL REFERENCES weekly_plans (id) ON DELETE CASCADE,
    editor_id   text NOT NULL,
    edited_at   timestamptz NOT NULL,
    field       text NOT NULL CHECK (field IN ('working', 'tighten', 'exercise')),
    before      jsonb,
    after       jsonb
);
CREATE INDEX IF NOT EXISTS weekly_plan_edits_plan_idx ON weekly_plan_edits (plan_id, id);

-- Every delivery attempt, as rep_note_deliveries: NULL outcome while in flight, `unknown`
-- when its worker died before it could say; `failed`: the rep cannot be reached this way (no
-- address, unknown to Slack), tried again later (they may choose another channel).
CREATE TABLE IF NOT EXISTS weekly_plan_deliveries (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plan_id      bigint NOT NULL REFERENCES weekly_plans (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    channel      text NOT NULL CHECK (channel IN ('slack', 'email')),
    worker       text NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    outcome      text CHECK (outcome IN ('sent', 'already_sent', 'retry', 'failed', 'unknown')),
    detail       text,
    message_ref  text
);
CREATE INDEX IF NOT EXISTS weekly_plan_deliveries_plan_idx
    ON weekly_plan_deliveries (plan_id, attempt);

-- A plan quotes its rep's calls: erasing or expiring a call removes the plans that quote it.
CREATE OR REPLACE FUNCTION weekly_plans_forget_calls() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM weekly_plans p
    WHERE p.call_ids && ARRAY(SELECT id FROM gone_calls);
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS weekly_plans_calls_gone ON calls;
CREATE TRIGGER weekly_plans_calls_gone AFTER DELETE ON calls
    REFERENCING OLD TABLE AS gone_calls
    FOR EACH STATEMENT EXECUTE FUNCTION weekly_plans_forget_calls();

-- == 0024_job_roles ==
-- 0024: job roles (issue 30, item 3). What a person does on calls: an account executive, a
-- sales engineer, customer success, or a role the company names (any slug). Not the access
-- role in `users.role` (rep / manager / admin: what a person may see). The role chooses the
-- rubric variants a call is scored with (a variant naming `roles:`) and the group a rep is
-- compared and ranked in: an SE is never ranked against AEs.
--
-- History: one row per period a role was in force, [since, until); `until` NULL is the role
-- now (one per person). A person's first row starts at -infinity, so every call has a role;
-- the role of a call is the row in force when it started. `source` 'gong' comes from Gong's
-- user title (JOB_ROLE_TITLES); 'admin' from `sales-coach set-job-role` or the MCP tool
-- set_job_role, and wins: Gong's title no longer changes the role until an admin changes it.
-- A row an admin's backdated change covers entirely is closed at its own start (an empty
-- period), kept as history. Owner: common/calls/roles.py.
CREATE TABLE IF NOT EXISTS user_roles (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_role     text NOT NULL CHECK (job_role ~ '^[a-z][a-z0-9_]{0,39}$'),
    source       text NOT NULL CHECK (source IN ('gong', 'admin')),
    gong_title   text,                          -- the title a 'gong' row was mapped from
    since        timestamptz NOT NULL,
    until        timestamptz,                   -- NULL: in force now
    set_by       text,                          -- the admin's user id ('admin'; NULL: the CLI)
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (until IS NULL OR until >= since)
);
CREATE UNIQUE INDEX IF NOT EXISTS user_roles_current_idx ON user_roles (user_id)
    WHERE until IS NULL;
CREATE INDEX IF NOT EXISTS user_roles_user_since_idx ON user_roles (user_id, since);

-- The role each person has now: one index lookup.
CREATE OR REPLACE VIEW current_job_roles AS
    SELECT user_id, job_role, source, since, set_by FROM user_roles WHERE until IS NULL;
