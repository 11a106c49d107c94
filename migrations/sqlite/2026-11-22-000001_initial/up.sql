-- Rollcall's initial schema (SQLite). Kept in step with migrations/postgres and src/db/schema.rs.
-- SQLite resolves foreign keys when rows change, so tables may reference tables created further down.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    email TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash TEXT,
    -- NULL: a server-scoped user; otherwise the one project this user belongs to.
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    mfa_secret TEXT,
    mfa_enrolled BOOLEAN NOT NULL DEFAULT FALSE,
    mfa_last_step BIGINT,
    super_admin BOOLEAN NOT NULL DEFAULT FALSE,
    security_stamp TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX users_server_email_key ON users (email) WHERE project_id IS NULL;
CREATE UNIQUE INDEX users_project_email_key ON users (project_id, email) WHERE project_id IS NOT NULL;

CREATE TABLE projects (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    owner_id TEXT NOT NULL REFERENCES users(id),
    default_patient_policy_id TEXT REFERENCES access_policies(id) ON DELETE SET NULL,
    require_mfa BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX projects_owner_idx ON projects (owner_id);

CREATE TABLE access_policies (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX access_policies_project_idx ON access_policies (project_id, name);

CREATE TABLE access_policy_rules (
    id TEXT PRIMARY KEY NOT NULL,
    policy_id TEXT NOT NULL REFERENCES access_policies(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    resource_type TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    criteria TEXT
);
CREATE INDEX access_policy_rules_policy_idx ON access_policy_rules (policy_id, position);

CREATE TABLE profiles (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    prefix TEXT,
    suffix TEXT,
    email TEXT,
    phone TEXT,
    gender TEXT,
    birth_date DATE,
    language TEXT,
    -- JSON array of {text, issuer, start, end}
    qualifications TEXT NOT NULL DEFAULT '[]',
    photo BLOB,
    photo_content_type TEXT,
    photo_updated_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX profiles_project_type_email_idx ON profiles (project_id, resource_type, email);
CREATE INDEX profiles_project_name_idx ON profiles (project_id, last_name, first_name);

CREATE TABLE client_applications (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    redirect_uri TEXT,
    secret_hash TEXT NOT NULL,
    super_admin BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX client_applications_project_idx ON client_applications (project_id);

CREATE TABLE memberships (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT REFERENCES client_applications(id) ON DELETE CASCADE,
    profile_id TEXT REFERENCES profiles(id),
    access_policy_id TEXT REFERENCES access_policies(id),
    admin BOOLEAN NOT NULL DEFAULT FALSE,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    status TEXT NOT NULL,
    mfa_required BOOLEAN NOT NULL DEFAULT FALSE,
    invited_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    external_id TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((user_id IS NULL) <> (client_id IS NULL))
);
CREATE UNIQUE INDEX memberships_project_user_key ON memberships (project_id, user_id);
CREATE UNIQUE INDEX memberships_project_client_key ON memberships (project_id, client_id);
CREATE UNIQUE INDEX memberships_project_external_key ON memberships (project_id, external_id);
CREATE INDEX memberships_user_idx ON memberships (user_id);
CREATE INDEX memberships_profile_idx ON memberships (profile_id);

CREATE TABLE logins (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    client_id TEXT REFERENCES client_applications(id) ON DELETE CASCADE,
    -- The current project; cleared when that membership is removed.
    membership_id TEXT REFERENCES memberships(id) ON DELETE SET NULL,
    method TEXT NOT NULL,
    remember BOOLEAN NOT NULL DEFAULT FALSE,
    -- SHA-256 of a bearer token (API logins only).
    token_hash TEXT,
    security_stamp TEXT NOT NULL,
    mfa_verified BOOLEAN NOT NULL DEFAULT FALSE,
    ip TEXT,
    user_agent TEXT,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE UNIQUE INDEX logins_token_key ON logins (token_hash);
CREATE INDEX logins_user_idx ON logins (user_id);
CREATE INDEX logins_membership_idx ON logins (membership_id);

CREATE TABLE security_requests (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    -- SHA-256 of the secret in the link; the secret itself is never stored.
    secret_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    superseded_at TIMESTAMP
);
CREATE INDEX security_requests_user_idx ON security_requests (user_id, kind);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    to_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    -- A worker that claimed the message owns it until then.
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT REFERENCES projects(id) ON DELETE CASCADE,
    actor_id TEXT,
    actor_display TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT,
    target_id TEXT,
    target_display TEXT,
    detail TEXT NOT NULL DEFAULT '',
    ip TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_project_idx ON audit_events (project_id, created_at);
