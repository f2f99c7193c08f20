-- NAME
--	bg/007-outbox-sender.sql - whom an inter-courier message is from, and for
-- DESCRIPTION
--	A peer background that refuses an inter-courier message for good
--	(a 4xx answer) ends its retries (policy/send.c). The sender must
--	then be told: tandem-policyd files a receipt (Event: refused) in
--	the sender's agent_mailbox when the sender is an active account
--	of this courier. The wrap in bg_outbox.body is sealed to the peer,
--	so the row itself says whom the message is from and for; rows of
--	other kinds leave both NULL.

ALTER TABLE bg_outbox ADD COLUMN sender text;
ALTER TABLE bg_outbox ADD COLUMN recipient text;
