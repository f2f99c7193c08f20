-- NAME
--	fg/006-rekey.sql - key replacement in flight (doc/flows.md 8)
-- DESCRIPTION
--	rekeys holds one row per rekey of an account: who asked for it
--	(the operator, with "tandemctl account rekey", or the policy
--	hygiene.rekey_after), the generation it makes, and where it
--	stands: requested (recorded, no notice yet), noticed (the
--	notice-to-rekey is in bg_relay), keys-sent (the agent asked with
--	exchange-keys, the new generation is in account_keys and the
--	answer in bg_relay), complete (the agent said rekeying-complete;
--	accounts carries the new certificates) or cancelled. At most one
--	is open per address. Not published: the background learns only
--	the keys, by account_keys and accounts.
--
--	The Id of each exchange-keys is taken once (seen_messages, kind
--	exchange-keys). new_agent_cert and new_courier_cert are the generation's
--	certificates until the account switches to them; old_agent_cert
--	and old_courier_cert are the certificates the account had, taken
--	(as signer, and to open a wrap made to it) until
--	the old generation's account_keys.retired_at (the grace).
--
--	The account's current generation (tandem_generation()) is the
--	newest one neither retired nor the generation of a rekey still
--	open; a rekey makes the one after it. A cancelled rekey retires
--	the generation it issued (milter/rekey.c).

CREATE TABLE rekeys (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address		text NOT NULL REFERENCES accounts ON DELETE CASCADE,
	generation	integer NOT NULL CHECK (generation >= 2),
	requested_by	text NOT NULL CHECK (requested_by IN ('operator',
			'policy')),
	reason		text NOT NULL DEFAULT '',
	state		text NOT NULL DEFAULT 'requested' CHECK (state IN
			('requested', 'noticed', 'keys-sent', 'complete',
			'cancelled')),
	notice_id	text,
	new_agent_cert	text,
	new_courier_cert text,
	old_agent_cert	text,
	old_courier_cert text,
	requested_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	completed_at	timestamptz
);
CREATE UNIQUE INDEX rekeys_one_open ON rekeys (address)
	WHERE state NOT IN ('complete', 'cancelled');

GRANT SELECT, INSERT, UPDATE, DELETE ON rekeys TO tandem_fg;

-- Run with its owner's rights and search path: the help desk's view
-- below calls it, and the help desk reads no table of public.
CREATE FUNCTION tandem_generation(addr text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public, pg_catalog AS $$
	SELECT max(k.generation) FROM account_keys k
	WHERE k.address = addr AND k.retired_at IS NULL
	AND NOT EXISTS (SELECT 1 FROM rekeys r WHERE r.address = k.address
	    AND r.generation = k.generation
	    AND r.state IN ('requested', 'noticed', 'keys-sent'))
$$;
REVOKE ALL ON FUNCTION tandem_generation(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tandem_generation(text)
	TO tandem_fg, tandem_helpdesk;

CREATE OR REPLACE VIEW helpdesk.account_status AS
SELECT a.address, a.status, a.redirect_to, a.created_at, a.updated_at,
    k.generation AS key_generation, k.key_serial, k.created_at AS key_since
FROM accounts a
LEFT JOIN account_keys k ON k.address = a.address
    AND k.generation = tandem_generation(a.address);

CREATE VIEW helpdesk.rekeys AS
SELECT address, generation, state, requested_by, reason, requested_at,
    updated_at, completed_at, now() - requested_at AS age
FROM rekeys
ORDER BY state IN ('complete', 'cancelled'), requested_at DESC;

GRANT SELECT ON helpdesk.account_status, helpdesk.rekeys TO tandem_helpdesk;
