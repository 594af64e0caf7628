-- 0022: validity reports kept (issue 29). The analysis of which criteria go with won deals
-- reads every closed deal's calls and fits a model per criterion: seconds for a large team.
-- The daily deal refresh computes it for the company and for each manager's team and keeps
-- the answer here; the MCP tool reads it (common/validity/reports.py owns the table).
CREATE TABLE IF NOT EXISTS validity_reports (
    scope_key   text PRIMARY KEY,        -- 'company', or 'team:<manager id>'
    computed_at timestamptz NOT NULL,
    min_deals   integer NOT NULL,
    reps        integer NOT NULL,        -- reps owning the deals
    report      jsonb NOT NULL           -- common.validity.Report
);
