-- NAME
--	bg/015-invitation-decline.sql - "do not invite me again" on the
--	background
-- DESCRIPTION
--	declined_addresses lists the addresses that declined the
--	foreground's invitations (sql/fg/013; doc/flows.md 2): the
--	background holds no ARM for them. Only the replicated bg_relay
--	fills it, by a row of kind 'declined' (the address added, and
--	every ARM held for it and neither released nor purged is purged:
--	its ARM emptied) or 'undeclined' (the address removed: it
--	registered, or the operator invited it again). Both kinds are
--	signals for this trigger, never filed for an agent.
--
--	tandem_relay() is that of bg/010 with the two kinds added.

CREATE TABLE declined_addresses (
	address		text PRIMARY KEY,
	declined_at	timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT ON declined_addresses TO tandem_bg;

-- The apply worker runs with an empty search_path: names are qualified.
CREATE OR REPLACE FUNCTION tandem_relay() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF NEW.kind = 'declined' THEN
		INSERT INTO public.declined_addresses (address)
		    VALUES (lower(NEW.address)) ON CONFLICT DO NOTHING;
		UPDATE public.held_arms SET purged_at = now(), arm = '\x'
		    WHERE recipient = lower(NEW.address) AND
		    released_at IS NULL AND purged_at IS NULL;
		RETURN NULL;
	END IF;
	IF NEW.kind = 'undeclined' THEN
		DELETE FROM public.declined_addresses
		    WHERE address = lower(NEW.address);
		RETURN NULL;
	END IF;
	IF NEW.kind IS NULL OR
	    NEW.kind NOT IN ('notice-to-rekey', 'exchange-keys') THEN
		RAISE WARNING 'bg_relay % not filed: kind % is not for the agent',
		    NEW.id, NEW.kind;
		RETURN NULL;
	END IF;
	BEGIN
		INSERT INTO public.agent_mailbox (address, kind, message_id,
		    body, expires_at)
		VALUES (NEW.address, NEW.kind, NEW.message_id, NEW.body,
		    NEW.expires_at)
		ON CONFLICT DO NOTHING;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'bg_relay % not filed: %', NEW.id, SQLERRM;
	END;
	RETURN NULL;
END
$$;
