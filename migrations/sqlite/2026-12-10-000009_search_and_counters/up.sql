-- A deleted profile's trigram entry must go with it. The old AFTER DELETE trigger looked up
-- the profile's key after the foreign key's cascade had already deleted it, so the entry
-- stayed, and a new profile given the freed key matched the deleted person's text. The entry
-- now goes before the profile (and its key); entries without a key are removed.
DROP TRIGGER profile_search_delete;
CREATE TRIGGER profile_search_delete BEFORE DELETE ON profiles
BEGIN
    DELETE FROM profile_search
    WHERE rowid = (SELECT id FROM profile_search_keys WHERE profile_id = OLD.id);
END;
DELETE FROM profile_search WHERE rowid NOT IN (SELECT id FROM profile_search_keys);
