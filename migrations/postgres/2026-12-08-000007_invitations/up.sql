-- The pending invitations page: which email told the person of their invitation (its
-- delivery state is in the outbox), and the project's invited members newest first.
ALTER TABLE memberships ADD COLUMN invitation_email_id TEXT;
CREATE INDEX memberships_invited_idx ON memberships (project_id, status, created_at, id);
-- A change of email address waits for its link: the new address until then.
ALTER TABLE security_requests ADD COLUMN new_email TEXT;
