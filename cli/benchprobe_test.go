package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/pki"
)

// runAsLicensor, set in the environment, makes the test binary run as
// licensor itself, with its arguments: 'licensor bench --probe' starts
// its own binary as the probe server, and under test that binary is this
// one.
const runAsLicensor = "CLI_TEST_RUN_AS_LICENSOR"

func TestMain(m *testing.M) {
	if os.Getenv(runAsLicensor) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := Run(ctx, os.Args[1:])
		stop()
		os.Exit(Report(os.Stderr, err))
	}
	os.Exit(m.Run())
}

// children returns the pids of this process's children that run this
// same binary, zombies included (Linux: /proc).
func children(t *testing.T) []int {
	t.Helper()
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []int
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		s := string(data)
		end := strings.LastIndexByte(s, ')')
		if end < 0 {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 || fields[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		pid, _ := strconv.Atoi(strings.Fields(s)[0])
		comm := s[strings.IndexByte(s, '(')+1 : end]
		if exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe")); exe == self || strings.HasPrefix(filepath.Base(self), comm) {
			out = append(out, pid)
		}
	}
	return out
}

func TestBenchProbe(t *testing.T) {
	t.Setenv(runAsLicensor, "1") // for the probe processes bench starts
	h := newHarness(t)
	h.clock.Set(time.Now()) // the throwaway certificates meet the real TLS clock
	dir := filepath.Join(h.dir, "pki")
	if _, err := pki.InitSite(dir, []string{"127.0.0.1"}, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if status := h.run("bench", "--probe", "--pki-dir", dir, "--requests", "5"); status != ExitFailure || !strings.Contains(h.stderr.String(), "code=58") {
		t.Errorf("--pki-dir without a client: exit %d\n%s", status, h.stderr)
	}
	if _, err := pki.IssueClient(dir, "app", pki.RoleInstance, 1, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"throwaway-pki", nil},
		{"throwaway-pki-one-client", []string{"--clients", "1"}},
		{"site-pki-dir", []string{"--pki-dir", dir}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clients := "2"
			if len(tt.args) == 2 && tt.args[0] == "--clients" {
				clients = tt.args[1]
			}
			args := append([]string{"bench", "--probe", "--clients", clients, "--requests", "20", "--warmup", "0s"}, tt.args...)
			out := h.mustRun(args...)
			for _, want := range []string{"mode=probe-trivial clients=" + clients, "mode=probe-ed25519 clients=" + clients, "operations   20  (", "product=probe"} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if strings.Count(out, "errors       none") != 2 {
				t.Errorf("errors:\n%s", out)
			}
			var p map[string]map[string]any
			if err := json.Unmarshal([]byte(h.mustRun(append(args, "--json")...)), &p); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"trivial", "ed25519"} {
				r := p[name]
				if r["operations"] != 20.0 || len(r["errors"].([]any)) != 0 || !strings.HasPrefix(r["server"].(string), "https://127.0.0.1:") {
					t.Errorf("--probe --json %s = %v", name, r)
				}
			}
			if p["trivial"]["server"] == p["ed25519"]["server"] {
				t.Errorf("both probes served at %s", p["trivial"]["server"])
			}
			if left := children(t); len(left) > 0 {
				t.Errorf("probe processes left behind: %v", left)
			}
		})
	}
}

// TestBenchProbeRounds: --probe-rounds brackets each server run between
// two probe runs of its mode's reference and prints the ratios.
func TestBenchProbeRounds(t *testing.T) {
	t.Setenv(runAsLicensor, "1") // for the probe processes bench starts
	h := newHarness(t)
	url, flags := benchServer(h)
	bench := func(extra ...string) []string {
		return append(append([]string{"bench", "--product", "ocr", "--warmup", "0s", "--clients", "2", "--requests", "20", "--probe-rounds", "2"}, flags...), extra...)
	}
	for _, tt := range []struct {
		mode, ref string
		p99       bool
	}{{"heartbeat", "probe-trivial", true}, {"authorize", "probe-ed25519", true}, {"cycle", "probe-trivial", false}} {
		t.Run(tt.mode, func(t *testing.T) {
			out := h.mustRun(bench("--mode", tt.mode)...)
			for _, want := range []string{
				"licensor bench: mode=" + tt.mode + " against " + tt.ref,
				", 2 rounds, clients=2 duration=",
				" server=" + url + " product=ocr\n",
				"\n  round 1   probe ", "\n  round 2   probe ",
				"\n  ratio     median ",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
			if got := strings.Count(out, "errors none"); got != 2 {
				t.Errorf("%d rounds without errors, want 2:\n%s", got, out)
			}
			if strings.Contains(out, "p99 ratio median") != tt.p99 || strings.Contains(out, "in requests: 2 per operation") == tt.p99 {
				t.Errorf("p99 ratio printed for %s: %v\n%s", tt.mode, !tt.p99, out)
			}
			if left := children(t); len(left) > 0 {
				t.Errorf("probe processes left behind: %v", left)
			}
		})
	}
	var c struct {
		Mode      string `json:"mode"`
		Reference string `json:"reference"`
		Rounds    []struct {
			Ratio float64 `json:"ratio"`
		} `json:"rounds"`
		Ratio struct {
			Median, Min, Max float64
		} `json:"ratio"`
		P99Ratio *struct{ Median float64 } `json:"p99_ratio"`
	}
	out := h.mustRun(bench("--mode", "heartbeat", "--json")...)
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if c.Mode != "heartbeat" || c.Reference != "probe-trivial" || len(c.Rounds) != 2 || c.Rounds[0].Ratio <= 0 ||
		c.Ratio.Min > c.Ratio.Median || c.Ratio.Median > c.Ratio.Max || c.P99Ratio == nil || c.P99Ratio.Median <= 0 {
		t.Errorf("--json = %s", out)
	}
}

// TestBenchProbeServer: the probe server's own mistakes are usage errors,
// and it is left out of the overview and of completion.
func TestBenchProbeServer(t *testing.T) {
	h := newHarness(t)
	for _, args := range [][]string{
		{benchProbeServer},
		{benchProbeServer, "--mode", "cycle", "--ca", "a", "--cert", "b", "--key", "c"},
		{benchProbeServer, "--mode", "probe-trivial"},
		{benchProbeServer, "--mode", "probe-trivial", "--ca", "a", "--cert", "b", "--key", "c", "extra"},
	} {
		if status := h.run(args...); status != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, status, ExitUsage, h.stderr)
		}
	}
	if status := h.run(benchProbeServer, "--mode", "probe-trivial", "--ca", "$DIR/none.crt", "--cert", "b", "--key", "c"); status != ExitFailure {
		t.Errorf("missing files: exit %d\n%s", status, h.stderr)
	}
	if help := h.mustRun("help", benchProbeServer); !strings.HasPrefix(help, "Usage: licensor "+benchProbeServer) {
		t.Errorf("help:\n%s", help)
	}
	if out := h.mustRun("help"); strings.Contains(out, benchProbeServer) {
		t.Errorf("'licensor help' lists %s:\n%s", benchProbeServer, out)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		if out := h.mustRun("completion", sh); strings.Contains(out, benchProbeServer) {
			t.Errorf("%s completion offers %s", sh, benchProbeServer)
		}
	}
}
