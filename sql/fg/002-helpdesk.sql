-- NAME
--	fg/002-helpdesk.sql - help-desk views of the foreground database
-- DESCRIPTION
--	The views live in schema helpdesk. Role tandem_helpdesk may use
--	that schema and select its views, and nothing else: it has no
--	right on schema public nor on any table. The views run with
--	their owner's rights, and leave out keys, certificates and
--	message bodies.

DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles
	    WHERE rolname = 'tandem_helpdesk') THEN
		CREATE ROLE tandem_helpdesk LOGIN;
	END IF;
END
$$;

CREATE SCHEMA helpdesk;
REVOKE ALL ON SCHEMA helpdesk FROM PUBLIC;

CREATE VIEW helpdesk.account_status AS
SELECT a.address, a.status, a.redirect_to, a.created_at, a.updated_at,
    k.generation AS key_generation, k.key_serial, k.created_at AS key_since
FROM accounts a
LEFT JOIN LATERAL (SELECT generation, key_serial, created_at
    FROM account_keys WHERE address = a.address AND retired_at IS NULL
    ORDER BY generation DESC LIMIT 1) k ON true;

CREATE VIEW helpdesk.pending_invitations AS
SELECT address, message_id, sent_at, expires_at, now() - sent_at AS age
FROM invitations
WHERE status = 'pending'
ORDER BY sent_at;

CREATE VIEW helpdesk.held_messages AS
SELECT id, message_id, queue_id, sender, recipient, held_at,
    now() - held_at AS age, octet_length(body) AS size
FROM held_messages
WHERE released_at IS NULL AND purged_at IS NULL
ORDER BY held_at;

CREATE VIEW helpdesk.transfers_in_flight AS
SELECT address, direction, other_courier, state, started_at, updated_at,
    now() - started_at AS age
FROM transfers
WHERE state NOT IN ('complete', 'cancelled')
ORDER BY started_at;

CREATE VIEW helpdesk.introductions AS
SELECT courier, element, endpoint, domains, learned_at
FROM introductions
ORDER BY courier, element;

CREATE VIEW helpdesk.outbox_waiting AS
SELECT id, message_id, mail_from, rcpt_to, created_at, attempts,
    next_attempt_at, last_error
FROM outbox
WHERE sent_at IS NULL
ORDER BY created_at;

-- One row per replication slot: the background's subscription.
CREATE VIEW helpdesk.replication AS
SELECT slot_name, active, wal_status,
    pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
	AS lag_bytes
FROM pg_replication_slots
WHERE slot_type = 'logical';

GRANT USAGE ON SCHEMA helpdesk TO tandem_helpdesk;
GRANT SELECT ON ALL TABLES IN SCHEMA helpdesk TO tandem_helpdesk;
