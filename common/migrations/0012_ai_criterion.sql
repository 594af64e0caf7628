-- One definition of "the AI's score of a dimension or criterion" in a session or eval result:
-- the manager-score trigger, the eval pairs and a new dispute all read it here (they spelled
-- the JSON lookup three times). `criterion` 'overall' is the dimension's overall score.
--   score           the score (null: not there, or N/A)
--   not_applicable  the AI judged it N/A (an overall of null, or a criterion scored null)
--   known           the session holds a score or an N/A for it (a criterion of this rubric)
CREATE OR REPLACE FUNCTION ai_criterion(
    p_overall numeric, p_result jsonb, p_criterion text,
    OUT score numeric, OUT not_applicable boolean, OUT known boolean)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_criterion = 'overall' THEN p_overall ELSE (c ->> 'score')::numeric END,
           CASE WHEN p_criterion = 'overall' THEN p_overall IS NULL
                ELSE coalesce(jsonb_typeof(c -> 'score') = 'null', false) END,
           p_criterion = 'overall' OR c IS NOT NULL
    FROM (SELECT (SELECT x FROM jsonb_array_elements(p_result -> 'criteria') x
                  WHERE x ->> 'criterion_id' = p_criterion LIMIT 1) AS c) criterion
$$;

CREATE OR REPLACE FUNCTION manager_score_ai() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT a.score, a.not_applicable, s.rubric_version
      INTO NEW.ai_score, NEW.ai_not_applicable, NEW.ai_rubric_version
      FROM coaching_sessions s, ai_criterion(s.overall_score, s.result, NEW.criterion) a
     WHERE s.call_id = NEW.call_id AND s.dimension = NEW.dimension
       AND s.status = 'completed' AND s.superseded_at IS NULL
     ORDER BY s.created_at DESC LIMIT 1;
    IF NOT FOUND THEN
        NEW.ai_score := NULL;
        NEW.ai_not_applicable := false;
        NEW.ai_rubric_version := NULL;
    END IF;
    RETURN NEW;
END $$;
