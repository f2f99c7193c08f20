-- NAME
--	fg/003-federation.sql - what many couriers need on the foreground
-- DESCRIPTION
--	invitation_tokens holds, for each pending invitation, the SHA-256
--	of its referral token, its address and its expiry. It is published
--	to the background (tandem_pub), which checks an invitation reject
--	against it (doc/federation.md, section 7). A trigger on invitations
--	keeps it, in the same transaction as each change: a row appears
--	with a pending invitation and goes when the invitation is no longer
--	pending, or is deleted. Nobody writes it directly.
--
--	A foreground published before this migration gets the table added
--	to tandem_pub here; "tandemctl db publish" lists it too, and
--	"tandemctl db subscribe" on the background refreshes the
--	subscription so that the background copies it.
--
--	introductions.role is the role of the introduced courier, from its
--	CA certificate (NULL for rows learned before this migration).

CREATE TABLE invitation_tokens (
	token_hash	bytea PRIMARY KEY,	-- SHA-256 of the referral token
	address		text NOT NULL,
	expires_at	timestamptz NOT NULL
);
CREATE INDEX invitation_tokens_address ON invitation_tokens (address);

INSERT INTO invitation_tokens (token_hash, address, expires_at)
	SELECT token_hash, address, expires_at FROM invitations
	WHERE status = 'pending';

CREATE FUNCTION tandem_invitation_token() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP <> 'INSERT' THEN
		DELETE FROM public.invitation_tokens
			WHERE token_hash = OLD.token_hash;
	END IF;
	IF TG_OP <> 'DELETE' AND NEW.status = 'pending' THEN
		INSERT INTO public.invitation_tokens
			(token_hash, address, expires_at)
			VALUES (NEW.token_hash, NEW.address, NEW.expires_at);
	END IF;
	RETURN NULL;
END
$$;
CREATE TRIGGER invitations_token AFTER INSERT OR UPDATE OR DELETE
	ON invitations FOR EACH ROW
	EXECUTE FUNCTION tandem_invitation_token();

DO $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_publication
	    WHERE pubname = 'tandem_pub') THEN
		ALTER PUBLICATION tandem_pub ADD TABLE invitation_tokens;
	END IF;
END
$$;

ALTER TABLE introductions ADD COLUMN role text
	CHECK (role IN ('root', 'public', 'private', 'gateway'));

GRANT SELECT, INSERT, UPDATE, DELETE ON invitation_tokens TO tandem_fg;
