-- The Users tab shows when each member last signed in, without a query per row.
ALTER TABLE users ADD COLUMN last_signin_at TIMESTAMP;
-- Users tab: sort by email within a project.
CREATE INDEX profiles_project_email_idx ON profiles (project_id, email);
-- Audit log: filter by action within a project, newest first.
CREATE INDEX audit_events_project_action_idx ON audit_events (project_id, action, created_at);
