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
