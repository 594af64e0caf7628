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
