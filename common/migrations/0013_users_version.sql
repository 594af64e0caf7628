-- A token that changes whenever `users` does (issue 17's latency target): the MCP server keeps
-- each manager's team (1,000 people, 6 ms to list) and lists it again only when the token it
-- was listed under is no longer the current one. Random, not a counter: a database restored
-- from a backup brings back the token of that backup's users, never one that meant others.
CREATE TABLE IF NOT EXISTS users_version (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    token     uuid NOT NULL DEFAULT gen_random_uuid()
);
INSERT INTO users_version DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Bumped once per statement that changed a row (a call's `ensure_rep`, an insert that finds
-- its user there already, changes nothing and bumps nothing).
CREATE OR REPLACE FUNCTION users_version_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE users_version SET token = gen_random_uuid();
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION users_version_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE users_version SET token = gen_random_uuid();
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS users_version_insert ON users;
CREATE TRIGGER users_version_insert AFTER INSERT ON users REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_changed();
DROP TRIGGER IF EXISTS users_version_update ON users;
CREATE TRIGGER users_version_update AFTER UPDATE ON users REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_changed();
DROP TRIGGER IF EXISTS users_version_delete ON users;
CREATE TRIGGER users_version_delete AFTER DELETE ON users REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_changed();
DROP TRIGGER IF EXISTS users_version_truncate ON users;
CREATE TRIGGER users_version_truncate AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION users_version_truncated();
