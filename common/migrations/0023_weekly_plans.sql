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
