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
