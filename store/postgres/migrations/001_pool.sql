-- The pool, the nodes and their audit chains.
CREATE TABLE licensor_pools (
	product text PRIMARY KEY,
	-- held counts the product's leases, lapsed ones not yet removed
	-- included; it changes only under this row's lock.
	held    integer NOT NULL DEFAULT 0
);
CREATE TABLE licensor_leases (
	product     text NOT NULL,
	instance_id text NOT NULL,
	kind        text NOT NULL,
	holder      text NOT NULL,
	since       timestamptz NOT NULL,
	renewed     timestamptz NOT NULL,
	expires     timestamptz NOT NULL,
	-- due is when the reaper looks at the lease next: its expiry when it
	-- was last written by a grant, never later than expires. A renewal
	-- moves expires only, so that it touches no index (a HOT update, with
	-- the room fillfactor leaves); a lease found due but renewed since is
	-- moved to its new expiry then, once per lease time-to-live.
	due         timestamptz NOT NULL,
	revoked     timestamptz,
	revoked_by  text NOT NULL DEFAULT '',
	node        text NOT NULL DEFAULT '', -- the node that last granted or renewed it
	PRIMARY KEY (product, instance_id)
) WITH (fillfactor = 50);
CREATE INDEX licensor_leases_product_due ON licensor_leases (product, due);
CREATE TABLE licensor_nodes (
	name       text PRIMARY KEY,
	high_water timestamptz,
	key_id     text NOT NULL DEFAULT '',
	address    text NOT NULL DEFAULT '',
	version    text NOT NULL DEFAULT '',
	license_id text NOT NULL DEFAULT '',
	started    timestamptz,
	last_seen  timestamptz
);
CREATE TABLE licensor_audit (
	node        text NOT NULL,
	seq         bigint NOT NULL,
	at          timestamptz NOT NULL,
	kind        text NOT NULL,
	product     text NOT NULL,
	instance_id text NOT NULL,
	actor       text NOT NULL,
	code        integer NOT NULL,
	detail      text NOT NULL,
	prev        bytea,
	hash        bytea NOT NULL,
	PRIMARY KEY (node, seq)
);
-- The license in force for the whole cluster: the latest issued that any
-- node was started or reloaded with.
CREATE TABLE licensor_license (
	one        boolean PRIMARY KEY DEFAULT true CHECK (one),
	license_id text NOT NULL,
	issued     timestamptz NOT NULL,
	data       bytea NOT NULL,
	set_by     text NOT NULL,
	set_at     timestamptz NOT NULL DEFAULT now()
);
-- Each node's last measured rate of calls per product (QPS control): the
-- cluster's rate is the sum over the nodes heard from lately.
CREATE TABLE licensor_usage (
	node    text NOT NULL,
	product text NOT NULL,
	rate    double precision NOT NULL,
	at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (node, product)
);
