-- SQLite's trigram index needed its delete trigger fixed (see the SQLite migration of the
-- same name); PostgreSQL's pg_trgm index lives on the profiles table itself.
--
-- Every membership change updates a row of member_counts. Half-empty pages let those updates
-- stay on their page (HOT), where later reads prune the old versions, so the small table
-- stays small between vacuums (and where autovacuum is off).
ALTER TABLE member_counts SET (fillfactor = 50);
