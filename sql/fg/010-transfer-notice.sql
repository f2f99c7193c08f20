-- NAME
--	fg/010-transfer-notice.sql - the notice a transfer sent
-- DESCRIPTION
--	transfers.notice_id is the Id of the notice-to-rekey the old
--	courier's milter relayed to the agent for an outgoing transfer
--	(doc/flows.md 9 step 6), as bg_relay.message_id has it. When the
--	transfer completes, or an operator cancels it, that notice, and
--	only that one, is withdrawn from bg_relay: a notice of a rekey of
--	the same account is not the transfer's to withdraw.

ALTER TABLE transfers ADD COLUMN notice_id text;
