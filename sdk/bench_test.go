package sdk

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/license"
)

func benchClient(b *testing.B, async bool, p license.Product) *Client {
	b.Helper()
	site := sitetest.New(b)
	r := site.NewServer("a", p).Start("")
	cert, key := site.Client("app1")
	cfg := Config{Servers: []string{r.URL}, CAFile: site.CA(), CertFile: cert, KeyFile: key, VendorKeyFile: site.VendorPubFile(),
		Product: p.Subject, InstanceID: "bench", Async: async, Clock: site.Clock, Logger: slog.New(slog.DiscardHandler)}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if err := c.Authorize(context.Background()); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkAuthorizeAsync is the hot path: an answer from memory. Run it
// with -cpu 1,2 to see parallel callers.
func BenchmarkAuthorizeAsync(b *testing.B) {
	c := benchClient(b, true, sitetest.Product("ocr", 10, 0))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.Authorize(ctx) != nil {
				b.Error("denied")
				return
			}
		}
	})
}

// BenchmarkAuthorizeAsyncQPS is the hot path with QPS control: each call
// spends a token from the local share (a call past the share is refused
// just as fast).
func BenchmarkAuthorizeAsyncQPS(b *testing.B) {
	c := benchClient(b, true, sitetest.Product("ocr", 10, license.MaxQPS))
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Authorize(ctx)
		}
	})
}

// BenchmarkAuthorizeSync is one round trip over mutual TLS with
// keep-alive, the verdict checked along the chain; it reports the median
// and the 99th percentile.
func BenchmarkAuthorizeSync(b *testing.B) {
	c := benchClient(b, false, sitetest.Product("ocr", 10, 0))
	ctx := context.Background()
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := c.Authorize(ctx); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkFailover kills the server holding the lease and measures, with
// the default probe interval, how long until the verdict was refreshed by
// the next server. Each iteration is one failover.
func BenchmarkFailover(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		site := sitetest.New(b)
		p := sitetest.Product("ocr", 10, 0)
		first := site.NewServer("a", p).Start("")
		second := site.NewServer("b", p).Start("")
		cert, key := site.Client("app1")
		c, err := New(Config{Servers: []string{first.URL, second.URL}, CAFile: site.CA(), CertFile: cert, KeyFile: key,
			VendorKeyFile: site.VendorPubFile(), Product: "ocr", InstanceID: "bench", Async: true, Clock: site.Clock,
			Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		killed := time.Now()
		first.Kill()
		for c.Status().Server != second.URL {
			time.Sleep(time.Millisecond) // polling the refresher
		}
		took := time.Since(killed)
		b.StopTimer()
		total += took
		if c.Authorize(context.Background()) != nil {
			b.Fatal("denied after failover")
		}
		c.Close()
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "failover-ms")
}
