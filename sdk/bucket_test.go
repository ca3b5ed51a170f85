package sdk

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

// TestAsyncQPSFirstShareLate starts an async client of a QPS product
// before its server listens, so the refiller is already running when the
// first QPS verdict sets the share: run with -race, the two goroutines
// must not race on the bucket, and the share must then be spent and
// counted as usual.
func TestAsyncQPSFirstShareLate(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := e.config("asr", "https://"+addr)
	cfg.Async = true
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); codes.Of(err) != codes.Connect {
		t.Fatalf("before the server listens: Authorize = %v, want connect", err)
	}
	// The refiller runs meanwhile; the server starts, and the refresher
	// is asked to try again at once (once only: a second request pending
	// would heartbeat, and hand the calls counted below to the server).
	e.site.NewServer("a", products()...).Start(addr)
	c.kick()
	deadline := time.Now().Add(5 * time.Second)
	for c.Authorize(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no verdict once the server listens: %v", c.Authorize(context.Background()))
		}
		time.Sleep(5 * time.Millisecond) // waiting for the refresher, not for time to pass
	}
	// One call was spent by the loop's last Authorize; spend more, up to
	// the share (100/s, a second's worth in the bucket), and see each one
	// counted by the refiller for the next heartbeat.
	taken := 1
	for range 50 {
		if c.Authorize(context.Background()) == nil {
			taken++
		}
	}
	if taken < 50 {
		t.Fatalf("only %d of 51 calls allowed with a share of 100/s", taken)
	}
	for c.bucket.spent.Load() < int64(taken) {
		if time.Now().After(deadline) {
			t.Fatalf("the refiller counted %d calls of %d", c.bucket.spent.Load(), taken)
		}
		time.Sleep(refillEvery) // waiting for the refiller
	}
	if got := c.bucket.spent.Load(); got != int64(taken) {
		t.Fatalf("the refiller counted %d calls, %d were taken", got, taken)
	}
}
