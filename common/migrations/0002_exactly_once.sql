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
