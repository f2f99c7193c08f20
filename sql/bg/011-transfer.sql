-- NAME
--	bg/011-transfer.sql - the background's side of a registration
--	transfer (doc/flows.md 9)
-- DESCRIPTION
--	accounts.transferred_from is the subscribed copy of the
--	foreground's column (sql/fg/007-transfer.sql): the old courier of
--	an account a transfer brought here. A subscriber must have every
--	column its publisher sends, so this migration runs before the
--	foreground's.
--
--	The first pin of such an account is taken while it is still
--	pending: the agent certificate the old courier issued, which the
--	new foreground checked in the transfer-subscription. Its holder
--	may then fetch here and offer its new certificate (POST
--	/v1/rekey); when the foreground activates the account with that
--	one, tandem_agent_pin() (sql/bg/010) moves the pin as for any
--	rekey. An account pending for any other reason is pinned only once
--	active, as before. A pin already there is left alone.

ALTER TABLE accounts ADD COLUMN transferred_from text;

CREATE FUNCTION tandem_transfer_pin() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF NEW.status <> 'pending' OR NEW.transferred_from IS NULL OR
	    NEW.agent_cert IS NULL THEN
		RETURN NULL;
	END IF;
	BEGIN
		INSERT INTO public.agent_pins (address, agent_cert)
		VALUES (NEW.address, NEW.agent_cert)
		ON CONFLICT (address) DO NOTHING;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'agent pin of % not taken: %', NEW.address,
		    SQLERRM;
	END;
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_transfer_pin AFTER INSERT OR UPDATE ON accounts
	FOR EACH ROW EXECUTE FUNCTION tandem_transfer_pin();
ALTER TABLE accounts ENABLE ALWAYS TRIGGER accounts_transfer_pin;
