-- Usage reports (package report): the audit log read by time, the rate of
-- calls sampled once a minute, and hourly summaries of the log.
--
-- Reports read the events of a range in (at, node, seq) order across the
-- nodes' chains; this index makes that cost grow with the range, not the
-- log. It also finds where each node's chain stood at a time (the
-- positions a signed report names).
CREATE INDEX licensor_audit_at ON licensor_audit (at, node, seq);
-- Each node's rate of calls of a product with QPS control, over the
-- minute before at.
CREATE TABLE licensor_usage_samples (
	at      timestamptz NOT NULL,
	node    text NOT NULL,
	product text NOT NULL,
	rate    double precision NOT NULL
);
CREATE INDEX licensor_usage_samples_at ON licensor_usage_samples (at);
-- One hour of one product, as the report engine summed it (its own
-- encoding): kept once, whichever node summed it first.
CREATE TABLE licensor_report_hours (
	hour    timestamptz NOT NULL,
	product text NOT NULL,
	data    bytea NOT NULL,
	-- The hour's sets of distinct ids, apart: a report that counts none
	-- does not read them.
	sets    bytea NOT NULL DEFAULT '',
	PRIMARY KEY (hour, product)
);
-- Where the summaries end (NULL: nothing summarised) and the engine's
-- state there. Nodes move it by compare-and-set: one wins each step.
CREATE TABLE licensor_report_state (
	one  boolean PRIMARY KEY DEFAULT true CHECK (one),
	at   timestamptz,
	data bytea NOT NULL
);
INSERT INTO licensor_report_state (one, at, data) VALUES (true, NULL, ''::bytea);
