-- 0024: job roles (issue 30, item 3). What a person does on calls: an account executive, a
-- sales engineer, customer success, or a role the company names (any slug). Not the access
-- role in `users.role` (rep / manager / admin: what a person may see). The role chooses the
-- rubric variants a call is scored with (a variant naming `roles:`) and the group a rep is
-- compared and ranked in: an SE is never ranked against AEs.
--
-- History: one row per period a role was in force, [since, until); `until` NULL is the role
-- now (one per person). A person's first row starts at -infinity, so every call has a role;
-- the role of a call is the row in force when it started. `source` 'gong' comes from Gong's
-- user title (JOB_ROLE_TITLES); 'admin' from `sales-coach set-job-role` or the MCP tool
-- set_job_role, and wins: Gong's title no longer changes the role until an admin changes it.
-- A row an admin's backdated change covers entirely is closed at its own start (an empty
-- period), kept as history. Owner: common/calls/roles.py.
CREATE TABLE IF NOT EXISTS user_roles (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    job_role     text NOT NULL CHECK (job_role ~ '^[a-z][a-z0-9_]{0,39}$'),
    source       text NOT NULL CHECK (source IN ('gong', 'admin')),
    gong_title   text,                          -- the title a 'gong' row was mapped from
    since        timestamptz NOT NULL,
    until        timestamptz,                   -- NULL: in force now
    set_by       text,                          -- the admin's user id ('admin'; NULL: the CLI)
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (until IS NULL OR until >= since)
);
CREATE UNIQUE INDEX IF NOT EXISTS user_roles_current_idx ON user_roles (user_id)
    WHERE until IS NULL;
CREATE INDEX IF NOT EXISTS user_roles_user_since_idx ON user_roles (user_id, since);

-- The role each person has now: one index lookup.
CREATE OR REPLACE VIEW current_job_roles AS
    SELECT user_id, job_role, source, since, set_by FROM user_roles WHERE until IS NULL;
