-- NAME
--	bg/014-account-close.sql - the background's side of closing an
--	account (tandemctl close, doc/flows.md 11)
-- DESCRIPTION
--	The foreground owns account state: "tandemctl close" sets
--	accounts.status to closed on the foreground database, and the
--	row reaches this one by the subscription. When it does,
--	tandem_account_close() purges what waits here for that address,
--	in the apply worker's transaction: every held ARM neither
--	released nor purged is marked purged and its wrap dropped (as
--	the hygiene purge does, so the help desk's history keeps the
--	row), and everything in the agent's mailbox (ARMs, relayed
--	notices, receipts) is deleted: nobody may fetch it any more.
--	From then on route_decide() refuses the address (rule 1,
--	"account closed"), so nothing new is held or filed for it.
--
--	The agent pin (agent_pins) stays: an address that comes back
--	(only by a transfer to this courier) is pinned again by the
--	operator's "tandemctl account repin", never by replication alone.
--
--	No trigger here raises an error: that would stop the
--	subscription's apply worker, and with it all replication. A
--	purge that fails is a warning in the server log, and the rows
--	stay for the hygiene purge.

CREATE FUNCTION tandem_account_close() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
	IF NEW.status <> 'closed' OR (TG_OP = 'UPDATE' AND
	    OLD.status = 'closed') THEN
		RETURN NULL;
	END IF;
	BEGIN
		UPDATE public.held_arms SET purged_at = now(), arm = '\x'
		WHERE recipient = NEW.address AND released_at IS NULL AND
		    purged_at IS NULL;
		DELETE FROM public.agent_mailbox WHERE address = NEW.address;
	EXCEPTION WHEN OTHERS THEN
		RAISE WARNING 'closed account % not purged: %', NEW.address,
		    SQLERRM;
	END;
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_close AFTER INSERT OR UPDATE ON accounts
	FOR EACH ROW EXECUTE FUNCTION tandem_account_close();
ALTER TABLE accounts ENABLE ALWAYS TRIGGER accounts_close;
