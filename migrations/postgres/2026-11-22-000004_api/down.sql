DROP INDEX logins_client_idx;
DROP INDEX users_project_email_key;
CREATE UNIQUE INDEX users_project_email_key ON users (project_id, email) WHERE project_id IS NOT NULL;
