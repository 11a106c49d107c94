-- SQLite's memberships carry their trigram-index key for common searches (see the SQLite
-- migration of the same name). PostgreSQL's pg_trgm index lives on the profiles table and
-- needs no key; this migration keeps the two trees' versions in step.
SELECT 1;
