package sdk

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

// TestStaleSaysHowLong: a stale verdict says its age as every span
// licensor prints does.
func TestStaleSaysHowLong(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	cfg := e.config("ocr", r.URL)
	cfg.Async = true
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.site.Clock.Advance(DefaultStaleAfter + time.Second)
	c.watch()
	err := c.Authorize(context.Background())
	if codes.Of(err) != codes.Stale || !strings.Contains(err.Error(), "last refreshed 10 minutes 1 second ago") {
		t.Fatalf("Authorize = %v", err)
	}
}
