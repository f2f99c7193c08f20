-- NAME
--	bg/003-mailbox-expiry.sql - the expiry of an ARM waiting for its agent
-- DESCRIPTION
--	tandem-policyd drops an expired ARM instead of delivering it, also
--	when it already waits in agent_mailbox (the wrap there is opaque to
--	the database, so the expiry is kept beside it). NULL: never expires.

ALTER TABLE agent_mailbox ADD COLUMN expires_at timestamptz;
CREATE INDEX agent_mailbox_expires_at ON agent_mailbox (expires_at)
	WHERE expires_at IS NOT NULL;
