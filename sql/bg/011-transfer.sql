-- NAME
--	bg/011-transfer.sql - the background's side of a registration
--	transfer (doc/flows.md 9)
-- DESCRIPTION
--	accounts.transferred_from is the subscribed copy of the
--	foreground's column (sql/fg/007-transfer.sql): the old courier of
--	an account a transfer brought here. A subscriber must have every
--	column its publisher sends, so this migration runs before the
--	foreground's.

ALTER TABLE accounts ADD COLUMN transferred_from text;
