-- NAME
--	bg/006-agent-pins.sql - the agent certificate the background believes
-- DESCRIPTION
--	accounts.agent_cert comes from the foreground, and whoever owns the
--	foreground host could rewrite it. agent_pins is the background's
--	own record of the agent certificate it first saw for an active
--	account; it is never published and the foreground cannot change
--	it. The background authorizes agents and wraps ARMs to the pinned
--	certificate only (policy/store.c).
--
--	A replicated agent_cert that differs from the pinned one is not
--	believed: the trigger records it in agent_cert_changes (once per
--	account and offered certificate, with how often it came again),
--	tandem-policyd logs it once (logged_at), and
--	helpdesk.agent_cert_changes shows it. The trigger never raises an
--	error: that would stop the subscription's apply worker, and with
--	it all replication.
--
--	A legitimate change needs the operator ("tandemctl account repin"),
--	until key replacement brings a proof signed by the pinned key.
--
--	Accounts already active when this migration runs are pinned to
--	their current agent certificate.

CREATE TABLE agent_pins (
	address		text PRIMARY KEY,
	agent_cert	text NOT NULL,	-- PEM, as first seen
	pinned_at	timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent_cert_changes (
	address		text NOT NULL,
	offered_sha256	text NOT NULL,	-- hex SHA-256 of the PEM offered
	offered_cert	text NOT NULL,
	first_at	timestamptz NOT NULL DEFAULT now(),
	last_at		timestamptz NOT NULL DEFAULT now(),
	times		integer NOT NULL DEFAULT 1,
	logged_at	timestamptz,	-- when tandem-policyd logged it
	resolved_at	timestamptz,	-- when the operator re-pinned
	PRIMARY KEY (address, offered_sha256)
);

INSERT INTO agent_pins (address, agent_cert)
SELECT address, agent_cert FROM accounts
WHERE status = 'active' AND agent_cert IS NOT NULL;

-- The apply worker runs with an empty search_path: names are qualified.
CREATE FUNCTION tandem_agent_pin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
	pinned text;
BEGIN
	IF NEW.status <> 'active' OR NEW.agent_cert IS NULL OR
	    (TG_OP = 'UPDATE' AND OLD.status IS NOT DISTINCT FROM NEW.status
	    AND OLD.agent_cert IS NOT DISTINCT FROM NEW.agent_cert) THEN
		RETURN NULL;
	END IF;
	SELECT agent_cert INTO pinned FROM public.agent_pins
	WHERE address = NEW.address;
	IF NOT FOUND THEN
		INSERT INTO public.agent_pins (address, agent_cert)
		VALUES (NEW.address, NEW.agent_cert);
	ELSIF pinned <> NEW.agent_cert THEN
		INSERT INTO public.agent_cert_changes AS c (address,
		    offered_sha256, offered_cert)
		VALUES (NEW.address, encode(sha256(convert_to(NEW.agent_cert,
		    'UTF8')), 'hex'), NEW.agent_cert)
		ON CONFLICT (address, offered_sha256) DO UPDATE
		SET last_at = now(), times = c.times + 1, resolved_at = NULL,
		    logged_at = CASE WHEN c.resolved_at IS NULL THEN
		    c.logged_at END;
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_agent_pin AFTER INSERT OR UPDATE ON accounts
	FOR EACH ROW EXECUTE FUNCTION tandem_agent_pin();
ALTER TABLE accounts ENABLE ALWAYS TRIGGER accounts_agent_pin;

GRANT SELECT ON agent_pins, agent_cert_changes TO tandem_bg;
GRANT UPDATE (logged_at) ON agent_cert_changes TO tandem_bg;

CREATE VIEW helpdesk.agent_cert_changes AS
SELECT c.address, c.offered_sha256,
    encode(sha256(convert_to(p.agent_cert, 'UTF8')), 'hex') AS pinned_sha256,
    c.first_at, c.last_at, c.times, c.resolved_at
FROM agent_cert_changes c
LEFT JOIN agent_pins p USING (address)
ORDER BY c.resolved_at IS NULL DESC, c.last_at DESC;

GRANT SELECT ON helpdesk.agent_cert_changes TO tandem_helpdesk;
