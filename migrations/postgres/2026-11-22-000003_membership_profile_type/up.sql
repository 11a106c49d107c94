-- The profile's resource type, copied onto its membership (it never changes): the Users and
-- Patients tabs count members from one index instead of a join over every member.
ALTER TABLE memberships ADD COLUMN profile_type TEXT;
UPDATE memberships SET profile_type = (SELECT resource_type FROM profiles WHERE profiles.id = memberships.profile_id);
CREATE INDEX memberships_project_type_idx ON memberships (project_id, profile_type, admin);
