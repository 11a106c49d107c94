DROP TABLE recovery_codes;
ALTER TABLE users DROP COLUMN theme;
