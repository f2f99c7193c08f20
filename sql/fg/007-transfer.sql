-- NAME
--	fg/007-transfer.sql - registration transfer in flight (doc/flows.md 9)
-- DESCRIPTION
--	A transfer is bound to the other courier's CA key (other_ca: the
--	SHA-256 of its CA certificate's SubjectPublicKeyInfo, hex, as
--	introductions.courier_key has it), read from its foreground's
--	introduction when the operator records the transfer; a message of
--	the transfer is taken only from a foreground element under it.
--	message_id is the Id of the last transfer-subscription sent (at
--	the old courier) or taken (at the new one), sent_at when it went.
--	made_account says the new courier created the pending account for
--	this transfer, which a cancel then closes. last_error is the last
--	refusal the other courier gave, for the help desk.
--
--	A rekey a transfer carries is requested_by 'transfer'.
--
--	accounts.transferred_from names the old courier of an account a
--	transfer brought here (set when the pending account is made, kept
--	after). It is published: the background pins the agent
--	certificate of such a pending account (sql/bg/011-transfer.sql),
--	so that the agent, still holding the old courier's certificate,
--	can fetch its rekey here. The background's accounts carries the
--	same column; migrate the background first.

ALTER TABLE transfers
	ADD COLUMN other_ca text,
	ADD COLUMN message_id text,
	ADD COLUMN sent_at timestamptz,
	ADD COLUMN made_account boolean NOT NULL DEFAULT false,
	ADD COLUMN last_error text;

ALTER TABLE accounts ADD COLUMN transferred_from text;

ALTER TABLE rekeys DROP CONSTRAINT rekeys_requested_by_check;
ALTER TABLE rekeys ADD CONSTRAINT rekeys_requested_by_check
	CHECK (requested_by IN ('operator', 'policy', 'transfer'));

CREATE OR REPLACE VIEW helpdesk.transfers_in_flight AS
SELECT address, direction, other_courier, state, started_at, updated_at,
    now() - started_at AS age, sent_at, last_error
FROM transfers
WHERE state NOT IN ('complete', 'cancelled')
ORDER BY started_at;
