package store

import (
	"context"
	"time"
)

// Usage reports (package report) read the audit log by time and keep
// hourly summaries of it in the store, so that a report's cost grows with
// the events of its range, not with the whole log.

// UsageSample is one node's rate of calls of a product (QPS control),
// measured over the minute before Time.
type UsageSample struct {
	Node    string    `json:"node,omitempty"`
	Product string    `json:"product"`
	Time    time.Time `json:"time"`
	Rate    float64   `json:"rate"` // calls per second
}

// Summary is one hour of one product's usage, as the report engine
// computed it from the audit log. The store keeps Data as it is given.
type Summary struct {
	Product string
	Hour    time.Time // the hour's start, UTC
	Data    []byte    // the hour's figures
	// Sets are the hour's sets of distinct ids, kept apart from Data:
	// they are most of a busy hour's bytes, and a report that counts no
	// distinct ids does not read them.
	Sets []byte
}

// SummaryState is where the summaries end: every hour before At is
// summarised, and Data is the report engine's state at At (the seats
// held then). The zero state summarises nothing.
type SummaryState struct {
	At   time.Time
	Data []byte
}

// Reports is what a store adds for usage reports. Both backends implement
// it; storetest checks that they agree.
type Reports interface {
	// AuditBetween calls fn for each audit event with from <= Time < to,
	// ordered by time, then node, then seq. A zero to has no end. Its cost
	// grows with the events in the range (an index on time).
	AuditBetween(ctx context.Context, from, to time.Time, fn func(Event) error) error
	// ChainAt returns, for each node's chain, its last event with Time <
	// t: where the chain stood at t. A chain whose first event is at or
	// after t is left out.
	ChainAt(ctx context.Context, t time.Time) ([]Event, error)

	// RecordUsage keeps samples of the rate of calls.
	RecordUsage(ctx context.Context, samples ...UsageSample) error
	// UsageBetween calls fn for each sample with from <= Time < to, ordered
	// by time.
	UsageBetween(ctx context.Context, from, to time.Time, fn func(UsageSample) error) error

	// Summaries calls fn for each summary of an hour in [from, to), ordered
	// by hour then product; without sets, Summary.Sets is left nil and
	// not read.
	Summaries(ctx context.Context, from, to time.Time, sets bool, fn func(Summary) error) error
	// SummaryState returns where the summaries end.
	SummaryState(ctx context.Context) (SummaryState, error)
	// SaveSummaries adds hours and moves the state from prev to next in
	// one transaction. When the state is no longer at prev (another
	// writer moved it) it writes nothing and returns false.
	SaveSummaries(ctx context.Context, prev time.Time, next SummaryState, hours []Summary) (bool, error)
}

// VerifierFrom returns a Verifier that checks the events after e, taking
// e itself on trust: it checks a stretch of a chain whose start is known
// from elsewhere (the position a signed usage report names).
func VerifierFrom(e Event) *Verifier {
	return &Verifier{prev: &e}
}
