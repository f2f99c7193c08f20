-- NAME
--	fg/011-invitation-inviter.sql - who caused each invitation
-- DESCRIPTION
--	invitations.inviter is the sender whose message held the mail and
--	invited the address (lower case; NULL for invitations made before
--	this migration, or by tandemctl invite). The milter counts a
--	sender's invitations of the last 24 hours against
--	foreground.max_invitations.

ALTER TABLE invitations ADD COLUMN inviter text;
CREATE INDEX invitations_inviter ON invitations (inviter, sent_at)
	WHERE inviter IS NOT NULL;
