package storetest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/store"
)

// RunReports runs the conformance suite of store.Reports: reading the
// audit log by time, the chains' positions, rate samples, the summaries'
// compare-and-set, and the same report figures from every backend. nodes
// is how many nodes may share the store at once (1 for an embedded
// store); open opens it as the node named (an embedded store ignores the
// name).
func RunReports(t *testing.T, backend SharedBackend, nodes int) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open func(string) (store.Store, error), nodes int)
	}{
		{"audit-between-is-by-time", testAuditBetween},
		{"audit-between-pages-through-ties", testAuditBetweenPages},
		{"chain-at-is-each-chains-position", testChainAt},
		{"usage-samples", testUsageSamples},
		{"summaries-move-by-compare-and-set", testSummaries},
		{"report-figures", testReportFigures},
		{"signed-report-names-every-chain", testSignedChains},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, backend(t), nodes)
		})
	}
}

// reportStore is a store with usage reports: a report.Source.
type reportStore interface {
	store.Store
	store.Reports
}

// reportNodes opens the store as n nodes, each a store.Reports.
func reportNodes(t *testing.T, open func(string) (store.Store, error), n int) []reportStore {
	t.Helper()
	out := make([]reportStore, n)
	for i, s := range openNodes(t, open, n) {
		src, ok := s.(reportStore)
		if !ok {
			t.Fatalf("%T does not implement store.Reports", s)
		}
		out[i] = src
	}
	return out
}

// m is minute m of the suite's reports.
func m(min int) time.Time { return t0.Add(time.Duration(min) * time.Minute) }

// playTwoHours plays two hours of a pool of 2 seats of "ocr", its
// requests spread over the nodes (see the figures in testReportFigures).
func playTwoHours(t *testing.T, nodes []reportStore) {
	t.Helper()
	on := func(i int) reportStore { return nodes[i%len(nodes)] }
	acq := func(s reportStore, id, holder string, kind store.SeatKind, ttl time.Duration, at time.Time) error {
		_, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Kind: kind, Holder: holder, Limit: 2, TTL: ttl, Now: at})
		return err
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(acq(on(0), "a", "CN=app1", store.SeatInstance, 10*time.Hour, m(0)))
	must(acq(on(1), "b", "CN=app2", store.SeatInstance, 25*time.Minute, m(10)))
	if err := acq(on(0), "c", "CN=app2", store.SeatInstance, time.Hour, m(15)); err == nil {
		t.Fatal("a third seat was granted")
	}
	must(on(0).Record(ctx, store.Event{Time: m(15), Kind: store.KindDeny, Product: "ocr", InstanceID: "c", Actor: "CN=app2", Code: 501}))
	_, err := on(1).Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: "a", Reason: store.KindRelease, Actor: "CN=app1", Now: m(30)})
	must(err)
	if gone, err := on(0).Expire(ctx, m(50)); err != nil || len(gone) != 1 {
		t.Fatalf("Expire = %v, %v; want b", gone, err)
	}
	must(acq(on(1), store.KeyFileSeat("m1"), "CN=renewer", store.SeatKeyFile, 72*time.Hour, m(70)))
	must(acq(on(0), "a", "CN=app1", store.SeatInstance, 10*time.Hour, m(80)))
	_, err = on(1).Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: store.KeyFileSeat("m1"), Reason: store.KindRevoke, Actor: "CN=ops", Now: m(100)})
	must(err)
}

// allEvents reads every chain's events, ordered as AuditBetween orders
// them: by time, node, seq.
func allEvents(t *testing.T, s reportStore) []store.Event {
	t.Helper()
	var out []store.Event
	if err := s.Audit(ctx, 0, func(e store.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.SortStableFunc(out, func(a, b store.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		if a.Node != b.Node {
			if a.Node < b.Node {
				return -1
			}
			return 1
		}
		return int(a.Seq - b.Seq)
	})
	return out
}

func between(t *testing.T, s reportStore, from, to time.Time) []store.Event {
	t.Helper()
	var out []store.Event
	if err := s.AuditBetween(ctx, from, to, func(e store.Event) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func sameEvents(t *testing.T, what string, got, want []store.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range want {
		if got[i].Node != want[i].Node || got[i].Seq != want[i].Seq || !got[i].Time.Equal(want[i].Time) || !bytes.Equal(got[i].Hash, want[i].Hash) {
			t.Fatalf("%s: event %d is %s/%d at %s, want %s/%d at %s", what, i, got[i].Node, got[i].Seq, got[i].Time, want[i].Node, want[i].Seq, want[i].Time)
		}
	}
}

func testAuditBetween(t *testing.T, open func(string) (store.Store, error), nodes int) {
	ns := reportNodes(t, open, nodes)
	playTwoHours(t, ns)
	all := allEvents(t, ns[0])
	if len(all) != 8 {
		t.Fatalf("%d events, want 8", len(all))
	}
	in := func(from, to time.Time) []store.Event {
		var out []store.Event
		for _, e := range all {
			if !e.Time.Before(from) && (to.IsZero() || e.Time.Before(to)) {
				out = append(out, e)
			}
		}
		return out
	}
	for _, r := range []struct{ from, to time.Time }{{m(10), m(50)}, {m(15), m(16)}, {m(0), time.Time{}}, {time.Time{}, time.Time{}}, {m(101), time.Time{}}, {m(50), m(50)}} {
		for i, s := range ns {
			sameEvents(t, fmt.Sprintf("node %d: AuditBetween(%s, %s)", i+1, r.from.Format(time.TimeOnly), r.to.Format(time.TimeOnly)), between(t, s, r.from, r.to), in(r.from, r.to))
		}
	}
	stop := errors.New("stop")
	n := 0
	err := ns[0].AuditBetween(ctx, time.Time{}, time.Time{}, func(store.Event) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("an iteration stopped at once = %v after %d events, want the function's error after 1", err, n)
	}
}

// testAuditBetweenPages: more events than a page, many at the same time
// on several nodes, each read once, in order.
func testAuditBetweenPages(t *testing.T, open func(string) (store.Store, error), nodes int) {
	ns := reportNodes(t, open, nodes)
	const n = 6100
	for i, s := range ns {
		events := make([]store.Event, 0, n/len(ns))
		for j := range n / len(ns) {
			events = append(events, store.Event{Time: t0.Add(time.Duration(j/3) * time.Second), Kind: store.KindDeny, Product: "ocr",
				InstanceID: fmt.Sprintf("n%d-%d", i, j), Actor: "CN=app", Code: 501})
		}
		if err := s.Record(ctx, events...); err != nil {
			t.Fatal(err)
		}
	}
	all := allEvents(t, ns[0])
	sameEvents(t, "AuditBetween over pages", between(t, ns[0], time.Time{}, time.Time{}), all)
	from, to := t0.Add(100*time.Second), t0.Add(1900*time.Second)
	var want []store.Event
	for _, e := range all {
		if !e.Time.Before(from) && e.Time.Before(to) {
			want = append(want, e)
		}
	}
	sameEvents(t, "AuditBetween of a range over pages", between(t, ns[0], from, to), want)
}

func testChainAt(t *testing.T, open func(string) (store.Store, error), nodes int) {
	ns := reportNodes(t, open, nodes)
	for i, s := range ns {
		for j := range 3 {
			if err := s.Record(ctx, store.Event{Time: m(10*j + i), Kind: store.KindDeny, Product: "ocr", InstanceID: fmt.Sprint("i", j), Code: 501}); err != nil {
				t.Fatal(err)
			}
		}
	}
	all := allEvents(t, ns[0])
	// want is each chain's last event before at, by node.
	want := func(at time.Time) []store.Event {
		last := map[string]store.Event{}
		for _, e := range all {
			if e.Time.Before(at) {
				last[e.Node] = e
			}
		}
		var out []store.Event
		for _, e := range last {
			out = append(out, e)
		}
		slices.SortFunc(out, func(a, b store.Event) int {
			if a.Node < b.Node {
				return -1
			}
			if a.Node > b.Node {
				return 1
			}
			return 0
		})
		return out
	}
	for _, at := range []time.Time{m(0), m(1), m(2), m(10), m(15), m(21), m(60)} {
		for i, s := range ns {
			got, err := s.ChainAt(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			sameEvents(t, fmt.Sprintf("node %d: ChainAt(%s)", i+1, at.Format(time.TimeOnly)), got, want(at))
		}
	}
}

func testUsageSamples(t *testing.T, open func(string) (store.Store, error), nodes int) {
	ns := reportNodes(t, open, nodes)
	at := t0.Add(1500 * time.Microsecond)
	samples := []store.UsageSample{
		{Node: "b", Product: "ocr", Time: m(1), Rate: 4},
		{Node: "a", Product: "ocr", Time: m(1), Rate: 3.5},
		{Node: "a", Product: "asr", Time: m(1), Rate: 1},
		{Node: "a", Product: "ocr", Time: at, Rate: 2},
		{Node: "a", Product: "ocr", Time: m(2), Rate: 9},
	}
	if err := ns[0].RecordUsage(ctx, samples...); err != nil {
		t.Fatal(err)
	}
	if err := ns[0].RecordUsage(ctx); err != nil {
		t.Fatalf("no samples: %v", err)
	}
	want := []store.UsageSample{samples[3], samples[2], samples[1], samples[0]}
	for i, s := range ns {
		var got []store.UsageSample
		if err := s.UsageBetween(ctx, t0, m(2), func(u store.UsageSample) error { got = append(got, u); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("node %d: %d samples, want %d: %+v", i+1, len(got), len(want), got)
		}
		for j := range want {
			if g, w := got[j], want[j]; g.Node != w.Node || g.Product != w.Product || !g.Time.Equal(w.Time) || g.Rate != w.Rate {
				t.Errorf("node %d: sample %d = %+v, want %+v", i+1, j, g, w)
			}
		}
	}
}

func testSummaries(t *testing.T, open func(string) (store.Store, error), nodes int) {
	ns := reportNodes(t, open, nodes)
	last := ns[len(ns)-1]
	st, err := ns[0].SummaryState(ctx)
	if err != nil || !st.At.IsZero() || len(st.Data) != 0 {
		t.Fatalf("a new store's state = %+v, %v; want the zero state", st, err)
	}
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	sum := func(n int, product, data string) store.Summary {
		return store.Summary{Hour: h(n), Product: product, Data: []byte(data), Sets: []byte("sets-" + data)}
	}
	save := func(s reportStore, prev time.Time, next store.SummaryState, hours ...store.Summary) bool {
		t.Helper()
		ok, err := s.SaveSummaries(ctx, prev, next, hours)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !save(ns[0], time.Time{}, store.SummaryState{At: h(2), Data: []byte("s2")}, sum(0, "ocr", "o0"), sum(0, "asr", "a0"), sum(1, "ocr", "o1")) {
		t.Fatal("the first move from the zero state failed")
	}
	// Another writer that still saw the zero state writes nothing.
	if save(last, time.Time{}, store.SummaryState{At: h(3), Data: []byte("x")}, sum(2, "ocr", "x")) {
		t.Fatal("a move from a stale state succeeded")
	}
	st, err = last.SummaryState(ctx)
	if err != nil || !st.At.Equal(h(2)) || string(st.Data) != "s2" {
		t.Fatalf("state = %+v, %v; want at hour 2 with s2", st, err)
	}
	// An hour kept already stays as it was.
	if !save(last, h(2), store.SummaryState{At: h(3), Data: []byte("s3")}, sum(1, "ocr", "other"), sum(2, "ocr", "o2")) {
		t.Fatal("the second move failed")
	}
	read := func(s reportStore, from, to time.Time) string {
		t.Helper()
		var b bytes.Buffer
		err := s.Summaries(ctx, from, to, true, func(x store.Summary) error {
			if string(x.Sets) != "sets-"+string(x.Data) {
				return fmt.Errorf("summary %s %s: sets %q, want %q", x.Hour, x.Product, x.Sets, "sets-"+string(x.Data))
			}
			fmt.Fprintf(&b, "%d/%s=%s ", int(x.Hour.Sub(t0)/time.Hour), x.Product, x.Data)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	for i, s := range ns {
		if got, want := read(s, h(0), h(3)), "0/asr=a0 0/ocr=o0 1/ocr=o1 2/ocr=o2 "; got != want {
			t.Errorf("node %d: summaries %q, want %q", i+1, got, want)
		}
		if got, want := read(s, h(1), h(2)), "1/ocr=o1 "; got != want {
			t.Errorf("node %d: summaries of hour 1 %q, want %q", i+1, got, want)
		}
		// Without the sets, the figures alone.
		err := s.Summaries(ctx, h(0), h(3), false, func(x store.Summary) error {
			if x.Sets != nil || len(x.Data) == 0 {
				return fmt.Errorf("summary %s %s without sets: data %q sets %q", x.Hour, x.Product, x.Data, x.Sets)
			}
			return nil
		})
		if err != nil {
			t.Errorf("node %d: %v", i+1, err)
		}
	}
	// More summaries than a page.
	var many []store.Summary
	for i := range 2500 {
		many = append(many, sum(3+i/2, fmt.Sprint("p", i%2), "d"))
	}
	if !save(ns[0], h(3), store.SummaryState{At: h(3 + 1250), Data: []byte("s")}, many...) {
		t.Fatal("a move with many hours failed")
	}
	n := 0
	var prev store.Summary
	err = last.Summaries(ctx, h(3), h(3+1250), false, func(x store.Summary) error {
		if n > 0 && (x.Hour.Before(prev.Hour) || x.Hour.Equal(prev.Hour) && x.Product <= prev.Product) {
			return fmt.Errorf("summary %d (%s %s) after %s %s", n, x.Hour, x.Product, prev.Hour, prev.Product)
		}
		prev = x
		n++
		return nil
	})
	if err != nil || n != len(many) {
		t.Fatalf("read %d of %d summaries over pages: %v", n, len(many), err)
	}
}

// testReportFigures: the figures of two hours of a pool, read from the
// summaries, from the log, and from both; the summaries survive a
// reopen; every node reports the same.
func testReportFigures(t *testing.T, open func(string) (store.Store, error), nodes int) {
	lic := &license.License{ID: "lic-1", Products: []license.Product{{Subject: "ocr", InstanceSize: 2}}}
	want := []report.Period{
		{PeakInstance: 2, PeakTotal: 2, AvgInstance: 3300.0 / 3600, AtLimit: 20 * time.Minute, Denials: map[int]int{501: 1}, Instances: 2, Hosts: 2},
		{PeakInstance: 1, PeakKeyFile: 1, PeakTotal: 2, AvgInstance: 2400.0 / 3600, AvgKeyFile: 3000.0 / 3600, AtLimit: 40 * time.Minute, Instances: 1, Hosts: 2},
	}
	total := report.Period{PeakInstance: 2, PeakKeyFile: 1, PeakTotal: 2, AvgInstance: 5700.0 / 7200, AvgKeyFile: 3000.0 / 7200,
		AtLimit: time.Hour, Denials: map[int]int{501: 1}, Instances: 2, Hosts: 3}
	check := func(what string, s reportStore, now time.Time) {
		t.Helper()
		r, err := report.Build(ctx, s, report.Query{From: m(0), To: m(120), By: report.ByHour, License: lic, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Products) != 1 || r.Products[0].Name != "ocr" || r.Products[0].Limit != 2 || len(r.Products[0].Periods) != 2 {
			t.Fatalf("%s: products %+v", what, r.Products)
		}
		p := r.Products[0]
		for i := range want {
			samePeriod(t, fmt.Sprintf("%s: hour %d", what, i), p.Periods[i], want[i])
		}
		samePeriod(t, what+": total", p.Total, total)
	}
	func() {
		ns := reportNodes(t, open, nodes)
		playTwoHours(t, ns)
		// At 2:05 the first hour is Settle old and kept; the second is
		// read from the log.
		check("first hour kept", ns[len(ns)-1], m(125))
		if st, err := ns[0].SummaryState(ctx); err != nil || !st.At.Equal(m(60)) {
			t.Fatalf("state %+v, %v: want the first hour kept, and only it", st, err)
		}
		check("all kept", ns[0], m(24*60))
		for i, s := range ns {
			check(fmt.Sprintf("node %d", i+1), s, m(24*60))
			s.Close()
		}
	}()
	ns := reportNodes(t, open, nodes)
	st, err := ns[0].SummaryState(ctx)
	if err != nil || st.At.Before(m(120)) {
		t.Fatalf("state after a reopen = %+v, %v; want past the two hours", st, err)
	}
	check("after a reopen", ns[0], m(24*60))
}

func samePeriod(t *testing.T, what string, got, want report.Period) {
	t.Helper()
	near := func(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }
	if got.PeakInstance != want.PeakInstance || got.PeakKeyFile != want.PeakKeyFile || got.PeakTotal != want.PeakTotal ||
		!near(got.AvgInstance, want.AvgInstance) || !near(got.AvgKeyFile, want.AvgKeyFile) || got.AtLimit != want.AtLimit ||
		got.Instances != want.Instances || got.Hosts != want.Hosts || got.Denied() != want.Denied() || got.Denials[501] != want.Denials[501] {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// testSignedChains: a signed report names each node's chain, from its
// position at the period's start to its position at the end.
func testSignedChains(t *testing.T, open func(string) (store.Store, error), nodes int) {
	ns := reportNodes(t, open, nodes)
	playTwoHours(t, ns)
	_, key, _ := keys.Generate()
	lic := &license.License{ID: "lic-1", Products: []license.Product{{Subject: "ocr", InstanceSize: 2}}}
	file, err := report.BuildSigned(ctx, ns[0], report.Query{From: m(60), To: m(120), By: report.ByHour, License: lic, Now: m(180)},
		report.SignOptions{Key: key, License: "unchecked"})
	if err != nil {
		t.Fatal(err)
	}
	var f report.File
	var p report.Payload
	if err := json.Unmarshal(file, &f); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(f.Payload, &p); err != nil {
		t.Fatal(err)
	}
	pos := func(at time.Time) map[string]report.Position {
		out := map[string]report.Position{}
		for _, e := range allEvents(t, ns[0]) {
			if e.Time.Before(at) {
				out[e.Node] = report.Position{Seq: e.Seq, Hash: hex.EncodeToString(e.Hash)}
			}
		}
		return out
	}
	starts, ends := pos(m(60)), pos(m(120))
	if len(p.Chains) != len(ends) || len(ends) != nodes {
		t.Fatalf("chains %+v, want one per node (%d)", p.Chains, nodes)
	}
	for _, c := range p.Chains {
		if c.Start != starts[c.Node] || c.End != ends[c.Node] {
			t.Errorf("chain of %q from %+v to %+v, want %+v to %+v", c.Node, c.Start, c.End, starts[c.Node], ends[c.Node])
		}
	}
	if !p.LogStart.Equal(m(0)) {
		t.Errorf("log start %s, want %s", p.LogStart, m(0))
	}
}
