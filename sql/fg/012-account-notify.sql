-- NAME
--	fg/012-account-notify.sql - a notice on every change of an account
-- DESCRIPTION
--	tandem-milter keeps the rows it reads for each private message
--	(the sender's account and key, a local recipient's account) in
--	memory, and listens on the channel tandem_accounts: any change to
--	accounts, account_keys or rekeys, by the milter, tandemctl or by
--	hand, notifies it at commit, and it forgets every row it kept
--	(milter/acache.c). One notice per statement, without a payload;
--	PostgreSQL folds those of one transaction into one. The triggers
--	fire in replica sessions too (ENABLE ALWAYS), should rows ever
--	arrive by replication.

CREATE FUNCTION tandem_accounts_changed() RETURNS trigger
LANGUAGE plpgsql SET search_path = public, pg_catalog AS $$
BEGIN
	PERFORM pg_notify('tandem_accounts', '');
	RETURN NULL;
END
$$;

CREATE TRIGGER accounts_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON accounts FOR EACH STATEMENT
	EXECUTE FUNCTION tandem_accounts_changed();
CREATE TRIGGER account_keys_notify AFTER INSERT OR UPDATE OR DELETE OR
	TRUNCATE ON account_keys FOR EACH STATEMENT
	EXECUTE FUNCTION tandem_accounts_changed();
CREATE TRIGGER rekeys_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON rekeys FOR EACH STATEMENT
	EXECUTE FUNCTION tandem_accounts_changed();
ALTER TABLE accounts ENABLE ALWAYS TRIGGER accounts_notify;
ALTER TABLE account_keys ENABLE ALWAYS TRIGGER account_keys_notify;
ALTER TABLE rekeys ENABLE ALWAYS TRIGGER rekeys_notify;
