DROP TRIGGER profile_search_delete;
CREATE TRIGGER profile_search_delete AFTER DELETE ON profiles
BEGIN
    DELETE FROM profile_search
    WHERE rowid = (SELECT id FROM profile_search_keys WHERE profile_id = OLD.id);
    DELETE FROM profile_search_keys WHERE profile_id = OLD.id;
END;
