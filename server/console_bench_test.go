package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

// BenchmarkConsole measures the console's JSON, page by page, on a pool
// of 10,000 seats (9,900 instances, 100 key-file hosts) taken over the
// last month, with a month of churn and denials in the audit log. Each
// answer is a real HTTPS request by an admin client; the figure to hold
// is 100 ms per page.
func BenchmarkConsole(b *testing.B) {
	site := sitetest.New(b)
	srv := site.NewServer("a", sitetest.Product("ocr", 20000, 0), sitetest.Product("asr", 100, 50))
	fillMonth(b, srv, site.Clock.Now())
	r := srv.Start("")
	cert, key := site.Client("ops")
	cfg, err := pki.ClientTLSConfig(site.CA(), cert, key, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	b.Cleanup(tr.CloseIdleConnections)
	ops := &http.Client{Transport: tr, Timeout: time.Minute}
	get := func(path string) int {
		resp, err := ops.Get(r.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: HTTP %d", path, resp.StatusCode)
		}
		return int(n)
	}
	// The report engine summarises the month once, at the first report.
	get(server.PathConsoleHistory + "?range=month")
	// The history pages are cached for a minute: the clock moves on a
	// minute before each request that must not find its page cached.
	for _, page := range []struct {
		name, path string
		fresh      bool
	}{
		{"overview", server.PathConsoleOverview, false},
		{"seats", server.PathConsoleSeats, false},
		{"health", server.PathConsoleHealth, false},
		{"history-day", server.PathConsoleHistory + "?range=day", true},
		{"history-week", server.PathConsoleHistory + "?range=week", true},
		{"history-month", server.PathConsoleHistory + "?range=month", true},
		{"history-month-cached", server.PathConsoleHistory + "?range=month", false},
		{"codes", server.PathConsoleCodes, false},
	} {
		b.Run(page.name, func(b *testing.B) {
			size := 0
			for b.Loop() {
				if page.fresh {
					site.Clock.Advance(time.Minute)
				}
				size = get(page.path)
			}
			b.ReportMetric(float64(size), "bytes/page")
		})
	}
}

// fillMonth writes a month of a busy site into the server's store before
// it starts: 10,000 seats granted over the month and still held, 2,000
// instances that came and went, and 3,000 denials.
func fillMonth(b *testing.B, srv *sitetest.Server, now time.Time) {
	b.Helper()
	ctx := context.Background()
	st, err := storeopen.Open(ctx, storeopen.Setting{DataDir: srv.Config.DataDir})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := now.Add(-30 * 24 * time.Hour)
	const seats, churn, workers = 10000, 2000, 64
	at := func(i, n int) time.Time { return start.Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n)) }
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < seats; i += workers {
				req := store.AcquireRequest{Product: "ocr", InstanceID: fmt.Sprintf("i-%05d", i), Holder: fmt.Sprintf("host-%03d", i%300),
					Limit: 20000, TTL: 31 * 24 * time.Hour, Now: at(i, seats)}
				if i%100 == 0 {
					req.InstanceID, req.Kind, req.Holder = store.KeyFileSeat(fmt.Sprintf("%032x", i)), store.SeatKeyFile, "renewer"
				}
				if _, err := st.Acquire(ctx, req); err != nil {
					errs <- err
					return
				}
			}
			for i := w; i < churn; i += workers {
				t := at(i, churn)
				id := fmt.Sprintf("c-%05d", i)
				if _, err := st.Acquire(ctx, store.AcquireRequest{Product: "asr", InstanceID: id, Holder: "app1", Limit: 100, TTL: 31 * 24 * time.Hour, Now: t}); err != nil {
					errs <- err
					return
				}
				if _, err := st.Release(ctx, store.ReleaseRequest{Product: "asr", InstanceID: id, Reason: store.KindRelease, Actor: "app1", Now: t.Add(20 * time.Minute)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	const denials = 3000
	for i := 0; i < denials; i += 100 {
		var evs []store.Event
		for j := i; j < i+100; j++ {
			evs = append(evs, store.Event{Time: at(j, denials), Kind: store.KindDeny, Product: "asr", InstanceID: fmt.Sprintf("d-%d", j), Actor: "app2", Code: 501, Detail: "pool full"})
		}
		if err := st.Record(ctx, evs...); err != nil {
			b.Fatal(err)
		}
	}
}
