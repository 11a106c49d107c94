ALTER TABLE profiles DROP COLUMN identifiers;
