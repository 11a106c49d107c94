-- The Users and Patients tabs at 100,000 members: everything a page filters and sorts on sits
-- on the membership row (copied from the profile and the account, kept in step by triggers),
-- totals come from counters kept by triggers in the same transaction as every change, and
-- search reads a trigram index.

-- Folded text (lower case, accents removed) written by the application for every profile.
-- Empty means "not folded yet": rows from before this migration are folded at start-up.
ALTER TABLE profiles ADD COLUMN sort_first TEXT NOT NULL DEFAULT '';
ALTER TABLE profiles ADD COLUMN sort_last TEXT NOT NULL DEFAULT '';
ALTER TABLE profiles ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
CREATE INDEX profiles_unfolded_idx ON profiles (id) WHERE search_text = '';
DROP INDEX profiles_project_name_idx;

-- "C" collation: the same byte order as SQLite, whatever the database's locale.
ALTER TABLE memberships ADD COLUMN sort_first TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN sort_last TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN email TEXT COLLATE "C" NOT NULL DEFAULT '';
-- The account's two-factor state, and the last sign-in into this project.
ALTER TABLE memberships ADD COLUMN mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE memberships ADD COLUMN last_signin_at TIMESTAMP;
UPDATE memberships SET
    email = COALESCE((SELECT lower(email) FROM profiles WHERE profiles.id = memberships.profile_id), ''),
    mfa = COALESCE((SELECT mfa_enrolled FROM users WHERE users.id = memberships.user_id), FALSE),
    last_signin_at = CASE WHEN status = 'active'
        THEN (SELECT last_signin_at FROM users WHERE users.id = memberships.user_id) END;
CREATE INDEX memberships_list_first_idx ON memberships (project_id, sort_first, id);
CREATE INDEX memberships_list_last_idx ON memberships (project_id, sort_last, id);
CREATE INDEX memberships_list_email_idx ON memberships (project_id, email, id);
CREATE INDEX memberships_list_signin_idx ON memberships (project_id, last_signin_at NULLS FIRST, id);
CREATE INDEX memberships_list_status_idx ON memberships (project_id, status, sort_first, id);

CREATE FUNCTION rollcall_profile_fold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships SET sort_first = NEW.sort_first, sort_last = NEW.sort_last,
        email = COALESCE(NEW.email, '')
    WHERE profile_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER profiles_fold_to_memberships AFTER UPDATE OF sort_first, sort_last, email ON profiles
FOR EACH ROW EXECUTE FUNCTION rollcall_profile_fold();

CREATE FUNCTION rollcall_user_mfa() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships SET mfa = NEW.mfa_enrolled WHERE user_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER users_mfa_to_memberships AFTER UPDATE OF mfa_enrolled ON users
FOR EACH ROW WHEN (OLD.mfa_enrolled IS DISTINCT FROM NEW.mfa_enrolled)
EXECUTE FUNCTION rollcall_user_mfa();

-- One row per project and combination of what the tabs filter on; `members` is how many
-- memberships (of people, not client applications) have exactly those values.
CREATE TABLE member_counts (
    project_id TEXT NOT NULL,
    profile_type TEXT NOT NULL,
    status TEXT NOT NULL,
    admin BOOLEAN NOT NULL,
    active BOOLEAN NOT NULL,
    mfa BOOLEAN NOT NULL,
    signed_in BOOLEAN NOT NULL,
    members BIGINT NOT NULL,
    PRIMARY KEY (project_id, profile_type, status, admin, active, mfa, signed_in)
);
INSERT INTO member_counts
SELECT project_id, profile_type, status, admin, active, mfa, last_signin_at IS NOT NULL, COUNT(*)
FROM memberships WHERE profile_type IS NOT NULL
GROUP BY project_id, profile_type, status, admin, active, mfa, last_signin_at IS NOT NULL;

-- Moves one membership between counter rows. The two rows are touched in key order, so two
-- transactions moving members in opposite directions cannot deadlock on them.
CREATE FUNCTION rollcall_member_counts() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_key TEXT;
    new_key TEXT;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.profile_type IS NOT NULL THEN
        old_key := concat_ws('|', OLD.project_id, OLD.profile_type, OLD.status, OLD.admin,
            OLD.active, OLD.mfa, OLD.last_signin_at IS NOT NULL);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.profile_type IS NOT NULL THEN
        new_key := concat_ws('|', NEW.project_id, NEW.profile_type, NEW.status, NEW.admin,
            NEW.active, NEW.mfa, NEW.last_signin_at IS NOT NULL);
    END IF;
    IF old_key IS NOT DISTINCT FROM new_key THEN
        RETURN NULL;
    END IF;
    IF new_key IS NOT NULL AND (old_key IS NULL OR new_key COLLATE "C" < old_key COLLATE "C") THEN
        INSERT INTO member_counts VALUES (NEW.project_id, NEW.profile_type, NEW.status, NEW.admin,
            NEW.active, NEW.mfa, NEW.last_signin_at IS NOT NULL, 1)
        ON CONFLICT (project_id, profile_type, status, admin, active, mfa, signed_in)
        DO UPDATE SET members = member_counts.members + 1;
        new_key := NULL;
    END IF;
    IF old_key IS NOT NULL THEN
        UPDATE member_counts SET members = members - 1
        WHERE project_id = OLD.project_id AND profile_type = OLD.profile_type
            AND status = OLD.status AND admin = OLD.admin AND active = OLD.active
            AND mfa = OLD.mfa AND signed_in = (OLD.last_signin_at IS NOT NULL);
    END IF;
    IF new_key IS NOT NULL THEN
        INSERT INTO member_counts VALUES (NEW.project_id, NEW.profile_type, NEW.status, NEW.admin,
            NEW.active, NEW.mfa, NEW.last_signin_at IS NOT NULL, 1)
        ON CONFLICT (project_id, profile_type, status, admin, active, mfa, signed_in)
        DO UPDATE SET members = member_counts.members + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER member_counts_change AFTER INSERT OR DELETE ON memberships
FOR EACH ROW EXECUTE FUNCTION rollcall_member_counts();
CREATE TRIGGER member_counts_update
AFTER UPDATE OF project_id, profile_type, status, admin, active, mfa, last_signin_at ON memberships
FOR EACH ROW EXECUTE FUNCTION rollcall_member_counts();

-- Substring search with pg_trgm, where the server has it (it ships with PostgreSQL's contrib
-- package, which every common distribution installs). Without it, Rollcall still searches,
-- with a scan of the project's profiles, and says so in the log at start-up.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX profiles_search_idx ON profiles USING gin (search_text gin_trgm_ops);
    ELSE
        RAISE NOTICE 'pg_trgm is not available: member search will scan instead of using an index';
    END IF;
END $$;
