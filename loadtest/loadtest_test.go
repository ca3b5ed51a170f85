package loadtest

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/store"
)

func newFakeSite(t *testing.T) *site {
	now := time.Now().UTC().Truncate(time.Second)
	return newSite(t, clock.NewFake(now),
		product("ocr", 4, 0, now),
		product("asr", 4, 100, now), // QPS control: async mode only
	)
}

func checkPercentiles(t *testing.T, r *Result) {
	t.Helper()
	p50, p90, p99, top := r.Percentile(50), r.Percentile(90), r.Percentile(99), r.Percentile(100)
	if p50 <= 0 || p50 > p90 || p90 > p99 || p99 > top {
		t.Errorf("percentiles not monotonic: p50 %v p90 %v p99 %v max %v", p50, p90, p99, top)
	}
}

func errorCount(r *Result, c codes.Code) int {
	for _, e := range r.Errors {
		if e.Code == c {
			return e.Count
		}
	}
	return 0
}

func TestRunModes(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	for _, tt := range []struct {
		name    string
		mode    Mode
		product string
	}{
		{"cycle", Cycle, "ocr"},
		{"heartbeat", Heartbeat, "ocr"},
		{"authorize", Authorize, "ocr"},
		{"cycle-qps-product", Cycle, "asr"},
		{"authorize-qps-product", Authorize, "asr"},
		{"default-product", Cycle, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Run(context.Background(), Config{Server: url, TLS: s.clientTLS("app"), Product: tt.product, Mode: tt.mode, Clients: 4, Requests: 200})
			if err != nil {
				t.Fatal(err)
			}
			if r.Operations != 200 || r.Failed != 0 || len(r.Errors) != 0 || r.Answered() != 200 {
				t.Fatalf("operations %d, failed %d, answered %d, errors %+v", r.Operations, r.Failed, r.Answered(), r.Errors)
			}
			if r.Mode != tt.mode || r.Clients != 4 || r.Server != url || r.Product == "" || r.Duration <= 0 || r.OpsPerSecond() <= 0 {
				t.Errorf("result %+v", r)
			}
			checkPercentiles(t, r)
			if held := s.held(url); held["ocr"] != 0 || held["asr"] != 0 {
				t.Errorf("after the run the pool holds %v", held)
			}
		})
	}
}

func TestRunPoolFull(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	for _, mode := range []Mode{Heartbeat, Authorize} {
		t.Run(string(mode), func(t *testing.T) {
			// Six instances, four seats: two are refused.
			r, err := Run(context.Background(), Config{Server: url, TLS: s.clientTLS("app"), Product: "ocr", Mode: mode, Clients: 6, Requests: 200})
			if err != nil {
				t.Fatal(err)
			}
			full := errorCount(r, codes.InstanceLimit)
			if len(r.Errors) != 1 || full == 0 || r.Operations != 200 {
				t.Fatalf("operations %d, errors %+v; want 200 operations and only code 501", r.Operations, r.Errors)
			}
			switch mode {
			case Heartbeat:
				// The two registrations were refused before the clock
				// started; the four others renewed without a failure.
				if full != 2 || r.Failed != 0 {
					t.Errorf("heartbeat: %d refusals, %d failed operations; want 2 and 0", full, r.Failed)
				}
			case Authorize:
				// The two without a seat are refused on every try.
				if r.Failed != full || r.Failed == r.Operations {
					t.Errorf("authorize: %d failed of %d, %d refusals", r.Failed, r.Operations, full)
				}
			}
			checkPercentiles(t, r)
			if held := s.held(url); held["ocr"] != 0 {
				t.Errorf("after the run the pool holds %v", held)
			}
		})
	}
}

func TestRunEveryOperationRefused(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	// An admin certificate may not authorize: every operation is refused,
	// and the run still completes and says why.
	r, err := Run(context.Background(), Config{Server: url, TLS: s.clientTLS("ops"), Product: "ocr", Mode: Cycle, Clients: 2, Requests: 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Operations != 20 || r.Failed != 20 || errorCount(r, codes.RoleForbidden) != 20+2 { // 20 cycles, 2 releases
		t.Fatalf("operations %d, failed %d, errors %+v", r.Operations, r.Failed, r.Errors)
	}
}

func TestRunDuration(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	r, err := Run(context.Background(), Config{Server: url, TLS: s.clientTLS("app"), Product: "ocr", Mode: Heartbeat, Clients: 2, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// Each client starts at least one operation before the end.
	if r.Operations < 2 || r.Failed != 0 || r.Duration < 50*time.Millisecond {
		t.Fatalf("operations %d, failed %d, duration %v", r.Operations, r.Failed, r.Duration)
	}
}

func TestRunCancelled(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Run(ctx, Config{Server: url, TLS: s.clientTLS("app"), Product: "ocr", Clients: 2, Duration: time.Hour})
	if err == nil {
		t.Fatalf("a cancelled run returned %+v", r)
	}
}

func TestRunUnreachable(t *testing.T) {
	s := newFakeSite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r, err := Run(context.Background(), Config{Server: "https://" + addr, TLS: s.clientTLS("app"), Clients: 2, Requests: 10})
	if codes.Of(err) != codes.Connect || r != nil {
		t.Fatalf("Run against a closed port = %+v, %v; want code %d", r, err, codes.Connect)
	}
}

func TestRunRefusedBeforeStart(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	other := newSite(t, nil, product("ocr", 1, 0, time.Now()))
	tests := []struct {
		name string
		cfg  Config
		want codes.Code
	}{
		{"product-not-licensed", Config{Server: url, TLS: s.clientTLS("app"), Product: "vision", Requests: 1}, codes.ProductUnlicensed},
		{"other-site-ca", Config{Server: url, TLS: other.clientTLS("app"), Requests: 1}, codes.ServerCert},
		{"no-server", Config{TLS: s.clientTLS("app"), Requests: 1}, codes.InvalidArgument},
		{"http-url", Config{Server: "http://127.0.0.1:1", TLS: s.clientTLS("app"), Requests: 1}, codes.InvalidArgument},
		{"no-tls", Config{Server: url, Requests: 1}, codes.InvalidArgument},
		{"bad-mode", Config{Server: url, TLS: s.clientTLS("app"), Mode: "storm", Requests: 1}, codes.InvalidArgument},
		{"no-bound", Config{Server: url, TLS: s.clientTLS("app")}, codes.InvalidArgument},
		{"too-many-clients", Config{Server: url, TLS: s.clientTLS("app"), Clients: MaxClients + 1, Requests: 1}, codes.InvalidArgument},
		{"negative-warmup", Config{Server: url, TLS: s.clientTLS("app"), Requests: 1, Warmup: -time.Second}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Run(context.Background(), tt.cfg)
			if codes.Of(err) != tt.want {
				t.Fatalf("Run = %+v, %v; want code %d", r, err, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, x := range n {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		name string
		lat  []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"p0-is-min", ms(1, 2, 3), 0, time.Millisecond},
		{"median-of-four", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p90-of-100", ms(hundred...), 90, 90 * time.Millisecond},
		{"p99-of-100", ms(hundred...), 99, 99 * time.Millisecond},
		{"max", ms(hundred...), 100, 100 * time.Millisecond},
		{"above-100", ms(1, 2), 150, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Result{latencies: tt.lat}
			if got := r.Percentile(tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummaryJSON(t *testing.T) {
	r := &Result{Mode: Cycle, Server: "https://127.0.0.1:8443", Product: "ocr", Clients: 16, Operations: 3, Failed: 1,
		Duration: 2 * time.Second, latencies: []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond},
		Errors: []ErrorCount{{Code: codes.InstanceLimit, Count: 1}}, Steal: 0.025}
	b, err := json.Marshal(r.Summary())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"clients", "cpu_steal_percent", "duration_seconds", "errors", "latency_ms", "mode", "operations", "ops_per_second", "product", "server"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	lat := m["latency_ms"].(map[string]any)
	if lat["p50"] != 2.0 || lat["max"] != 4.0 || m["ops_per_second"] != 1.5 || m["cpu_steal_percent"] != 2.5 {
		t.Errorf("summary %s", b)
	}
	r.Steal = -1 // not known
	if b, _ := json.Marshal(r.Summary()); !strings.Contains(string(b), `"cpu_steal_percent":null`) {
		t.Errorf("steal not known: %s", b)
	}
	errs := m["errors"].([]any)
	if e := errs[0].(map[string]any); len(errs) != 1 || e["code"] != 501.0 || e["name"] != "instance_limit" || e["count"] != 1.0 {
		t.Errorf("errors %v", errs)
	}
	// No errors is an empty list, not null.
	b, _ = json.Marshal((&Result{}).Summary())
	if !strings.Contains(string(b), `"errors":[]`) {
		t.Errorf("empty summary %s", b)
	}
}

// TestRunSeveralServers: with more servers, the clients are spread over
// them in turn: two nodes on one PostgreSQL pool each serve part of the run.
func TestRunSeveralServers(t *testing.T) {
	s := newFakeSite(t)
	db, password := pgtest.WithoutPassword(t, pgtest.Database(t))
	s.cfg.Store, s.cfg.StorePassword = db, filepath.Join(s.dir, "pgpassword")
	if err := os.WriteFile(s.cfg.StorePassword, []byte(password), 0o600); err != nil {
		t.Fatal(err)
	}
	s.cfg.Node = "n1"
	a := s.start()
	s.cfg.Node = "n2"
	b := s.start()
	r, err := Run(context.Background(), Config{Server: a, Servers: []string{b}, TLS: s.clientTLS("app"), Product: "ocr", Mode: Cycle, Clients: 4, Requests: 200})
	if err != nil {
		t.Fatal(err)
	}
	if r.Operations != 200 || r.Failed != 0 || r.Server != a+","+b {
		t.Fatalf("result %+v", r)
	}
	st, err := storeopen.Open(context.Background(), storeopen.Setting{Store: db, PasswordFile: s.cfg.StorePassword, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	grants := map[string]int{}
	st.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindGrant {
			grants[e.Node]++
		}
		return nil
	})
	if grants["n1"] == 0 || grants["n2"] == 0 || grants["n1"]+grants["n2"] != 200 {
		t.Fatalf("grants by node %v; want the 200 spread over both", grants)
	}
}
