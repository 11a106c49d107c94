DROP INDEX memberships_project_type_idx;
ALTER TABLE memberships DROP COLUMN profile_type;
