-- NAME
--	fg/005-helpdesk-history.sql - refusals, history and heartbeat for
--	the help desk
-- DESCRIPTION
--	refusals holds one row per message the milter refused for good
--	(status reject) or for now (status tempfail): when, the queue id,
--	the client address (Postfix macro {client_addr}, when given), the
--	envelope sender and recipients, the Message-ID and the SMTP reply
--	text. Never any content, key or wrap.
--
--	invitations.answered_at is set when an invitation leaves
--	'pending' (accepted, rejected or expired). Released and purged
--	held messages, answered or expired invitations and refusals stay
--	until hygiene.history_limit has passed; the milter's hygiene
--	deletes them then.
--
--	heartbeat is one row that the milter updates every 10 seconds; it
--	is published, and the background's age of it is its lag.
--	heartbeat_log keeps, here only, each beat with the WAL position it
--	was written at, for a day: the oldest beat the replication slot has
--	not confirmed says how far behind the background is.
--
--	Views: helpdesk.refusals, helpdesk.held_history,
--	helpdesk.invitation_history, helpdesk.replication_lag.

CREATE TABLE refusals (
	id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at		timestamptz NOT NULL DEFAULT now(),
	status		text NOT NULL CHECK (status IN ('reject', 'tempfail')),
	queue_id	text,
	client		text,
	sender		text,
	recipients	text,	-- comma-separated
	message_id	text,
	reply		text NOT NULL	-- "5.7.1 reason" as answered
);
CREATE INDEX refusals_at ON refusals (at);

ALTER TABLE invitations ADD COLUMN answered_at timestamptz;

CREATE FUNCTION tandem_invitation_answered() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.status = 'pending' AND NEW.status <> 'pending' THEN
		NEW.answered_at := now();
	ELSIF NEW.status = 'pending' THEN
		NEW.answered_at := NULL;
	END IF;
	RETURN NEW;
END
$$;
CREATE TRIGGER invitations_answered BEFORE UPDATE OF status ON invitations
	FOR EACH ROW EXECUTE FUNCTION tandem_invitation_answered();

CREATE TABLE heartbeat (
	id		integer PRIMARY KEY CHECK (id = 1),
	beat_at		timestamptz NOT NULL
);
INSERT INTO heartbeat VALUES (1, now());

CREATE TABLE heartbeat_log (
	beat_lsn	pg_lsn PRIMARY KEY,
	beat_at		timestamptz NOT NULL
);

CREATE FUNCTION tandem_heartbeat_log() RETURNS trigger
	LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.heartbeat_log VALUES
		(pg_current_wal_insert_lsn(), NEW.beat_at)
		ON CONFLICT DO NOTHING;
	DELETE FROM public.heartbeat_log
		WHERE beat_at < now() - interval '1 day';
	RETURN NULL;
END
$$;
CREATE TRIGGER heartbeat_log AFTER UPDATE ON heartbeat
	FOR EACH ROW EXECUTE FUNCTION tandem_heartbeat_log();

GRANT SELECT, INSERT, UPDATE, DELETE ON refusals, heartbeat, heartbeat_log
	TO tandem_fg;

CREATE VIEW helpdesk.refusals AS
SELECT at, status, queue_id, client, sender, recipients, message_id, reply
FROM refusals
ORDER BY at DESC, id DESC;

CREATE VIEW helpdesk.held_messages_history AS
SELECT id, message_id, queue_id, sender, recipient, held_at,
    CASE WHEN released_at IS NOT NULL THEN 'released' ELSE 'purged' END
	AS outcome,
    coalesce(released_at, purged_at) AS ended_at
FROM held_messages
WHERE released_at IS NOT NULL OR purged_at IS NOT NULL
ORDER BY ended_at DESC, id DESC;

CREATE VIEW helpdesk.invitation_history AS
SELECT address, message_id, status, sent_at, expires_at, answered_at
FROM invitations
WHERE status <> 'pending'
ORDER BY answered_at DESC NULLS LAST, id DESC;

-- The walsenders' states, which pg_stat_replication shows only to
-- roles with pg_read_all_stats: this function, run with its owner's
-- rights, gives the help desk their pid and state and nothing more.
CREATE FUNCTION helpdesk.walsender_states()
	RETURNS TABLE (pid integer, state text)
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog AS $$
SELECT pid, state FROM pg_stat_replication
$$;
REVOKE ALL ON FUNCTION helpdesk.walsender_states() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION helpdesk.walsender_states() TO tandem_helpdesk;

-- One row per logical slot: the background's subscription. state is
-- the walsender's state, or 'stopped' when no subscriber is attached.
-- lag_seconds: the age of the oldest heartbeat the slot has not
-- confirmed (0: all confirmed).
CREATE VIEW helpdesk.replication_lag AS
SELECT s.slot_name,
    CASE WHEN s.active THEN coalesce(r.state, 'active') ELSE 'stopped' END
	AS state,
    pg_wal_lsn_diff(pg_current_wal_lsn(), s.confirmed_flush_lsn)::bigint
	AS lag_bytes,
    coalesce(floor(extract(epoch FROM now() - (SELECT min(l.beat_at)
	FROM heartbeat_log l WHERE l.beat_lsn > s.confirmed_flush_lsn))),
	0)::bigint AS lag_seconds,
    h.beat_at AS last_heartbeat
FROM pg_replication_slots s
LEFT JOIN helpdesk.walsender_states() r ON r.pid = s.active_pid
LEFT JOIN heartbeat h ON h.id = 1
WHERE s.slot_type = 'logical'
ORDER BY s.slot_name;

GRANT SELECT ON helpdesk.refusals, helpdesk.held_messages_history,
	helpdesk.invitation_history, helpdesk.replication_lag
	TO tandem_helpdesk;
