-- 0014: requests in flight when a process dies are accounted for (common/scoring/ledger.py).
-- Before a Claude request is sent its intent is journalled; an intent whose response never
-- arrived (the process was killed mid-request) is recorded as paid with estimated usage.
-- `intent_id` is the request's key: one usage row per request, the response's or, failing
-- that, its estimate (a late response replaces its estimate). `estimated` marks the latter.
ALTER TABLE claude_usage ADD COLUMN IF NOT EXISTS intent_id text;
ALTER TABLE claude_usage ADD COLUMN IF NOT EXISTS estimated boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX IF NOT EXISTS claude_usage_intent_idx ON claude_usage (intent_id);
