package report_test

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/sqlite"
)

// yearEvents is how many events BenchmarkReportYear generates: 10
// million (a year of a busy site), 100,000 with -short, or
// REPORT_BENCH_EVENTS.
func yearEvents(b *testing.B) int {
	if s := os.Getenv("REPORT_BENCH_EVENTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1000 {
			b.Fatalf("REPORT_BENCH_EVENTS=%q: want a number of events, at least 1000", s)
		}
		return n
	}
	if testing.Short() {
		return 100_000
	}
	return 10_000_000
}

var (
	yearStart = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	yearEnd   = yearStart.AddDate(1, 0, 0)
	yearLic   = &license.License{ID: "lic-year", Products: []license.Product{
		{Subject: "ocr", InstanceSize: 400}, {Subject: "asr", InstanceSize: 100, QPS: 50}, {Subject: "codec", InstanceSize: 40}}}
)

// yearDB is the generated store of this process, by event count.
var yearDB = map[int]string{}

// generateYear writes n events of a busy site over yearStart..yearEnd
// straight into a new SQLite store, in batches: instances of three
// products taking seats (denied with 501 when the pool is full),
// releasing them or letting their leases lapse, key-file hosts taking a
// seat for 7 days, revokes. It returns the store's path.
func generateYear(b *testing.B, n int) string {
	if path, ok := yearDB[n]; ok {
		return path
	}
	dir, err := os.MkdirTemp("", "licensor-report-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "licensor.db")
	st, err := sqlite.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	type seat struct{ product, id string }
	held := map[string][]seat{} // product → seats held, instance seats
	keyHeld := map[string][]struct {
		seat
		until time.Time
	}{}
	step := yearEnd.Sub(yearStart) / time.Duration(n)
	at := yearStart
	batch := make([]store.Event, 0, 5000)
	flush := func() {
		if err := st.Record(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	next := 0
	for i := 0; i < n; i++ {
		at = at.Add(time.Duration(rng.Int64N(int64(2 * step))))
		if !at.Before(yearEnd) {
			at = yearEnd.Add(-time.Second)
		}
		p := yearLic.Products[rng.IntN(len(yearLic.Products))]
		hs := held[p.Subject]
		e := store.Event{Time: at, Product: p.Subject}
		// Busy hours: the pools fill in the working day.
		busy := at.Hour() >= 8 && at.Hour() < 18 && at.Weekday() != time.Saturday && at.Weekday() != time.Sunday
		ks := keyHeld[p.Subject]
		switch r := rng.IntN(100); {
		case r < 2 && len(ks) > 0 && !ks[0].until.After(at):
			e.Kind, e.InstanceID, e.Actor = store.KindExpire, ks[0].id, "server"
			e.Detail = "lease lapsed at " + ks[0].until.Format(time.RFC3339)
			keyHeld[p.Subject] = ks[1:]
		case r < 4:
			host := fmt.Sprintf("m%04d", rng.IntN(200))
			e.Kind, e.InstanceID, e.Actor = store.KindGrant, store.KeyFileSeat(host), "CN=renewer"
			keyHeld[p.Subject] = append(ks, struct {
				seat
				until time.Time
			}{seat{p.Subject, e.InstanceID}, at.Add(7 * 24 * time.Hour)})
		case (busy && r < 60) || (!busy && r < 35):
			if len(hs) >= p.InstanceSize {
				e.Kind, e.InstanceID, e.Actor, e.Code = store.KindDeny, fmt.Sprint("i-", next), "CN=app", 501
				break
			}
			next++
			e.Kind, e.InstanceID, e.Actor = store.KindGrant, fmt.Sprint("i-", next), fmt.Sprintf("CN=app%03d", rng.IntN(300))
			held[p.Subject] = append(hs, seat{p.Subject, e.InstanceID})
		case len(hs) > 0:
			j := rng.IntN(len(hs))
			e.InstanceID, e.Actor = hs[j].id, "CN=app"
			switch k := rng.IntN(20); {
			case k == 0:
				e.Kind, e.Actor = store.KindRevoke, "CN=ops"
			case k < 4:
				e.Kind, e.Actor = store.KindExpire, "server"
				e.Detail = "lease lapsed at " + at.Add(-time.Duration(rng.IntN(60))*time.Second).Format(time.RFC3339)
			default:
				e.Kind = store.KindRelease
			}
			hs[j] = hs[len(hs)-1]
			held[p.Subject] = hs[:len(hs)-1]
		default:
			e.Kind, e.InstanceID, e.Actor, e.Code = store.KindDeny, "x", "CN=app", 508
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
	var minutes []store.UsageSample
	for t := yearStart; t.Before(yearEnd); t = t.Add(time.Minute) {
		minutes = append(minutes, store.UsageSample{Product: "asr", Time: t, Rate: float64(rng.IntN(50))})
		if len(minutes) == 5000 {
			if err := st.RecordUsage(ctx, minutes...); err != nil {
				b.Fatal(err)
			}
			minutes = minutes[:0]
		}
	}
	if err := st.RecordUsage(ctx, minutes...); err != nil {
		b.Fatal(err)
	}
	yearDB[n] = path
	return path
}

// forgetSummaries takes the kept summaries out of the store at path, as
// on a store the engine has not yet read.
func forgetSummaries(b *testing.B, path string) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM report_hours; UPDATE report_state SET at = 0, data = x''`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReportYear reports a year of a busy site by month: "cold"
// summarises the whole log first (the first report of a store no server
// has summarised), "warm" reads the summaries the server keeps. Run the
// full 10 million events only on a quiet machine:
//
//	go test ./report -run XXX -bench ReportYear -benchtime 1x -benchmem
//	go test ./report -run XXX -bench ReportYear -benchtime 1x -short    (100,000 events)
func BenchmarkReportYear(b *testing.B) {
	n := yearEvents(b)
	path := generateYear(b, n)
	q := report.Query{From: yearStart, To: yearEnd, By: report.ByMonth, License: yearLic, Now: yearEnd.Add(time.Hour)}
	build := func(b *testing.B, st *sqlite.Store) {
		r, err := report.Build(ctx, st, q)
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Products) != 3 || len(r.Products[0].Periods) != 12 || r.Products[2].Total.PeakTotal == 0 {
			b.Fatalf("report %+v", r.Products)
		}
	}
	open := func(b *testing.B) *sqlite.Store {
		st, err := sqlite.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	b.Run("cold", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			forgetSummaries(b, path)
			st := open(b)
			b.StartTimer()
			build(b, st)
			b.StopTimer()
			st.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(n), "events")
	})
	b.Run("warm", func(b *testing.B) {
		st := open(b)
		defer st.Close()
		build(b, st) // the summaries kept
		b.ResetTimer()
		for range b.N {
			build(b, st)
		}
		b.ReportMetric(float64(n), "events")
	})
}
