DROP INDEX audit_events_project_action_idx;
DROP INDEX profiles_project_email_idx;
ALTER TABLE users DROP COLUMN last_signin_at;
