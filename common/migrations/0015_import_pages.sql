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
