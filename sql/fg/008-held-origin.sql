-- NAME
--	fg/008-held-origin.sql - the origin of mail held from another
--	courier
-- DESCRIPTION
--	held_messages keeps the assertion of the origin courier of a
--	sealed content held here from another courier (origin, hops,
--	origin_pem, origin_date, origin_sig, as the inter-courier message
--	carried them): its release goes on under that origin, one hop
--	more, while the receivers still take the origin's date
--	(lib/fed.c), since a private courier may not assert a sender of
--	another domain. A local sender's held mail has none: its release
--	is this courier's own, as before.

ALTER TABLE held_messages
	ADD COLUMN origin text,
	ADD COLUMN hops integer CHECK (hops >= 1),
	ADD COLUMN origin_pem text,
	ADD COLUMN origin_date text,
	ADD COLUMN origin_sig text;
