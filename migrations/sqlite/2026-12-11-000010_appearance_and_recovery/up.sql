-- The account's chosen appearance: 'light', 'dark', or NULL to follow the device.
ALTER TABLE users ADD COLUMN theme TEXT;

-- Single-use recovery codes for two-factor authentication, stored as SHA-256 hashes.
CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);
