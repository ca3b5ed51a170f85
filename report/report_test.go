package report_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/report"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/sqlite"
)

var (
	ctx = context.Background()
	t0  = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
)

func min(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(filepath.Join(t.TempDir(), "licensor.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// twoHours plays two hours of a pool of 2 seats on s (see the figures
// wanted in TestBuild).
func twoHours(t *testing.T, s store.Store) {
	t.Helper()
	acq := func(id, holder string, kind store.SeatKind, ttl time.Duration, at time.Time) error {
		_, err := s.Acquire(ctx, store.AcquireRequest{Product: "ocr", InstanceID: id, Kind: kind, Holder: holder, Limit: 2, TTL: ttl, Now: at})
		return err
	}
	must(t, acq("a", "CN=app1", store.SeatInstance, 10*time.Hour, min(0)))
	must(t, acq("b", "CN=app2", store.SeatInstance, 25*time.Minute, min(10)))
	if err := acq("c", "CN=app2", store.SeatInstance, time.Hour, min(15)); err == nil {
		t.Fatal("a third seat was granted")
	}
	must(t, s.Record(ctx, store.Event{Time: min(15), Kind: store.KindDeny, Product: "ocr", InstanceID: "c", Actor: "CN=app2", Code: 501}))
	if _, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: "a", Reason: store.KindRelease, Actor: "CN=app1", Now: min(30)}); err != nil {
		t.Fatal(err)
	}
	if gone, err := s.Expire(ctx, min(50)); err != nil || len(gone) != 1 {
		t.Fatalf("Expire = %v, %v; want b", gone, err)
	}
	must(t, acq(store.KeyFileSeat("m1"), "CN=renewer", store.SeatKeyFile, 72*time.Hour, min(70)))
	must(t, acq("a", "CN=app1", store.SeatInstance, 10*time.Hour, min(80)))
	if _, err := s.Release(ctx, store.ReleaseRequest{Product: "ocr", InstanceID: store.KeyFileSeat("m1"), Reason: store.KindRevoke, Actor: "CN=ops", Now: min(100)}); err != nil {
		t.Fatal(err)
	}
}

func TestBuild(t *testing.T) {
	lic := &license.License{ID: "lic-1", Products: []license.Product{{Subject: "ocr", InstanceSize: 2}, {Subject: "idle", InstanceSize: 5, QPS: 100}}}
	hour0 := report.Period{Start: min(0), End: min(60), PeakInstance: 2, PeakKeyFile: 0, PeakTotal: 2,
		AvgInstance: 3300.0 / 3600, AtLimit: 20 * time.Minute, Denials: map[int]int{501: 1}, Instances: 2, Hosts: 2}
	hour1 := report.Period{Start: min(60), End: min(120), PeakInstance: 1, PeakKeyFile: 1, PeakTotal: 2,
		AvgInstance: 2400.0 / 3600, AvgKeyFile: 3000.0 / 3600, AtLimit: 40 * time.Minute, Instances: 1, Hosts: 2}
	total := report.Period{Start: min(0), End: min(120), PeakInstance: 2, PeakKeyFile: 1, PeakTotal: 2,
		AvgInstance: 5700.0 / 7200, AvgKeyFile: 3000.0 / 7200, AtLimit: time.Hour, Denials: map[int]int{501: 1}, Instances: 2, Hosts: 3}
	tests := []struct {
		name string
		now  time.Time
	}{
		{"from-summaries", min(180)},
		{"summaries-and-live-hour", min(120)},
		{"all-live", min(65)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			twoHours(t, s)
			r, err := report.Build(ctx, s, report.Query{From: min(0), To: min(120), By: report.ByHour, License: lic, Now: tt.now})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Products) != 2 || r.Products[0].Name != "idle" || r.Products[1].Name != "ocr" {
				t.Fatalf("products = %+v", r.Products)
			}
			p := r.Products[1]
			if p.Limit != 2 || r.LicenseID != "lic-1" {
				t.Fatalf("limit %d, license %q", p.Limit, r.LicenseID)
			}
			want := []report.Period{hour0, hour1}
			wantTotal := total
			if tt.now.Before(min(120)) {
				// Up to now only: nothing is held in the second hour's
				// first five minutes.
				want = []report.Period{hour0, {Start: min(60), End: tt.now}}
				wantTotal = report.Period{Start: min(0), End: tt.now, PeakInstance: 2, PeakTotal: 2, AvgInstance: 3300.0 / (65 * 60),
					AtLimit: 20 * time.Minute, Denials: map[int]int{501: 1}, Instances: 2, Hosts: 2}
			}
			if len(p.Periods) != len(want) {
				t.Fatalf("%d periods, want %d: %+v", len(p.Periods), len(want), p.Periods)
			}
			for i := range want {
				checkPeriod(t, p.Periods[i], want[i])
			}
			checkPeriod(t, p.Total, wantTotal)
			if idle := r.Products[0]; idle.Total.PeakTotal != 0 || idle.Limit != 5 || idle.QPSLicensed != 100 {
				t.Fatalf("idle = %+v", idle)
			}
		})
	}
}

func checkPeriod(t *testing.T, got, want report.Period) {
	t.Helper()
	near := func(a, b float64) bool { d := a - b; return d < 1e-9 && d > -1e-9 }
	if !got.Start.Equal(want.Start) || !got.End.Equal(want.End) || got.PeakInstance != want.PeakInstance || got.PeakKeyFile != want.PeakKeyFile ||
		got.PeakTotal != want.PeakTotal || !near(got.AvgInstance, want.AvgInstance) || !near(got.AvgKeyFile, want.AvgKeyFile) ||
		got.AtLimit != want.AtLimit || got.Instances != want.Instances || got.Hosts != want.Hosts || got.Denied() != want.Denied() ||
		got.Denials[501] != want.Denials[501] {
		t.Errorf("period %s:\n got %+v\nwant %+v", want.Start.Format(time.RFC3339), got, want)
	}
}

// TestBuildSkipDistinct: without the distinct counts the figures are the
// same, and Instances and Hosts are 0.
func TestBuildSkipDistinct(t *testing.T) {
	lic := &license.License{ID: "lic-1", Products: []license.Product{{Subject: "ocr", InstanceSize: 2}}}
	// From the summaries kept, from them and a live hour, all live.
	for _, now := range []time.Time{min(180), min(120), min(65)} {
		s := openStore(t)
		twoHours(t, s)
		q := report.Query{From: min(0), To: min(120), By: report.ByHour, License: lic, Now: now}
		bare := q
		bare.SkipDistinct = true
		// The bare report first: the full one would keep the summaries
		// it reads.
		b, err := report.Build(ctx, s, bare)
		if err != nil {
			t.Fatal(err)
		}
		full, err := report.Build(ctx, s, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Products) != 1 || len(b.Products[0].Periods) != len(full.Products[0].Periods) {
			t.Fatalf("now %s: bare %+v, full %+v", now, b.Products, full.Products)
		}
		for i, p := range b.Products[0].Periods {
			want := full.Products[0].Periods[i]
			if i == 0 && want.Instances == 0 {
				t.Fatalf("now %s: the full report counts no instances in the first hour", now)
			}
			want.Instances, want.Hosts = 0, 0
			if !reflect.DeepEqual(p, want) {
				t.Errorf("now %s: period %d without distinct counts = %+v, want %+v", now, i, p, want)
			}
		}
	}
}
