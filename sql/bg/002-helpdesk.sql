-- NAME
--	bg/002-helpdesk.sql - help-desk views of the background database
-- DESCRIPTION
--	As sql/fg/002-helpdesk.sql: schema helpdesk, readable by role
--	tandem_helpdesk, which has no other right.

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

CREATE VIEW helpdesk.held_arms AS
SELECT id, message_id, sender, recipient, received_at, expires_at,
    now() - received_at AS age
FROM held_arms
WHERE released_at IS NULL AND purged_at IS NULL
ORDER BY received_at;

CREATE VIEW helpdesk.agent_mailbox AS
SELECT address, count(*) AS waiting, min(created_at) AS oldest
FROM agent_mailbox
WHERE fetched_at IS NULL
GROUP BY address
ORDER BY address;

CREATE VIEW helpdesk.introductions AS
SELECT courier, element, endpoint, domains, learned_at
FROM introductions
ORDER BY courier, element;

-- The subscription from the foreground: what arrived last, and when.
CREATE VIEW helpdesk.replication AS
SELECT subname, pid IS NOT NULL AS running, received_lsn, latest_end_lsn,
    last_msg_receipt_time, latest_end_time,
    now() - latest_end_time AS since_last_report
FROM pg_stat_subscription
WHERE relid IS NULL;

GRANT USAGE ON SCHEMA helpdesk TO tandem_helpdesk;
GRANT SELECT ON ALL TABLES IN SCHEMA helpdesk TO tandem_helpdesk;
