-- 0018: the publish gate (issue 28). A dimension's session is `published` when its samples
-- agree, its scored criteria have grounded evidence, N/A is unanimous, the overall check holds
-- and the call carries no flag; otherwise, after the configured cascade, `needs_review`: its
-- score is the AI's suggestion, held until a person confirms or changes it (a manager's word,
-- in manager_scores, is what the rep then sees). `samples` is how many paid samples the
-- published (or suggested) score is the median of; `escalated` says a stronger stage of the
-- cascade was asked. Sessions made before this release were one sample and were shown: they
-- stay `published`.
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'published'
    CHECK (state IN ('published', 'needs_review'));
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS samples smallint NOT NULL DEFAULT 1;
ALTER TABLE coaching_sessions ADD COLUMN IF NOT EXISTS escalated boolean NOT NULL DEFAULT false;

-- The view's columns follow the table's (0016 says a migration adding a column re-creates it).
CREATE OR REPLACE VIEW current_sessions AS
    SELECT * FROM coaching_sessions WHERE status = 'completed' AND superseded_at IS NULL;
