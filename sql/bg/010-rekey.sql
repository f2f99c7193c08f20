-- NAME
--	bg/010-rekey.sql - the background's side of key replacement
-- DESCRIPTION
--	doc/flows.md 8. The background relays and believes; it never
--	answers the foreground.
--
--	Relay: each row the foreground writes to bg_relay (a notice-to-rekey,
--	an exchange-keys answer: wraps FG element -> agent) is filed, as
--	it is, in agent_mailbox, where the agent fetches it like any other
--	entry. Deleting a bg_relay row (the foreground's expiry) changes
--	nothing here: the mailbox row has its own expires_at.
--
--	Proof: agent_pin_offers holds each agent certificate that the
--	holder of an account's pinned certificate offered (POST /v1/rekey,
--	policy/rekey.c); offered_sha256 is, as in agent_cert_changes, the
--	hex SHA-256 of the certificate's PEM (as PEM_write_X509() writes
--	it). The pin moves to a replicated accounts.agent_cert only when
--	its holder offered it, in either order of arrival: the trigger
--	finds the offer (offer first), or tandem_agent_offer() finds the
--	unresolved change (change first). Both take the agent_pins row
--	FOR UPDATE first, so that two transactions arriving together do
--	not each miss the other. A moved pin deletes the address's
--	offers; the old pinned certificate is then no longer accepted.
--	A change nobody offered stays an unproved change, as in
--	sql/bg/006-agent-pins.sql.
--
--	tandem_bg may read agent_pin_offers and write it only through
--	tandem_agent_offer() (SECURITY DEFINER): it cannot move a pin
--	without a replicated change to the same certificate.
--
--	Grace: account_keys.retired_at may be in the future (the old
--	generation after a rekey); such a key is still live.
--	helpdesk.account_status counts it so, and says how many keys are
--	in their grace.
--
--	No trigger here raises an error: that would stop the
--	subscription's apply worker, and with it all replication.

CREATE TABLE agent_pin_offers (
	address		text NOT NULL,
	offered_sha256	text NOT NULL,	-- hex SHA-256 of the PEM
	offered_cert	text NOT NULL,
	offered_at	timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (address, offered_sha256)
);

GRANT SELECT ON agent_pin_offers TO tandem_bg;

-- The apply worker runs with an empty search_path: names are qualified.
CREATE FUNCTION tandem_relay() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
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

CREATE TRIGGER bg_relay_file AFTER INSERT ON bg_relay
	FOR EACH ROW EXECUTE FUNCTION tandem_relay();
ALTER TABLE bg_relay ENABLE ALWAYS TRIGGER bg_relay_file;

CREATE OR REPLACE FUNCTION tandem_agent_pin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
	pinned text;
	sha text;
BEGIN
	IF NEW.status <> 'active' OR NEW.agent_cert IS NULL OR
	    (TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status
	    AND OLD.agent_cert IS NOT DISTINCT FROM NEW.agent_cert) THEN
		RETURN NULL;
	END IF;
	BEGIN
		SELECT agent_cert INTO pinned FROM public.agent_pins
		WHERE address = NEW.address FOR UPDATE;
		IF NOT FOUND THEN
			INSERT INTO public.agent_pins (address, agent_cert)
			VALUES (NEW.address, NEW.agent_cert);
			RETURN NULL;
		END IF;
		IF pinned = NEW.agent_cert THEN
			RETURN NULL;
		END IF;
		sha := encode(sha256(convert_to(NEW.agent_cert, 'UTF8')),
		    'hex');
		IF EXISTS (SELECT 1 FROM public.agent_pin_offers
		    WHERE address = NEW.address AND offered_sha256 = sha) THEN
			-- Offered by the pinned certificate's holder.
			UPDATE public.agent_pins SET agent_cert = NEW.agent_cert,
			    pinned_at = now()
			WHERE address = NEW.address;
			DELETE FROM public.agent_pin_offers
			WHERE address = NEW.address;
			UPDATE public.agent_cert_changes SET resolved_at = now()
			WHERE address = NEW.address AND offered_sha256 = sha
			    AND resolved_at IS NULL;
			RETURN NULL;
		END IF;
		INSERT INTO public.agent_cert_changes AS c (address,
		    offered_sha256, offered_cert)
		VALUES (NEW.address, sha, NEW.agent_cert)
		ON CONFLICT (address, offered_sha256) DO UPDATE
		SET last_at = now(), times = c.times + 1, resolved_at = NULL,
		    logged_at = CASE WHEN c.resolved_at IS NULL THEN
		    c.logged_at END;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'agent pin of % unchanged: %', NEW.address,
		    SQLERRM;
	END;
	RETURN NULL;
END
$$;

-- POST /v1/rekey, once policy/rekey.c has checked the certificate:
-- 'pinned' (the pin is, or now is, that certificate), 'offered', or
-- 'no pin' (the address has none).
CREATE FUNCTION tandem_agent_offer(a text, sha text, cert text)
RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	pinned text;
	changed text;
BEGIN
	SELECT agent_cert INTO pinned FROM public.agent_pins
	WHERE address = a FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'no pin';
	END IF;
	IF encode(sha256(convert_to(pinned, 'UTF8')), 'hex') = sha THEN
		RETURN 'pinned';
	END IF;
	SELECT offered_cert INTO changed FROM public.agent_cert_changes
	WHERE address = a AND offered_sha256 = sha AND resolved_at IS NULL;
	IF FOUND THEN
		-- The foreground's change came first: pin its text.
		UPDATE public.agent_pins SET agent_cert = changed,
		    pinned_at = now()
		WHERE address = a;
		UPDATE public.agent_cert_changes SET resolved_at = now()
		WHERE address = a AND offered_sha256 = sha;
		DELETE FROM public.agent_pin_offers WHERE address = a;
		RETURN 'pinned';
	END IF;
	INSERT INTO public.agent_pin_offers (address, offered_sha256,
	    offered_cert)
	VALUES (a, sha, cert)
	ON CONFLICT (address, offered_sha256) DO UPDATE
	SET offered_at = now();
	RETURN 'offered';
END
$$;

REVOKE ALL ON FUNCTION tandem_agent_offer(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tandem_agent_offer(text, text, text) TO tandem_bg;

-- A key whose retired_at is still ahead is in its grace, still live.
CREATE OR REPLACE VIEW helpdesk.account_status AS
SELECT a.address, a.status, a.redirect_to, a.created_at, a.updated_at,
    k.generation AS key_generation, k.key_serial, k.created_at AS key_since,
    (SELECT count(*) FROM account_keys g WHERE g.address = a.address
	AND g.retired_at > now()) AS keys_in_grace
FROM accounts a
LEFT JOIN LATERAL (SELECT generation, key_serial, created_at
    FROM account_keys WHERE address = a.address AND (retired_at IS NULL
	OR retired_at > now())
    ORDER BY generation DESC LIMIT 1) k ON true;

CREATE VIEW helpdesk.agent_pin_offers AS
SELECT address, offered_sha256, offered_at
FROM agent_pin_offers
ORDER BY offered_at DESC, address;

GRANT SELECT ON helpdesk.account_status, helpdesk.agent_pin_offers
	TO tandem_helpdesk;
