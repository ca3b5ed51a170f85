package loadtest

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

func TestCompare(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	dir := filepath.Join(t.TempDir(), "pki")
	_, probeTLS, err := ThrowawayTLS(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		mode     Mode
		ref      Mode
		requests int // per operation
	}{
		{Heartbeat, ProbeTrivial, 1},
		{Authorize, ProbeEd25519, 1},
		{Cycle, ProbeTrivial, 2},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			pc := &probeChildren{dir: dir}
			started := 0
			c, err := Compare(context.Background(), CompareConfig{
				Run: Config{Server: url, TLS: s.clientTLS("app"), Product: "ocr", Mode: tt.mode, Clients: 2, Requests: 30,
					Started: func(string, int) { started++ }},
				Probe:  ProbeConfig{Command: pc.command, ClientTLS: probeTLS},
				Rounds: 2,
			})
			if err != nil {
				t.Fatal(err)
			}
			pc.checkStopped(t, 3)
			if started != 1 {
				t.Errorf("Started called %d times, want once", started)
			}
			if c.Mode != tt.mode || c.Reference != tt.ref || len(c.Probes) != 3 || len(c.Servers) != 2 {
				t.Fatalf("comparison of %s against %s: %d probe runs, %d server runs", c.Mode, c.Reference, len(c.Probes), len(c.Servers))
			}
			for _, p := range c.Probes {
				if p.Mode != tt.ref || p.Operations != 30 || p.Failed != 0 || p.Clients != 2 {
					t.Errorf("probe run %+v", p)
				}
			}
			for i, r := range c.Servers {
				if r.Mode != tt.mode || r.Operations != 30 || r.Failed != 0 || r.Server != url {
					t.Errorf("server run %+v", r)
				}
				want := r.OpsPerSecond() * float64(tt.requests) * 2 / (c.Probes[i].OpsPerSecond() + c.Probes[i+1].OpsPerSecond())
				if got := c.Ratio(i); got <= 0 || got != want {
					t.Errorf("round %d ratio %v, want %v", i, got, want)
				}
				if p := c.P99Ratio(i); (p > 0) != (tt.requests == 1) {
					t.Errorf("round %d p99 ratio %v for %d requests an operation", i, p, tt.requests)
				}
			}
			sp := c.Ratios()
			if sp.Min > sp.Median || sp.Median > sp.Max || sp.Median != (c.Ratio(0)+c.Ratio(1))/2 {
				t.Errorf("spread %+v of %v and %v", sp, c.Ratio(0), c.Ratio(1))
			}
			b, err := json.Marshal(c.Summary())
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				Mode      string `json:"mode"`
				Reference string `json:"reference"`
				Rounds    []struct {
					ProbeBefore summaryMode `json:"probe_before"`
					Server      summaryMode `json:"server"`
					ProbeAfter  summaryMode `json:"probe_after"`
					Ratio       float64     `json:"ratio"`
					P99Ratio    *float64    `json:"p99_ratio"`
				} `json:"rounds"`
				Ratio    Spread  `json:"ratio"`
				P99Ratio *Spread `json:"p99_ratio"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.Mode != string(tt.mode) || got.Reference != string(tt.ref) || len(got.Rounds) != 2 || got.Ratio != sp ||
				(got.P99Ratio != nil) != (tt.requests == 1) || got.Rounds[1].ProbeAfter.Mode != string(tt.ref) ||
				got.Rounds[0].Server.Mode != string(tt.mode) || got.Rounds[0].Ratio != c.Ratio(0) ||
				(got.Rounds[0].P99Ratio != nil) != (tt.requests == 1) {
				t.Errorf("summary %s", b)
			}
		})
	}
}

// summaryMode is the part of a run's summary TestCompare reads back.
type summaryMode struct {
	Mode string `json:"mode"`
}

func TestCompareRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	_, probeTLS, err := ThrowawayTLS(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pc := &probeChildren{dir: dir}
	for _, tt := range []struct {
		name string
		cfg  CompareConfig
		want string
	}{
		{"no-rounds", CompareConfig{Probe: ProbeConfig{Command: pc.command, ClientTLS: probeTLS}}, "0 rounds"},
		{"too-many-rounds", CompareConfig{Probe: ProbeConfig{Command: pc.command, ClientTLS: probeTLS}, Rounds: MaxRounds + 1}, "rounds"},
		{"no-probe", CompareConfig{Rounds: 1}, "Command and ClientTLS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compare(context.Background(), tt.cfg)
			if codes.Of(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Compare = %v, want code %d and %q", err, codes.InvalidArgument, tt.want)
			}
		})
	}
	pc.checkStopped(t, 0)
	// A server that cannot be reached fails the comparison after the
	// first probe run, and every probe process is stopped.
	_, err = Compare(context.Background(), CompareConfig{
		Run:    Config{Server: "https://127.0.0.1:1", TLS: probeTLS, Mode: Heartbeat, Clients: 1, Requests: 1},
		Probe:  ProbeConfig{Command: pc.command, ClientTLS: probeTLS},
		Rounds: 1,
	})
	if err == nil {
		t.Error("Compare against a closed port succeeded")
	}
	pc.checkStopped(t, 1)
}
