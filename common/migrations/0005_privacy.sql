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
