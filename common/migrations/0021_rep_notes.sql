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
