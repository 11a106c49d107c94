-- Members invited by externalId alone have no email: their project-scoped user row has an
-- empty one, which must not collide with the next such member of the project.
DROP INDEX users_project_email_key;
CREATE UNIQUE INDEX users_project_email_key ON users (project_id, email)
    WHERE project_id IS NOT NULL AND email <> '';
-- Rotating a client's secret revokes its tokens by client.
CREATE INDEX logins_client_idx ON logins (client_id);
