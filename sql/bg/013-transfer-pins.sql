-- NAME
--	bg/013-transfer-pins.sql - the pins a registration transfer makes
--	(doc/flows.md 9)
-- DESCRIPTION
--	agent_pins.by_transfer marks a pin that a transfer made (the first
--	pin of a pending account a transfer brought, sql/bg/011) or
--	replaced (below); agent_pins.left_at is when the account of the
--	pin left this courier (transferred away by the foreground's
--	transfer-complete, or closed), cleared when a transfer brings it
--	back.
--
--	An address that comes back: a pending account a transfer brought
--	(transferred_from set) whose address still has the pin of the
--	time it was served here. That pin cannot be replaced on the
--	foreground's word alone (the reason for pins), nor left (its
--	holder moved on: the new agent certificate would get 403).
--	tandem_transfer_pin() then sends NOTIFY tandem_account with the
--	address when the pin's account had left (left_at set), and
--	tandem-policyd (policy/rekey.c, store_transfer_repin()) checks the
--	replicated certificate: an agent certificate for the address,
--	verified to the anchors, issued under another courier's CA key
--	than this one's (whose CA is the foreground's own, and so within
--	reach of whoever owns the foreground host). Only then does it call
--	tandem_transfer_repin(), which checks the row again and replaces
--	the pin. A pin whose account never left here is never replaced
--	this way: a foreground that writes such a row gets nothing (the
--	change is not believed, as any other).
--
--	A pending account a transfer brought that is closed (the transfer
--	cancelled at this courier) loses the pin the transfer made: its
--	holder was never served here, and the address may register or be
--	transferred here again later.
--
--	tandem_bg may call tandem_transfer_repin() (SECURITY DEFINER); it
--	still cannot write agent_pins otherwise. No trigger here raises an
--	error (it would stop the apply worker).

ALTER TABLE agent_pins
	ADD COLUMN by_transfer boolean NOT NULL DEFAULT false,
	ADD COLUMN left_at timestamptz;

-- The apply worker runs with an empty search_path: names are qualified.
CREATE OR REPLACE FUNCTION tandem_transfer_pin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
DECLARE
	pin public.agent_pins%ROWTYPE;
BEGIN
	BEGIN
		IF TG_OP = 'UPDATE' AND OLD.status = 'pending' AND
		    NEW.status = 'closed' AND NEW.transferred_from IS NOT NULL
		    THEN
			DELETE FROM public.agent_pins
			WHERE address = NEW.address AND by_transfer;
			RETURN NULL;
		END IF;
		IF NEW.status IN ('transferred', 'closed') AND
		    (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM
		    NEW.status) THEN
			UPDATE public.agent_pins SET left_at = now()
			WHERE address = NEW.address AND left_at IS NULL;
			RETURN NULL;
		END IF;
		IF NEW.status <> 'pending' OR NEW.transferred_from IS NULL OR
		    NEW.agent_cert IS NULL THEN
			RETURN NULL;
		END IF;
		SELECT * INTO pin FROM public.agent_pins
		WHERE address = NEW.address FOR UPDATE;
		IF NOT FOUND THEN
			INSERT INTO public.agent_pins (address, agent_cert,
			    by_transfer)
			VALUES (NEW.address, NEW.agent_cert, true);
		ELSIF pin.left_at IS NOT NULL AND
		    public.tandem_cert_sha256(pin.agent_cert) <>
		    public.tandem_cert_sha256(NEW.agent_cert) THEN
			PERFORM pg_notify('tandem_account', NEW.address);
		END IF;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'agent pin of % not taken: %', NEW.address,
		    SQLERRM;
	END;
	RETURN NULL;
END
$$;

-- tandem-policyd, once it has checked the certificate whose hex SHA-256
-- is sha: the pin of address a, whose account left here, becomes the
-- agent certificate the transfer brought back. 'repinned', 'pinned'
-- (already), or why not.
CREATE FUNCTION tandem_transfer_repin(a text, sha text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	pin public.agent_pins%ROWTYPE;
	acc public.accounts%ROWTYPE;
BEGIN
	SELECT * INTO pin FROM public.agent_pins WHERE address = a
	FOR UPDATE;
	IF NOT FOUND THEN
		RETURN 'no pin';
	END IF;
	SELECT * INTO acc FROM public.accounts WHERE address = a;
	IF NOT FOUND OR acc.status <> 'pending' OR
	    acc.transferred_from IS NULL OR acc.agent_cert IS NULL OR
	    public.tandem_cert_sha256(acc.agent_cert) <> sha THEN
		RETURN 'not a transfer of that certificate';
	END IF;
	IF public.tandem_cert_sha256(pin.agent_cert) = sha THEN
		RETURN 'pinned';
	END IF;
	IF pin.left_at IS NULL THEN
		RETURN 'the address did not leave this courier';
	END IF;
	UPDATE public.agent_pins SET agent_cert = acc.agent_cert,
	    pinned_at = now(), by_transfer = true, left_at = NULL
	WHERE address = a;
	DELETE FROM public.agent_pin_offers WHERE address = a;
	RETURN 'repinned';
END
$$;

REVOKE ALL ON FUNCTION tandem_transfer_repin(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION tandem_transfer_repin(text, text) TO tandem_bg;
