-- NAME
--	bg/009-revocation.sql - what a revocation needs to know
-- DESCRIPTION
--	A sender may revoke a message (POST /v1/revoke, doc/flows.md 7).
--	The background must then know, for each recipient it delivered
--	to, who the ARM was from, also after the recipient's agent took
--	it and the mailbox row is gone: carried_arms keeps one row per
--	message and recipient delivered here (never the ARM, its key or
--	its wrap), and revoked_at once revoked; or forwarded to another
--	courier (courier: its name), where revoked_at says when the
--	revoke was sent on, revoke_via to which courier, and answered_at
--	when that courier's receipt came back, settled_at when the
--	second one did (the recipient's agent's word, below). For a
--	recipient delivered here, told_agent_at says when the revoke was
--	filed for its agent (it had fetched the ARM), settled_at when the
--	agent said whether it had opened the message (POST /v1/receipt,
--	taken once). origin is the
--	Origin-Courier of an ARM another courier brought (NULL for a
--	local sender's): only a revoke with the same origin is believed.
--	Its rows go with hygiene.history_limit, like the help desk's
--	history.
--
--	held_arms.revoked_at marks a held ARM destroyed by a revocation
--	(purged_at is set too: it is gone); helpdesk.held_arms_history
--	shows it as "revoked". held_arms.origin is as in carried_arms.
--
--	agent_mailbox.about names the other party of a row: the sender
--	of an ARM, the recipient a receipt is about; "" otherwise. A
--	sender revoking a message to several recipients gets one receipt
--	each, so a row is unique by (address, kind, message_id, about).

CREATE TABLE carried_arms (
	message_id	text NOT NULL,
	recipient	text NOT NULL,
	sender		text NOT NULL,
	courier		text,
	origin		text,
	delivered_at	timestamptz NOT NULL DEFAULT now(),
	revoked_at	timestamptz,
	revoke_via	text,
	answered_at	timestamptz,
	told_agent_at	timestamptz,
	settled_at	timestamptz,
	PRIMARY KEY (message_id, recipient)
);

ALTER TABLE held_arms ADD COLUMN revoked_at timestamptz;
ALTER TABLE held_arms ADD COLUMN origin text;

ALTER TABLE agent_mailbox ADD COLUMN about text NOT NULL DEFAULT '';
ALTER TABLE agent_mailbox
	DROP CONSTRAINT agent_mailbox_address_kind_message_id_key;
ALTER TABLE agent_mailbox
	ADD UNIQUE (address, kind, message_id, about);

GRANT SELECT, INSERT, UPDATE, DELETE ON carried_arms TO tandem_bg;

CREATE OR REPLACE VIEW helpdesk.held_arms_history AS
SELECT id, message_id, sender, recipient, received_at,
    CASE WHEN released_at IS NOT NULL THEN 'released'
	WHEN revoked_at IS NOT NULL THEN 'revoked' ELSE 'purged' END
	AS outcome,
    coalesce(released_at, purged_at) AS ended_at
FROM held_arms
WHERE released_at IS NOT NULL OR purged_at IS NOT NULL
ORDER BY ended_at DESC, id DESC;
