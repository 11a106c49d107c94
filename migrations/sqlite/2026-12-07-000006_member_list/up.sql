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

ALTER TABLE memberships ADD COLUMN sort_first TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN sort_last TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN email TEXT NOT NULL DEFAULT '';
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
CREATE INDEX memberships_list_signin_idx ON memberships (project_id, last_signin_at, id);
CREATE INDEX memberships_list_status_idx ON memberships (project_id, status, sort_first, id);

CREATE TRIGGER profiles_fold_to_memberships AFTER UPDATE OF sort_first, sort_last, email ON profiles
BEGIN
    UPDATE memberships SET sort_first = NEW.sort_first, sort_last = NEW.sort_last,
        email = COALESCE(NEW.email, '')
    WHERE profile_id = NEW.id;
END;
CREATE TRIGGER users_mfa_to_memberships AFTER UPDATE OF mfa_enrolled ON users
BEGIN
    UPDATE memberships SET mfa = NEW.mfa_enrolled WHERE user_id = NEW.id;
END;

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

CREATE TRIGGER member_counts_insert AFTER INSERT ON memberships
WHEN NEW.profile_type IS NOT NULL
BEGIN
    INSERT INTO member_counts
    SELECT NEW.project_id, NEW.profile_type, NEW.status, NEW.admin, NEW.active, NEW.mfa,
        NEW.last_signin_at IS NOT NULL, 1
    WHERE TRUE
    ON CONFLICT (project_id, profile_type, status, admin, active, mfa, signed_in)
    DO UPDATE SET members = members + 1;
END;
CREATE TRIGGER member_counts_delete AFTER DELETE ON memberships
WHEN OLD.profile_type IS NOT NULL
BEGIN
    UPDATE member_counts SET members = members - 1
    WHERE project_id = OLD.project_id AND profile_type = OLD.profile_type
        AND status = OLD.status AND admin = OLD.admin AND active = OLD.active
        AND mfa = OLD.mfa AND signed_in = (OLD.last_signin_at IS NOT NULL);
END;
CREATE TRIGGER member_counts_update
AFTER UPDATE OF project_id, profile_type, status, admin, active, mfa, last_signin_at ON memberships
WHEN OLD.project_id IS NOT NEW.project_id OR OLD.profile_type IS NOT NEW.profile_type
    OR OLD.status IS NOT NEW.status OR OLD.admin IS NOT NEW.admin
    OR OLD.active IS NOT NEW.active OR OLD.mfa IS NOT NEW.mfa
    OR (OLD.last_signin_at IS NULL) <> (NEW.last_signin_at IS NULL)
BEGIN
    UPDATE member_counts SET members = members - 1
    WHERE OLD.profile_type IS NOT NULL
        AND project_id = OLD.project_id AND profile_type = OLD.profile_type
        AND status = OLD.status AND admin = OLD.admin AND active = OLD.active
        AND mfa = OLD.mfa AND signed_in = (OLD.last_signin_at IS NOT NULL);
    INSERT INTO member_counts
    SELECT NEW.project_id, NEW.profile_type, NEW.status, NEW.admin, NEW.active, NEW.mfa,
        NEW.last_signin_at IS NOT NULL, 1
    WHERE NEW.profile_type IS NOT NULL
    ON CONFLICT (project_id, profile_type, status, admin, active, mfa, signed_in)
    DO UPDATE SET members = members + 1;
END;

-- Substring search: a trigram index over each profile's folded "first last email". The
-- index holds no copy of the text (contentless); `profile_search_keys` gives every profile a
-- stable integer key for it (a plain rowid could change on VACUUM).
CREATE TABLE profile_search_keys (
    id INTEGER PRIMARY KEY,
    profile_id TEXT NOT NULL UNIQUE REFERENCES profiles(id) ON DELETE CASCADE
);
CREATE VIRTUAL TABLE profile_search USING fts5(
    search_text, content = '', contentless_delete = 1, tokenize = 'trigram'
);
CREATE TRIGGER profile_search_insert AFTER INSERT ON profiles
BEGIN
    INSERT INTO profile_search_keys (profile_id) VALUES (NEW.id);
    INSERT INTO profile_search (rowid, search_text)
    SELECT id, NEW.search_text FROM profile_search_keys WHERE profile_id = NEW.id;
END;
CREATE TRIGGER profile_search_update AFTER UPDATE OF search_text ON profiles
BEGIN
    DELETE FROM profile_search
    WHERE rowid = (SELECT id FROM profile_search_keys WHERE profile_id = NEW.id);
    INSERT INTO profile_search (rowid, search_text)
    SELECT id, NEW.search_text FROM profile_search_keys WHERE profile_id = NEW.id;
END;
CREATE TRIGGER profile_search_delete AFTER DELETE ON profiles
BEGIN
    DELETE FROM profile_search
    WHERE rowid = (SELECT id FROM profile_search_keys WHERE profile_id = OLD.id);
    DELETE FROM profile_search_keys WHERE profile_id = OLD.id;
END;
INSERT INTO profile_search_keys (profile_id) SELECT id FROM profiles;
