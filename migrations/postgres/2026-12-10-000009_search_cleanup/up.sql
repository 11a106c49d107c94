-- SQLite's trigram index needed its delete trigger fixed (see the SQLite migration of the
-- same name); PostgreSQL's pg_trgm index lives on the profiles table itself. Nothing to do.
SELECT 1;
