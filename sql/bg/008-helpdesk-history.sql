-- NAME
--	bg/008-helpdesk-history.sql - refusals, waiting keys, last
--	fetches and lag for the help desk
-- DESCRIPTION
--	refusals holds one row per 4xx or 5xx answer tandem-policyd gave
--	an agent or a peer background: when, the HTTP code, the client's
--	IP address, who it was (the agent's address, or the peer's
--	courier name), the path, the Message-ID when known, and the text
--	answered. Never any content, key or wrap.
--
--	agent_fetches holds each address's last GET /v1/mailbox.
--
--	heartbeat is the foreground's one-row table, replicated: now()
--	minus its beat_at is how far behind this database is.
--
--	Released and purged held ARMs and refusals stay until
--	hygiene.history_limit has passed; tandem-policyd's hygiene deletes
--	them then.
--
--	Views: helpdesk.refusals, helpdesk.waiting_keys,
--	helpdesk.last_fetch, helpdesk.held_arms_history,
--	helpdesk.replication_lag.

CREATE TABLE refusals (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	code		integer NOT NULL,
	client		text,
	who		text,
	path		text,
	message_id	text,
	reply		text NOT NULL
);
CREATE INDEX refusals_at ON refusals (at);

CREATE TABLE agent_fetches (
	address		text PRIMARY KEY,
	last_fetch_at	timestamptz NOT NULL
);

-- Replicated from the foreground.
CREATE TABLE heartbeat (
	id		integer PRIMARY KEY CHECK (id = 1),
	beat_at		timestamptz NOT NULL
);

GRANT SELECT, INSERT, UPDATE, DELETE ON refusals, agent_fetches TO tandem_bg;
GRANT SELECT ON heartbeat TO tandem_bg;

CREATE VIEW helpdesk.refusals AS
SELECT at, code, client, who, path, message_id, reply
FROM refusals
ORDER BY at DESC, id DESC;

-- Each key not yet fetched: in the mailbox (kind arm, receipt...) or
-- held until its recipient registers (kind held).
CREATE VIEW helpdesk.waiting_keys AS
SELECT address, message_id, kind, since
FROM (SELECT address, message_id, kind, created_at AS since
	FROM agent_mailbox WHERE fetched_at IS NULL
    UNION ALL
    SELECT recipient, message_id, 'held', received_at
	FROM held_arms WHERE released_at IS NULL AND purged_at IS NULL) w
ORDER BY since, address, message_id;

CREATE VIEW helpdesk.last_fetch AS
SELECT a.address, f.last_fetch_at, now() - f.last_fetch_at AS since_fetch,
    (SELECT count(*) FROM agent_mailbox m WHERE m.address = a.address
	AND m.fetched_at IS NULL) AS waiting,
    (SELECT min(created_at) FROM agent_mailbox m WHERE m.address = a.address
	AND m.fetched_at IS NULL) AS oldest_waiting
FROM accounts a
LEFT JOIN agent_fetches f ON f.address = a.address
ORDER BY a.address;

CREATE VIEW helpdesk.held_arms_history AS
SELECT id, message_id, sender, recipient, received_at,
    CASE WHEN released_at IS NOT NULL THEN 'released' ELSE 'purged' END
	AS outcome,
    coalesce(released_at, purged_at) AS ended_at
FROM held_arms
WHERE released_at IS NOT NULL OR purged_at IS NOT NULL
ORDER BY ended_at DESC, id DESC;

-- The subscription: running, or stopped (disabled, or no worker);
-- 'none' without one. lag_seconds is the age of the last heartbeat
-- received (at least the heartbeat's period, 10 s, when up to date).
CREATE VIEW helpdesk.replication_lag AS
SELECT coalesce(s.subname, '') AS subname,
    CASE WHEN s.oid IS NULL THEN 'none'
	WHEN NOT s.subenabled OR st.pid IS NULL THEN 'stopped'
	ELSE 'running' END AS state,
    h.beat_at AS last_heartbeat,
    floor(extract(epoch FROM now() - h.beat_at))::bigint AS lag_seconds
FROM (SELECT 1) one
LEFT JOIN pg_subscription s ON s.subdbid = (SELECT oid FROM pg_database
    WHERE datname = current_database())
LEFT JOIN pg_stat_subscription st ON st.subid = s.oid AND st.relid IS NULL
LEFT JOIN heartbeat h ON h.id = 1
ORDER BY 1;

GRANT SELECT ON helpdesk.refusals, helpdesk.waiting_keys, helpdesk.last_fetch,
	helpdesk.held_arms_history, helpdesk.replication_lag TO tandem_helpdesk;
