-- OpenID Connect providers that sign in the people of an email domain: a project's own
-- (project-scoped) accounts, or server-wide accounts when project_id is NULL (super admins).
-- scope_key is the project id or '' so that a unique index allows one provider per domain
-- per scope on both databases (NULLs are distinct in unique indexes).
CREATE TABLE identity_providers (
    id TEXT PRIMARY KEY NOT NULL,
    domain TEXT NOT NULL,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    scope_key TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX identity_providers_domain_key ON identity_providers (domain, scope_key);

-- A sign-in sent to a provider and not yet back: the state (as a SHA-256 hash), the PKCE
-- verifier and nonce to check the answer with, and where to go afterwards (a page of this
-- site, or an app's request as JSON). Used once; valid 10 minutes.
CREATE TABLE external_sign_ins (
    id TEXT PRIMARY KEY NOT NULL,
    state_hash TEXT NOT NULL,
    provider_id TEXT NOT NULL REFERENCES identity_providers(id) ON DELETE CASCADE,
    code_verifier TEXT NOT NULL,
    nonce TEXT NOT NULL,
    email TEXT NOT NULL,
    next TEXT,
    app_request TEXT,
    -- The browser that started it (a value in its session cookie, hashed): the answer is
    -- accepted only there, so nobody can sign someone else's browser in to their account.
    binding_hash TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX external_sign_ins_state_key ON external_sign_ins (state_hash);
