-- NAME
--	bg/010-rekey.sql - the background's side of key replacement
-- DESCRIPTION
--	doc/flows.md 8. The background relays and believes; it never
--	answers the foreground.
--
--	Relay: each row the foreground writes to bg_relay of a kind meant
--	for the agent (notice-to-rekey, an exchange-keys answer: wraps FG
--	element -> agent) is filed, as it is, in agent_mailbox, where the
--	agent fetches it like any other entry; a row of any other kind is
--	not filed (a WARNING in the log). Deleting a bg_relay row (the
--	foreground's expiry) changes nothing here: the mailbox row has its
--	own expires_at.
--
--	Identity: tandem_cert_sha256() is the identity of a certificate
--	here, the hex SHA-256 of its DER, whatever the layout of its PEM
--	text (line length, final newline); policy/rekey.c computes the
--	same (store_cert_sha256()). This migration redefines with it
--	agent_cert_changes.offered_sha256 and the help desk's
--	pinned_sha256 (sql/bg/006 hashed the PEM text), and recomputes
--	the rows already there: the operator compares them with
--	"openssl x509 -outform DER | sha256sum".
--
--	Proof: agent_pin_offers holds each agent certificate that the
--	holder of an account's pinned certificate offered (POST /v1/rekey,
--	policy/rekey.c), with offered_by_sha256 the pinned certificate
--	that offered it and expires_at (hygiene.replay_window after the
--	offer). An offer counts only while it has not expired and while
--	the pin is still the certificate that made it: an offer made by
--	a certificate the operator repinned away from (a stolen key)
--	neither authenticates nor moves the pin. The pin moves to a
--	replicated accounts.agent_cert only when its holder offered it,
--	in either order of arrival: the trigger finds the offer (offer
--	first), or tandem_agent_offer() finds the unresolved change
--	(change first). Both take the agent_pins row FOR UPDATE first, so
--	that two transactions arriving together do not each miss the
--	other. A moved pin deletes the address's offers, and so does
--	"tandemctl account repin"; the old pinned certificate is then no
--	longer accepted. tandem-policyd deletes expired offers in its
--	hygiene pass. A change nobody offered stays an unproved change, as
--	in sql/bg/006-agent-pins.sql.
--
--	tandem_bg may read agent_pin_offers and write it only through
--	tandem_agent_offer() (SECURITY DEFINER) and delete expired ones:
--	it cannot move a pin without a replicated change to the same
--	certificate.
--
--	Grace: account_keys.retired_at may be in the future (the old
--	generation after a rekey); such a key is still live.
--	helpdesk.account_status says the generation of the account's
--	courier-end certificate (key_serial its serial,
--	tandem_cert_serial()) and how many keys are in their grace.
--
--	No trigger here raises an error: that would stop the
--	subscription's apply worker, and with it all replication.

-- The hex SHA-256 of the DER of a PEM certificate; of the text itself
-- when that is not base64 between armour lines (never an error).
CREATE FUNCTION tandem_cert_sha256(pem text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog AS $$
BEGIN
	RETURN encode(sha256(decode(regexp_replace(pem, '-----[^-]+-----|\s',
	    '', 'g'), 'base64')), 'hex');
EXCEPTION WHEN OTHERS THEN
	RETURN encode(sha256(convert_to(pem, 'UTF8')), 'hex');
END
$$;

-- The serial number of a PEM certificate in hex, upper case, as
-- OpenSSL's BN_bn2hex() writes it (account_keys.key_serial); NULL when
-- it is not a certificate.
CREATE FUNCTION tandem_cert_serial(pem text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog AS $$
DECLARE
	d bytea;
	p integer := 0;		-- the offset of a tag
	n integer;
	len integer;
	i integer;
	step integer;
BEGIN
	d := decode(regexp_replace(pem, '-----[^-]+-----|\s', '', 'g'),
	    'base64');
	-- Into Certificate and TBSCertificate, over [0] version, then the
	-- serialNumber INTEGER.
	FOR step IN 1..4 LOOP
		IF step = 3 AND get_byte(d, p) <> 160 THEN
			CONTINUE;
		END IF;
		IF get_byte(d, p) <> (CASE step WHEN 3 THEN 160 WHEN 4 THEN 2
		    ELSE 48 END) THEN
			RETURN NULL;
		END IF;
		len := get_byte(d, p + 1);
		n := 0;
		IF len >= 128 THEN
			n := len - 128;
			len := 0;
			FOR i IN 1..n LOOP
				len := len * 256 + get_byte(d, p + 1 + i);
			END LOOP;
		END IF;
		p := p + 2 + n;		-- the contents
		IF step = 3 THEN
			p := p + len;
		ELSIF step = 4 THEN
			RETURN coalesce(nullif(upper(regexp_replace(encode(
			    substring(d FROM p + 1 FOR len), 'hex'), '^(00)+',
			    '')), ''), '0');
		END IF;
	END LOOP;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RETURN NULL;
END
$$;

GRANT EXECUTE ON FUNCTION tandem_cert_sha256(text), tandem_cert_serial(text)
	TO tandem_bg, tandem_helpdesk;

-- Rows of sql/bg/006 under the new identity, unless two would merge.
UPDATE agent_cert_changes c
SET offered_sha256 = tandem_cert_sha256(offered_cert)
WHERE (SELECT count(*) FROM agent_cert_changes d
    WHERE d.address = c.address AND tandem_cert_sha256(d.offered_cert) =
	tandem_cert_sha256(c.offered_cert)) = 1;

CREATE TABLE agent_pin_offers (
	address		text NOT NULL,
	offered_sha256	text NOT NULL,	-- tandem_cert_sha256(offered_cert)
	offered_cert	text NOT NULL,
	offered_by_sha256 text NOT NULL, -- the pinned certificate that offered
	offered_at	timestamptz NOT NULL DEFAULT now(),
	expires_at	timestamptz NOT NULL,
	PRIMARY KEY (address, offered_sha256)
);

GRANT SELECT ON agent_pin_offers TO tandem_bg;
GRANT DELETE ON agent_pin_offers TO tandem_bg;	-- the expired ones

-- An offer that still counts: by the pin of now, not expired.
CREATE FUNCTION tandem_offer_valid(a text, sha text) RETURNS boolean
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
	SELECT EXISTS (SELECT 1 FROM public.agent_pin_offers o
	    JOIN public.agent_pins p USING (address)
	    WHERE o.address = a AND o.offered_sha256 = sha
	    AND o.expires_at > now()
	    AND o.offered_by_sha256 = public.tandem_cert_sha256(p.agent_cert))
$$;

GRANT EXECUTE ON FUNCTION tandem_offer_valid(text, text) TO tandem_bg;

-- The apply worker runs with an empty search_path: names are qualified.
CREATE FUNCTION tandem_relay() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
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
		sha := public.tandem_cert_sha256(NEW.agent_cert);
		IF pinned = NEW.agent_cert OR
		    public.tandem_cert_sha256(pinned) = sha THEN
			RETURN NULL;	-- the same certificate
		END IF;
		IF public.tandem_offer_valid(NEW.address, sha) THEN
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
		SET offered_cert = EXCLUDED.offered_cert, last_at = now(),
		    times = c.times + 1, resolved_at = NULL,
		    logged_at = CASE WHEN c.resolved_at IS NULL THEN
		    c.logged_at END;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'agent pin of % unchanged: %', NEW.address,
		    SQLERRM;
	END;
	RETURN NULL;
END
$$;

-- POST /v1/rekey, once policy/rekey.c has checked the certificate (sha,
-- cert) and that the client (by) is the pinned one: 'pinned' (the pin
-- is, or now is, that certificate), 'offered' (for secs seconds),
-- 'no pin' (the address has none) or 'not pinned' (by is no longer
-- the pin).
CREATE FUNCTION tandem_agent_offer(a text, by_sha text, sha text,
    cert text, secs double precision)
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
	IF public.tandem_cert_sha256(pinned) = sha THEN
		RETURN 'pinned';
	END IF;
	IF public.tandem_cert_sha256(pinned) <> by_sha THEN
		RETURN 'not pinned';
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
	    offered_cert, offered_by_sha256, expires_at)
	VALUES (a, sha, cert, by_sha, now() + make_interval(secs => secs))
	ON CONFLICT (address, offered_sha256) DO UPDATE
	SET offered_cert = EXCLUDED.offered_cert,
	    offered_by_sha256 = EXCLUDED.offered_by_sha256,
	    offered_at = now(), expires_at = EXCLUDED.expires_at;
	RETURN 'offered';
END
$$;

REVOKE ALL ON FUNCTION tandem_agent_offer(text, text, text, text,
    double precision) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tandem_agent_offer(text, text, text, text,
    double precision) TO tandem_bg;

-- The generation of the courier-end certificate; a key whose
-- retired_at is still ahead is in its grace, still live.
CREATE OR REPLACE VIEW helpdesk.account_status AS
SELECT a.address, a.status, a.redirect_to, a.created_at, a.updated_at,
    k.generation AS key_generation, k.key_serial, k.created_at AS key_since,
    (SELECT count(*) FROM account_keys g WHERE g.address = a.address
	AND g.retired_at > now()) AS keys_in_grace
FROM accounts a
LEFT JOIN LATERAL (SELECT generation, key_serial, created_at
    FROM account_keys WHERE address = a.address AND lower(key_serial) =
	lower(tandem_cert_serial(a.courier_cert))
    ORDER BY generation DESC LIMIT 1) k ON true;

CREATE OR REPLACE VIEW helpdesk.agent_cert_changes AS
SELECT c.address, c.offered_sha256,
    tandem_cert_sha256(p.agent_cert) AS pinned_sha256,
    c.first_at, c.last_at, c.times, c.resolved_at
FROM agent_cert_changes c
LEFT JOIN agent_pins p USING (address)
ORDER BY c.resolved_at IS NULL DESC, c.last_at DESC;

CREATE VIEW helpdesk.agent_pin_offers AS
SELECT address, offered_sha256, offered_by_sha256, offered_at, expires_at
FROM agent_pin_offers
ORDER BY offered_at DESC, address;

GRANT SELECT ON helpdesk.account_status, helpdesk.agent_pin_offers
	TO tandem_helpdesk;
