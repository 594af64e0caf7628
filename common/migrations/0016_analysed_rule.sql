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
