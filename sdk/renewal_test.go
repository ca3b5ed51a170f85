package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
)

// TestAsyncVerdictBeforeStale: an async client heartbeats for twenty
// minutes of the fake clock, as often as the server asks (every 30 s).
// Most heartbeats are answered with the renewal alone; the client asks
// for a verdict once the one it holds is StaleAfter/4 old, so the verdict
// it holds is never older than that plus one heartbeat, far from stale,
// and Authorize answers ok throughout.
func TestAsyncVerdictBeforeStale(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	rec, url := e.recorder(r.URL)
	cfg := e.config("ocr", url)
	cfg.Async = true
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
	const beat = 30 * time.Second
	due := DefaultStaleAfter / 4
	signed, renewals := 0, 0
	oldest := time.Duration(0)
	for range 40 {
		e.site.Clock.Advance(beat)
		c.refresh(context.Background())
		if err := c.Authorize(context.Background()); err != nil {
			t.Fatalf("at %s: Authorize = %v", e.site.Clock.Now().Format(time.TimeOnly), err)
		}
		if strings.Contains(string(rec.answer(api.PathHeartbeat)), `"verdict":"`) {
			signed++
		} else {
			renewals++
		}
		oldest = max(oldest, e.site.Clock.Now().Sub(c.state.Load().refreshed))
	}
	if oldest > due+beat {
		t.Errorf("the verdict held grew %s old; want at most %s (StaleAfter/4 and one heartbeat)", oldest, due+beat)
	}
	// A verdict every fifth heartbeat: 8 of 40.
	if signed < 6 || signed > 10 || renewals < 30 {
		t.Errorf("%d heartbeats brought a verdict and %d the renewal alone; want one in five with a verdict", signed, renewals)
	}
	if c.Status().Refreshed.Before(e.site.Clock.Now().Add(-due - beat)) {
		t.Errorf("Status().Refreshed = %s", c.Status().Refreshed)
	}
}

// TestAsyncWakesForTheVerdict: with a StaleAfter shorter than the lease's
// heartbeat interval, the refresher still wakes when the verdict is due,
// not at the next heartbeat.
func TestAsyncWakesForTheVerdict(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	for _, tt := range []struct {
		name       string
		staleAfter time.Duration
		want       time.Duration
	}{
		{"default", DefaultStaleAfter, 30 * time.Second}, // the heartbeat comes first
		{"short-stale-after", 40 * time.Second, 10 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := e.config("ocr", r.URL)
			cfg.Async, cfg.StaleAfter, cfg.InstanceID = true, tt.staleAfter, "i-"+tt.name
			c := e.client(cfg)
			if got := c.nextRefresh(); got != tt.want {
				t.Errorf("nextRefresh = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestAsyncRenewalShare: a renewal's QPS share is spent on its word only
// when it is no larger than the share the verdict signed. A smaller one
// (another instance joined) applies at once; a larger one (an instance
// left) makes the client ask for a verdict at once, and the verdict
// brings it.
func TestAsyncRenewalShare(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", sitetest.Product("asr", 2, 100)).Start("")
	cfg := e.config("asr", r.URL)
	cfg.Async = true
	cfg.StaleAfter = 40 * time.Second // a verdict is due after 10 s
	c := e.client(cfg)
	rate := func() int64 {
		c.bucket.mu.Lock()
		defer c.bucket.mu.Unlock()
		return c.bucket.rate
	}
	if st := c.state.Load(); st.share != 100 || rate() != 100_000 {
		t.Fatalf("alone: share %v, rate %d", st.share, rate())
	}
	other := cfg
	other.InstanceID = "i-2"
	o := e.client(other) // now two share 100/s
	c.refresh(context.Background())
	if st := c.state.Load(); st.share != 100 || st.verdictDue || rate() != 50_000 {
		t.Fatalf("after a renewal offering 50: signed share %v, due %v, rate %d; want 100, false, 50000", st.share, st.verdictDue, rate())
	}
	e.site.Clock.Advance(cfg.StaleAfter / 4)
	c.refresh(context.Background()) // due: a verdict signing 50
	if st := c.state.Load(); st.share != 50 || rate() != 50_000 {
		t.Fatalf("after the verdict: share %v, rate %d", st.share, rate())
	}
	before := c.state.Load().refreshed
	e.site.Clock.Advance(time.Second)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	c.refresh(context.Background()) // the renewal offers 100
	deadline := time.Now().Add(5 * time.Second)
	for c.state.Load().share != 100 {
		if time.Now().After(deadline) {
			t.Fatalf("the signed share stayed %v after a renewal offered 100", c.state.Load().share)
		}
		time.Sleep(5 * time.Millisecond) // waiting for the refresher, not for time to pass
	}
	if st := c.state.Load(); !st.refreshed.After(before) || st.verdictDue || rate() != 100_000 {
		t.Errorf("the larger share came without a new verdict: %+v, rate %d", st, rate())
	}
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAsyncServerWithoutRenewals: a server older than renewals refuses a
// heartbeat's "verdict" field as an unknown field (602). The client takes
// the hint: it heartbeats again asking for a verdict, and from then on
// every heartbeat does, so the product keeps running.
func TestAsyncServerWithoutRenewals(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	cert, key := e.site.Client("app1")
	tlsCfg, err := pki.ClientTLSConfig(e.site.CA(), cert, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	t.Cleanup(hc.CloseIdleConnections)
	var refused, forwarded atomic.Int32
	url := e.tlsServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var fields map[string]any
		if json.Unmarshal(body, &fields) == nil {
			if _, ok := fields["verdict"]; ok {
				refused.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				io.WriteString(w, `{"code":602,"name":"request_malformed","message":"the body is not the JSON object expected (unknown field \"verdict\")","fix":"Send the request exactly as licensor produced it."}`)
				return
			}
		}
		forwarded.Add(1)
		out, _ := http.NewRequestWithContext(req.Context(), req.Method, r.URL+req.URL.RequestURI(), bytes.NewReader(body))
		resp, err := hc.Do(out)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	cfg := e.config("ocr", url)
	cfg.Async = true
	c := e.client(cfg)
	for range 5 {
		e.site.Clock.Advance(30 * time.Second)
		c.refresh(context.Background())
		if err := c.Authorize(context.Background()); err != nil {
			t.Fatalf("Authorize with a server older than renewals = %v", err)
		}
	}
	if refused.Load() != 1 {
		t.Errorf("%d heartbeats sent the verdict field to a server that refuses it; want only the first", refused.Load())
	}
	if !c.state.Load().refreshed.Equal(e.site.Clock.Now()) {
		t.Errorf("the last heartbeat brought no verdict: refreshed %s, now %s", c.state.Load().refreshed, e.site.Clock.Now())
	}
}
