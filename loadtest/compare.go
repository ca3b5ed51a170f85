package loadtest

import (
	"context"
	"slices"

	"github.com/licensor/licensor/codes"
)

// A comparison reads a server against the probe that is its mode's
// reference, measured in the same run. This machine's speed drifts by
// tens of percent within minutes, so one probe run and one server run
// taken a minute apart can disagree by more than the server's own cost:
// Compare brackets every server run between two probe runs (P S P S … P)
// and reads each against the mean of the two beside it, so that a drift
// during a round moves both sides of its ratio alike.

// Reference is the probe a mode is read against: probe-ed25519 for
// authorize, whose every answer is a signed verdict; probe-trivial for
// heartbeat and cycle.
func Reference(m Mode) Mode {
	if m == Authorize {
		return ProbeEd25519
	}
	return ProbeTrivial
}

// RequestsPerOp is how many requests one of mode's operations makes: a
// cycle registers and releases, so its throughput is read against the
// probe's in requests.
func RequestsPerOp(m Mode) int {
	if m == Cycle {
		return 2
	}
	return 1
}

// CompareConfig is a comparison of Rounds server runs (Run's Config)
// with the probe (Probe's Command and ClientTLS; Run's clients, duration,
// warmup and timeout are used for both).
type CompareConfig struct {
	Run    Config
	Probe  ProbeConfig
	Rounds int
}

// MaxRounds bounds a comparison, which takes 2×Rounds+1 runs.
const MaxRounds = 20

// Comparison is what Compare measured.
type Comparison struct {
	Mode      Mode // the server's
	Reference Mode // the probe's
	// Probes holds Rounds+1 probe runs, Servers Rounds server runs:
	// Servers[i] ran between Probes[i] and Probes[i+1].
	Probes  []*Result
	Servers []*Result
}

// Compare measures the server and its reference probe in turn.
func Compare(ctx context.Context, cfg CompareConfig) (*Comparison, error) {
	if cfg.Rounds < 1 || cfg.Rounds > MaxRounds {
		return nil, codes.Errorf(codes.InvalidArgument, "%d rounds: want 1 to %d", cfg.Rounds, MaxRounds)
	}
	p := cfg.Probe
	p.Clients, p.Duration, p.Requests, p.Warmup, p.Timeout = cfg.Run.Clients, cfg.Run.Duration, cfg.Run.Requests, cfg.Run.Warmup, cfg.Run.Timeout
	if err := p.prepare(); err != nil {
		return nil, err
	}
	c := &Comparison{Mode: cfg.Run.Mode, Reference: Reference(cfg.Run.Mode)}
	probe := func() error {
		r, err := probeOne(ctx, p, c.Reference)
		if err == nil {
			c.Probes = append(c.Probes, r)
		}
		return err
	}
	if err := probe(); err != nil {
		return nil, err
	}
	for range cfg.Rounds {
		r, err := Run(ctx, cfg.Run)
		if err != nil {
			return nil, err
		}
		c.Servers = append(c.Servers, r)
		// Every run after the first registers again: a Started callback
		// (the seats warning) has said its piece.
		cfg.Run.Started = nil
		if err := probe(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Ratio is round i's throughput against the probe's, in requests: the
// server's requests per second over the mean of the probe runs before
// and after it.
func (c *Comparison) Ratio(i int) float64 {
	ref := (c.Probes[i].OpsPerSecond() + c.Probes[i+1].OpsPerSecond()) / 2
	if ref == 0 {
		return 0
	}
	return c.Servers[i].OpsPerSecond() * float64(RequestsPerOp(c.Mode)) / ref
}

// P99Ratio is round i's 99th-percentile latency over the mean of the
// probe runs' beside it; 0 for a cycle, whose operation is two requests
// and has no single-request latency to compare.
func (c *Comparison) P99Ratio(i int) float64 {
	if !c.HasP99() {
		return 0
	}
	ref := (c.Probes[i].Percentile(99) + c.Probes[i+1].Percentile(99)) / 2
	if ref == 0 {
		return 0
	}
	return float64(c.Servers[i].Percentile(99)) / float64(ref)
}

// HasP99 reports whether the mode's latency compares with the probe's:
// an operation of one request does, a cycle's two do not.
func (c *Comparison) HasP99() bool { return RequestsPerOp(c.Mode) == 1 }

// Spread is the median and the range of some rounds' figures.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// spreadOf is the Spread of f over the rounds.
func (c *Comparison) spreadOf(f func(int) float64) Spread {
	v := make([]float64, len(c.Servers))
	for i := range v {
		v[i] = f(i)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return Spread{}
	}
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Spread{Median: m, Min: v[0], Max: v[len(v)-1]}
}

// Ratios is the spread of the rounds' throughput ratios.
func (c *Comparison) Ratios() Spread { return c.spreadOf(c.Ratio) }

// P99Ratios is the spread of the rounds' latency ratios (zero for a cycle).
func (c *Comparison) P99Ratios() Spread { return c.spreadOf(c.P99Ratio) }

// ComparisonSummary is a comparison with stable JSON keys.
type ComparisonSummary struct {
	Mode      Mode           `json:"mode"`
	Reference Mode           `json:"reference"`
	Rounds    []RoundSummary `json:"rounds"`
	Ratio     Spread         `json:"ratio"`
	P99Ratio  *Spread        `json:"p99_ratio,omitempty"`
}

// RoundSummary is one round: the server's run, the probe runs either
// side of it, and the ratios.
type RoundSummary struct {
	ProbeBefore Summary  `json:"probe_before"`
	Server      Summary  `json:"server"`
	ProbeAfter  Summary  `json:"probe_after"`
	Ratio       float64  `json:"ratio"`
	P99Ratio    *float64 `json:"p99_ratio,omitempty"`
}

// Summary is c with stable JSON keys.
func (c *Comparison) Summary() ComparisonSummary {
	s := ComparisonSummary{Mode: c.Mode, Reference: c.Reference, Ratio: c.Ratios()}
	single := c.HasP99()
	if single {
		p := c.P99Ratios()
		s.P99Ratio = &p
	}
	for i, r := range c.Servers {
		rs := RoundSummary{ProbeBefore: c.Probes[i].Summary(), Server: r.Summary(), ProbeAfter: c.Probes[i+1].Summary(), Ratio: c.Ratio(i)}
		if single {
			p := c.P99Ratio(i)
			rs.P99Ratio = &p
		}
		s.Rounds = append(s.Rounds, rs)
	}
	return s
}
