-- NAME
--	bg/012-transfer-release.sql - what the background holds for an
--	address that moved away goes on (doc/flows.md 9 step 9)
-- DESCRIPTION
--	An account becoming transferred (its redirect_to the new courier)
--	is told to tandem-policyd like an activation: NOTIFY
--	tandem_account with the address, on which the daemon routes the
--	ARMs it holds for the address again (bgfed_release()), now to the
--	new courier by rule 2. The function replaces the one of
--	sql/bg/001-schema.sql; the triggers stay.
--
--	held_arms keeps the assertion of the origin courier of an ARM
--	held here from another courier (hops, origin_pem, origin_date,
--	origin_sig, as the inter-courier message carried them): its
--	release goes on under that origin, one hop more, while the
--	receivers still take the origin's date (lib/fed.c), since a
--	private courier may not assert a sender of another domain.

CREATE OR REPLACE FUNCTION tandem_account_notify() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF TG_TABLE_NAME = 'accounts' THEN
		IF NEW.status = 'active' AND (TG_OP = 'INSERT' OR
		    OLD.status IS DISTINCT FROM NEW.status OR
		    OLD.courier_cert IS DISTINCT FROM NEW.courier_cert OR
		    OLD.agent_cert IS DISTINCT FROM NEW.agent_cert) THEN
			PERFORM pg_notify('tandem_account', NEW.address);
		ELSIF NEW.status = 'transferred' AND
		    NEW.redirect_to IS NOT NULL AND (TG_OP = 'INSERT' OR
		    OLD.status IS DISTINCT FROM NEW.status OR
		    OLD.redirect_to IS DISTINCT FROM NEW.redirect_to) THEN
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

ALTER TABLE held_arms
	ADD COLUMN hops integer CHECK (hops >= 1),
	ADD COLUMN origin_pem text,
	ADD COLUMN origin_date text,
	ADD COLUMN origin_sig text;
