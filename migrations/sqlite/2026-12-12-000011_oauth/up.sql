-- The keys tokens are signed with (ES256). The newest key that is not retired signs; a
-- retired key still verifies until the tokens it signed have expired, then it is deleted.
CREATE TABLE signing_keys (
    id TEXT PRIMARY KEY NOT NULL,
    private_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    retired_at TIMESTAMP
);

-- What a sign-in through the API (or an app's authorization request) asked for, and the
-- one code it earns: one row per login. The code is kept as a SHA-256 hash.
CREATE TABLE login_grants (
    login_id TEXT PRIMARY KEY NOT NULL REFERENCES logins(id) ON DELETE CASCADE,
    client_id TEXT REFERENCES client_applications(id) ON DELETE CASCADE,
    redirect_uri TEXT,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT,
    code_challenge_method TEXT,
    code_hash TEXT,
    code_expires_at TIMESTAMP,
    code_used_at TIMESTAMP,
    pending_until TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- When the person authenticated, if before this login (a browser session's sign-in).
    auth_time TIMESTAMP,
    -- The sign-in is for a new project (Medplum's projectId "new"): no project is chosen;
    -- /auth/newproject makes one.
    new_project BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX login_grants_code_key ON login_grants (code_hash);

-- Refresh tokens, kept as SHA-256 hashes. Each use replaces the token; a used one that comes
-- back means it was copied, and ends its login with every token of it.
CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    login_id TEXT NOT NULL REFERENCES logins(id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX refresh_tokens_token_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_login ON refresh_tokens (login_id);
