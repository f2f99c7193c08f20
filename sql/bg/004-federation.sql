-- NAME
--	bg/004-federation.sql - what many couriers need on the background
-- DESCRIPTION
--	invitation_tokens is the subscribed copy of the foreground's table
--	(sql/fg/003-federation.sql): the SHA-256 of each pending referral
--	token, its address and expiry. Like accounts, only the
--	subscription writes it; tandem_bg may only read it.
--
--	bg_outbox holds what this background must POST to another
--	courier's background (an inter-courier message, an introduction):
--	the URL, the body (the wrap), and the state of its retries. A row
--	is done when sent_at is set (the other side answered 201 or 200).
--
--	introductions.role is the role of the introduced courier, from its
--	CA certificate (NULL for rows learned before this migration).

CREATE TABLE invitation_tokens (
	token_hash	bytea PRIMARY KEY,
	address		text NOT NULL,
	expires_at	timestamptz NOT NULL
);
CREATE INDEX invitation_tokens_address ON invitation_tokens (address);
GRANT SELECT ON invitation_tokens TO tandem_bg;

CREATE TABLE bg_outbox (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	url		text NOT NULL CHECK (url LIKE 'https://%'),
	kind		text NOT NULL,	-- protocol kind, for logs
	message_id	text,		-- the carried message, for logs
	body		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	last_error	text,
	sent_at		timestamptz
);
CREATE INDEX bg_outbox_due ON bg_outbox (next_attempt_at)
	WHERE sent_at IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON bg_outbox TO tandem_bg;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO tandem_bg;

ALTER TABLE introductions ADD COLUMN role text
	CHECK (role IN ('root', 'public', 'private', 'gateway'));
