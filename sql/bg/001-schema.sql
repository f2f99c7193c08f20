-- NAME
--	bg/001-schema.sql - the background element's tables
-- DESCRIPTION
--	accounts, account_keys and bg_relay are the subscribed copies of
--	the foreground's tables (same columns as sql/fg/001-schema.sql;
--	identity columns become plain keys because the values come from
--	the publisher). Only the subscription writes them: they belong to
--	the role that runs the migrations, and the background daemon's
--	role, tandem_bg, may only read them. tandem_bg writes its own
--	tables: held_arms, agent_mailbox, introductions, address_routes
--	and seen_messages.
--
--	When an account becomes active, or the certificates or keys of an
--	active account change, a trigger sends NOTIFY tandem_account with the address as
--	payload. The triggers are ENABLE ALWAYS: the apply worker of the
--	subscription runs with session_replication_role = replica, and an
--	ordinary trigger would stay silent for replicated rows.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tandem_bg') THEN
		CREATE ROLE tandem_bg LOGIN;
	END IF;
END
$$;

REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO tandem_bg;

-- Subscribed copies.

CREATE TABLE accounts (
	address		text PRIMARY KEY,
	status		text NOT NULL,
	courier_cert	text,
	agent_cert	text,
	redirect_to	text,
	created_at	timestamptz NOT NULL,
	updated_at	timestamptz NOT NULL
);

CREATE TABLE account_keys (
	address		text NOT NULL,
	generation	integer NOT NULL,
	key_serial	text NOT NULL,
	sealed_key	bytea NOT NULL,
	created_at	timestamptz NOT NULL,
	retired_at	timestamptz,
	PRIMARY KEY (address, generation)
);

CREATE TABLE bg_relay (
	id		bigint PRIMARY KEY,
	address		text NOT NULL,
	kind		text NOT NULL,
	message_id	text NOT NULL,
	body		bytea NOT NULL,
	created_at	timestamptz NOT NULL,
	expires_at	timestamptz
);

GRANT SELECT ON accounts, account_keys, bg_relay TO tandem_bg;

-- The apply worker runs with an empty search_path: names are qualified.
CREATE FUNCTION tandem_account_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF TG_TABLE_NAME = 'accounts' THEN
		IF NEW.status = 'active' AND (TG_OP = 'INSERT' OR
		    OLD.status IS DISTINCT FROM NEW.status OR
		    OLD.courier_cert IS DISTINCT FROM NEW.courier_cert OR
		    OLD.agent_cert IS DISTINCT FROM NEW.agent_cert) THEN
			PERFORM pg_notify('tandem_account', NEW.address);
		END IF;
	ELSIF EXISTS (SELECT 1 FROM public.accounts
	    WHERE address = NEW.address AND status = 'active') THEN
		-- Keys of an account not yet active wait for its activation.
		PERFORM pg_notify('tandem_account', NEW.address);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_notify AFTER INSERT OR UPDATE ON accounts
	FOR EACH ROW EXECUTE FUNCTION tandem_account_notify();
ALTER TABLE accounts ENABLE ALWAYS TRIGGER accounts_notify;
CREATE TRIGGER account_keys_notify AFTER INSERT OR UPDATE ON account_keys
	FOR EACH ROW EXECUTE FUNCTION tandem_account_notify();
ALTER TABLE account_keys ENABLE ALWAYS TRIGGER account_keys_notify;

-- The background's own tables.

CREATE TABLE held_arms (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	message_id	text NOT NULL,
	sender		text NOT NULL,
	recipient	text NOT NULL,
	arm		bytea NOT NULL,	-- the ARM as received, still wrapped
	received_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz,
	released_at	timestamptz,
	purged_at	timestamptz,
	UNIQUE (message_id, recipient)
);
CREATE INDEX held_arms_received_at ON held_arms (received_at)
	WHERE released_at IS NULL AND purged_at IS NULL;

-- What waits for an agent to fetch.
CREATE TABLE agent_mailbox (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	address		text NOT NULL,
	kind		text NOT NULL,
	message_id	text NOT NULL,
	body		bytea NOT NULL,
	created_at	timestamptz NOT NULL DEFAULT now(),
	fetched_at	timestamptz,
	UNIQUE (address, kind, message_id)
);
CREATE INDEX agent_mailbox_waiting ON agent_mailbox (address)
	WHERE fetched_at IS NULL;

CREATE TABLE introductions (
	courier		text NOT NULL,
	element		text NOT NULL CHECK (element IN ('fg', 'bg')),
	endpoint	text NOT NULL,
	certificate	text NOT NULL,
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

CREATE TABLE seen_messages (
	message_id	text NOT NULL,
	kind		text NOT NULL,
	seen_at		timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (message_id, kind)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON held_arms, agent_mailbox,
	introductions, address_routes, seen_messages TO tandem_bg;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO tandem_bg;
