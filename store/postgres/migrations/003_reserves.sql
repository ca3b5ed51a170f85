-- Each node's part of a product's count, and the seats it may grant
-- without the pool's lock (see reserve.go in store/postgres).
--
-- The pool's count is base + the sum of its reserves' held. base is the
-- count as schema 2 kept it, and no longer changes: every change is the
-- changing node's held. The column is renamed so that a node of an
-- earlier licensor, still running, fails its statements (a store error)
-- instead of counting beside the reserves.
ALTER TABLE licensor_pools RENAME COLUMN held TO base;
CREATE TABLE licensor_reserves (
	product  text NOT NULL,
	node     text NOT NULL,
	-- the seats this node's batches added, less those they removed (less
	-- than zero when it released or reaped seats other nodes granted)
	held     integer NOT NULL DEFAULT 0,
	-- this node grants without the pool's lock while held stays within
	-- reserved, for requests whose limit is at least cap; a row not yet
	-- sized has no reserve
	reserved integer NOT NULL DEFAULT -1073741824,
	cap      integer NOT NULL DEFAULT 0,
	PRIMARY KEY (product, node)
);
