package loadtest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
)

// The environment that makes the test binary a probe server process, as
// 'licensor bench-probe-server' is one: the probe mode, and the PKI
// directory whose server certificate it serves with.
const (
	probeChildMode = "LOADTEST_PROBE_CHILD_MODE"
	probeChildPKI  = "LOADTEST_PROBE_CHILD_PKI"
)

// TestMain runs the test binary as a probe server process when
// $LOADTEST_PROBE_CHILD_MODE says which; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv(probeChildMode); mode != "" {
		if err := serveProbeChild(Mode(mode), os.Getenv(probeChildPKI)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveProbeChild(mode Mode, dir string) error {
	st, err := pki.NewServerTLS(filepath.Join(dir, pki.CACertFile), filepath.Join(dir, pki.ServerCertFile), filepath.Join(dir, pki.ServerKeyFile), time.Now())
	if err != nil {
		return err
	}
	return ServeProbeProcess(context.Background(), mode, st.Config(), "127.0.0.1:0", os.Stdin, os.Stdout)
}

// probeChildren starts this test binary as probe server processes and
// keeps the commands, to check that each was stopped.
type probeChildren struct {
	dir string
	env []string // more environment for the child, to break it

	mu   sync.Mutex
	cmds []*exec.Cmd
}

func (pc *probeChildren) command(mode Mode) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), probeChildMode+"="+string(mode), probeChildPKI+"="+pc.dir)
	cmd.Env = append(cmd.Env, pc.env...)
	pc.mu.Lock()
	pc.cmds = append(pc.cmds, cmd)
	pc.mu.Unlock()
	return cmd
}

// checkStopped fails t unless every child started has exited and is gone.
func (pc *probeChildren) checkStopped(t *testing.T, want int) {
	t.Helper()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.cmds) != want {
		t.Errorf("%d probe processes started, want %d", len(pc.cmds), want)
	}
	for _, cmd := range pc.cmds {
		if cmd.Process == nil {
			continue // never started
		}
		if cmd.ProcessState == nil {
			t.Errorf("probe process %d was not waited for", cmd.Process.Pid)
			cmd.Process.Kill()
			continue
		}
		if err := syscall.Kill(cmd.Process.Pid, 0); err != syscall.ESRCH {
			t.Errorf("probe process %d is still there: %v", cmd.Process.Pid, err)
		}
	}
}

func TestProbe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	_, clientTLS, err := ThrowawayTLS(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name     string
		clients  int
		requests int
	}{
		{"one-client", 1, 20},
		{"four-clients", 4, 50},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pc := &probeChildren{dir: dir}
			p, err := Probe(context.Background(), ProbeConfig{Command: pc.command, ClientTLS: clientTLS, Clients: tt.clients, Requests: tt.requests})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []*Result{p.Trivial, p.Ed25519} {
				if r.Operations != tt.requests || r.Failed != 0 || len(r.Errors) != 0 || r.Answered() != tt.requests ||
					r.Clients != tt.clients || r.Product != "probe" || !strings.HasPrefix(r.Server, "https://127.0.0.1:") {
					t.Errorf("%s: %+v", r.Mode, r)
				}
				checkPercentiles(t, r)
			}
			if p.Trivial.Mode != ProbeTrivial || p.Ed25519.Mode != ProbeEd25519 || p.Trivial.Server == p.Ed25519.Server {
				t.Errorf("modes %q at %s, %q at %s", p.Trivial.Mode, p.Trivial.Server, p.Ed25519.Mode, p.Ed25519.Server)
			}
			pc.checkStopped(t, 2)
		})
	}
}

func TestProbeFailures(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	_, clientTLS, err := ThrowawayTLS(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// A probe process that cannot start (no PKI where it looks) is
	// reported with what it printed, and is not left behind.
	pc := &probeChildren{dir: filepath.Join(t.TempDir(), "none")}
	_, err = Probe(context.Background(), ProbeConfig{Command: pc.command, ClientTLS: clientTLS, Requests: 1})
	if err == nil || !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "ca.crt") {
		t.Errorf("Probe with a probe process that cannot start = %v", err)
	}
	pc.checkStopped(t, 1)
	// One whose binary does not exist.
	missing := func(Mode) *exec.Cmd { return exec.Command(filepath.Join(t.TempDir(), "no-such-licensor")) }
	if _, err := Probe(context.Background(), ProbeConfig{Command: missing, ClientTLS: clientTLS, Requests: 1}); err == nil {
		t.Error("Probe with a missing binary succeeded")
	}
	if _, err := Probe(context.Background(), ProbeConfig{Requests: 1}); codes.Of(err) != codes.InvalidArgument {
		t.Errorf("Probe without a command = %v", err)
	}
}

// TestProbeAnswerSizes holds the probe's answers to the size of a real
// server's: a heartbeat's renewal, and a signed verdict, for a bench
// client that holds the license in force.
func TestProbeAnswerSizes(t *testing.T) {
	s := newFakeSite(t)
	url := s.start()
	r, err := newRun(context.Background(), Config{Server: url, TLS: s.clientTLS("app"), Product: "ocr", Mode: Heartbeat, Clients: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	c := r.newClient(16)
	defer c.release(context.Background())
	_, verdict := c.p.post(context.Background(), api.PathAuthorize, c.request(false))
	_, renewal := c.p.post(context.Background(), api.PathHeartbeat, c.request(true))
	if strings.Contains(string(renewal), `"verdict"`) || !strings.Contains(string(verdict), `"verdict"`) {
		t.Fatalf("answers:\n%s\n%s", verdict, renewal)
	}
	for _, tt := range []struct {
		mode Mode
		real []byte
	}{{ProbeTrivial, renewal}, {ProbeEd25519, verdict}} {
		h, err := probeHandler(tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", api.PathHeartbeat, strings.NewReader(string(c.request(true)))))
		got, want := rec.Body.Len(), len(tt.real)
		if rec.Code != 200 || got < want*9/10 || got > want*11/10 {
			t.Errorf("%s answers %d bytes (status %d), a real server %d:\n%s\n%s", tt.mode, got, rec.Code, want, rec.Body, tt.real)
		}
	}
}
