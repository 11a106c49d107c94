ALTER TABLE security_requests DROP COLUMN new_email;
DROP INDEX memberships_invited_idx;
ALTER TABLE memberships DROP COLUMN invitation_email_id;
