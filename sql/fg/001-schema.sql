-- NAME
--	fg/001-schema.sql - the foreground element's tables
-- DESCRIPTION
--	accounts, account_keys and bg_relay are published to the
--	background database ("tandemctl db publish"); sql/bg/001-schema.sql
--	holds the same definitions for the subscribed copies. Keep the
--	two in step: a column added here needs the same migration there,
--	applied on the background first.
--
--	Courier-end private keys are stored only sealed (lib/keybox.c:
--	AES-256-GCM, the address as additional data).
--
--	Roles: tandem_fg is the milter's (and the CA's) role and may read
--	and write every table here; tandem_helpdesk sees only the views
--	of 002-helpdesk.sql. The tables belong to the role that runs the
--	migrations.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_fg') THEN
		CREATE ROLE tandem_fg LOGIN;
	END IF;
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tandem_fg;

CREATE TABLE accounts (
	address		text PRIMARY KEY
			CHECK (address = lower(address) AND address LIKE '_%@_%'),
	status		text NOT NULL CHECK (status IN ('invited', 'pending',
			'active', 'transferred', 'closed')),
	courier_cert	text,		-- PEM, courier end of this account
	agent_cert	text,		-- PEM, the agent's certificate
	redirect_to	text,		-- new courier once transferred
	created_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_keys (
	address		text NOT NULL REFERENCES accounts ON DELETE CASCADE,
	generation	integer NOT NULL CHECK (generation >= 1),
	key_serial	text NOT NULL,	-- serial of the courier-end certificate, hex
	sealed_key	bytea NOT NULL,	-- keybox: version | nonce | tag | ciphertext
	created_at	timestamptz NOT NULL DEFAULT now(),
	retired_at	timestamptz,
	PRIMARY KEY (address, generation)
);

-- Messages the foreground hands to its background for an agent
-- (notice-to-rekey, exchange-keys, config-update, ...), already wrapped
-- for the agent.
CREATE TABLE bg_relay (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address		text NOT NULL,
	kind		text NOT NULL,
	message_id	text NOT NULL,
	body		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz
);

CREATE TABLE held_messages (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message_id	text NOT NULL,
	queue_id	text,
	sender		text NOT NULL,
	recipient	text NOT NULL,
	body		bytea NOT NULL,
	held_at		timestamptz NOT NULL DEFAULT now(),
	released_at	timestamptz,
	purged_at	timestamptz,
	UNIQUE (message_id, recipient)
);
CREATE INDEX held_messages_held_at ON held_messages (held_at)
	WHERE released_at IS NULL AND purged_at IS NULL;

CREATE TABLE invitations (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address		text NOT NULL,
	message_id	text NOT NULL,	-- the invitation's own Message-ID
	token_hash	bytea NOT NULL UNIQUE,	-- SHA-256 of the referral token
	status		text NOT NULL DEFAULT 'pending' CHECK (status IN
			('pending', 'accepted', 'rejected', 'expired')),
	sent_at		timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL
);
CREATE INDEX invitations_address ON invitations (address);

CREATE TABLE introductions (
	courier		text NOT NULL,
	element		text NOT NULL CHECK (element IN ('fg', 'bg')),
	endpoint	text NOT NULL,	-- service mailbox (fg) or HTTPS URL (bg)
	certificate	text NOT NULL,	-- PEM, the element's introduction certificate
	domains		text[] NOT NULL DEFAULT '{}',
	learned_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (courier, element)
);

CREATE TABLE address_routes (
	address		text PRIMARY KEY,
	courier		text NOT NULL,
	reason		text NOT NULL CHECK (reason IN ('transferred',
			'rejected', 'introduced')),
	learned_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE transfers (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address		text NOT NULL,
	direction	text NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
	other_courier	text NOT NULL,
	state		text NOT NULL CHECK (state IN ('recorded', 'started',
			'subscribed', 'rekeying', 'complete', 'cancelled')),
	started_at	timestamptz NOT NULL DEFAULT now(),
	updated_at	timestamptz NOT NULL DEFAULT now(),
	completed_at	timestamptz
);
CREATE UNIQUE INDEX transfers_one_open ON transfers (address)
	WHERE state NOT IN ('complete', 'cancelled');

CREATE TABLE outbox (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message_id	text NOT NULL,
	mail_from	text NOT NULL,
	rcpt_to		text[] NOT NULL CHECK (cardinality(rcpt_to) > 0),
	body		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	attempts	integer NOT NULL DEFAULT 0,
	next_attempt_at	timestamptz NOT NULL DEFAULT now(),
	last_error	text,
	sent_at		timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL;

CREATE TABLE seen_messages (
	message_id	text NOT NULL,
	kind		text NOT NULL,
	seen_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (message_id, kind)
);

CREATE FUNCTION tandem_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;
CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts
	FOR EACH ROW EXECUTE FUNCTION tandem_touch();
CREATE TRIGGER transfers_touch BEFORE UPDATE ON transfers
	FOR EACH ROW EXECUTE FUNCTION tandem_touch();

GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public
	TO tandem_fg;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO tandem_fg;
REVOKE ALL ON schema_migrations FROM tandem_fg;
