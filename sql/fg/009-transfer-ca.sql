-- NAME
--	fg/009-transfer-ca.sql - an open transfer names the other
--	courier's CA key
-- DESCRIPTION
--	A transfer is bound to the CA key of the other courier
--	(transfers.other_ca, fg/007-transfer.sql): the milter takes a
--	message of an open transfer only from a foreground under that
--	key, and refuses every message of one without it. An open
--	transfer (recorded, started, subscribed, rekeying) must
--	therefore name it; a closed one (complete, cancelled) keeps
--	what it had.
--
--	No open transfer can lack it here: tandemctl transfer, the only
--	writer of new rows, came with fg/007 and always sets it, and
--	nothing before fg/007 opened a transfer. A row made by hand
--	without it makes this migration fail (nothing changed): cancel
--	that transfer, or set its other_ca, and migrate again.

ALTER TABLE transfers ADD CONSTRAINT transfers_open_other_ca
	CHECK (other_ca IS NOT NULL OR state IN ('complete', 'cancelled'));
