-- NAME
--	fg/004-courier-claims.sql - who a courier is, and what it may claim
-- DESCRIPTION
--	A courier is identified by the key of its CA, not by its name
--	(doc/security.md). introductions.courier_key is the hex SHA-256 of
--	the courier CA's SubjectPublicKeyInfo (NULL for rows learned before
--	this migration: the next introduction of that courier fills it).
--	introductions.pinned marks what the operator recorded (tandemctl
--	intro add): nothing another courier sends replaces it.
--
--	route_tokens holds the SHA-256 of each route token this element put
--	into an inter-courier message it originated, with its address: the
--	courier that finally takes the message proves it by echoing the
--	token in its introduction back (Route-Proof). It is this element's
--	own and is never published.
--
--	The invitation_tokens trigger (fg/003) now keeps a token after the
--	invitation is answered by a reject, until it expires: both
--	elements take it once each, whichever hears the reject first.
--
--	refused_claims records each claim refused from a peer, once per
--	courier key and claim, with how often and when it came again;
--	helpdesk.refused_claims shows it.

ALTER TABLE introductions ADD COLUMN courier_key text
	CHECK (courier_key ~ '^[0-9a-f]{64}$');
ALTER TABLE introductions ADD COLUMN pinned boolean NOT NULL DEFAULT false;

CREATE TABLE route_tokens (
	token_hash	bytea PRIMARY KEY,	-- SHA-256 of the route token
	address		text NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL
);
CREATE INDEX route_tokens_address ON route_tokens (address);

CREATE TABLE refused_claims (
	courier		text NOT NULL,	-- the name it gave
	courier_key	text NOT NULL,	-- its CA's key
	claim		text NOT NULL,	-- "Address x", "Domain d", "courier n"
	reason		text NOT NULL,
	first_at	timestamptz NOT NULL DEFAULT now(),
	last_at		timestamptz NOT NULL DEFAULT now(),
	times		integer NOT NULL DEFAULT 1,
	PRIMARY KEY (courier_key, claim)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON route_tokens, refused_claims
	TO tandem_fg;

CREATE VIEW helpdesk.refused_claims AS
SELECT courier, courier_key, claim, reason, first_at, last_at, times
FROM refused_claims
ORDER BY last_at DESC;
GRANT SELECT ON helpdesk.refused_claims TO tandem_helpdesk;

CREATE OR REPLACE FUNCTION tandem_invitation_token() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		DELETE FROM public.invitation_tokens
			WHERE token_hash = OLD.token_hash;
	END IF;
	IF TG_OP <> 'DELETE' AND NEW.status IN ('pending', 'rejected') THEN
		INSERT INTO public.invitation_tokens
			(token_hash, address, expires_at)
			VALUES (NEW.token_hash, NEW.address, NEW.expires_at);
	END IF;
	RETURN NULL;
END
$$;
