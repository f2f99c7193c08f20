-- NAME
--	fg/013-invitation-decline.sql - "do not invite me again"
-- DESCRIPTION
--	invitations.decline_hash is the SHA-256 of the decline code that
--	the invitation's readable text gives (NULL for invitations made
--	before this migration). An answer from the invited address whose
--	Subject carries that code records the address in
--	declined_addresses and sets the invitation's status 'declined'
--	(doc/flows.md 2, "Do not invite me again"). The milter then holds
--	no private mail for a declined address and sends it no
--	invitation; each sender gets a notice. The row goes when the
--	address registers, or when the operator invites it again with
--	tandemctl invite --again. Not published (the background learns it
--	from a bg_relay row, sql/bg/015): the opt-out is this
--	courier's.

ALTER TABLE invitations ADD COLUMN decline_hash bytea UNIQUE;
ALTER TABLE invitations DROP CONSTRAINT invitations_status_check;
ALTER TABLE invitations ADD CONSTRAINT invitations_status_check
	CHECK (status IN ('pending', 'accepted', 'rejected', 'expired',
	    'declined'));

CREATE TABLE declined_addresses (
	address		text PRIMARY KEY,	-- lower case
	invitation_id	bigint,	-- invitations.id of the answered one (no key:
				-- invitations may be emptied alone)
	declined_at	timestamptz NOT NULL DEFAULT now(),
	answered_by	text	-- the answer's envelope sender, for the log
);

GRANT SELECT, INSERT, UPDATE, DELETE ON declined_addresses TO tandem_fg;

-- For the help desk: why an address gets no invitation (doc/helpdesk.md).
CREATE VIEW helpdesk.declined_addresses AS
SELECT address, declined_at, answered_by
FROM declined_addresses
ORDER BY declined_at DESC;

GRANT SELECT ON helpdesk.declined_addresses TO tandem_helpdesk;
