-- Identifiers of a member's profile in this project (FHIR `identifier`: a JSON list of
-- {system, value}), kept by the project's admins.
ALTER TABLE profiles ADD COLUMN identifiers TEXT NOT NULL DEFAULT '[]';
