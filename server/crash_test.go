package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
	"github.com/licensor/licensor/store/sqlite"
)

// crashDirEnv names the site directory a child test process serves.
const crashDirEnv = "LICENSOR_TEST_CRASH_SITE"

// TestMain runs the test binary as the server process that
// TestKillNineLosesNothing kills, when $LICENSOR_TEST_CRASH_SITE names a
// site: it serves it on loopback, writes its address beside it, and runs
// until it is killed. Otherwise it runs the tests.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		if err := serveCrashSite(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func serveCrashSite(dir string) error {
	cfg := siteConfig(dir)
	st, err := storeopen.Open(context.Background(), storeopen.Setting{DataDir: cfg.DataDir})
	if err != nil {
		return err
	}
	srv, err := New(cfg, Options{Clock: clock.System, Logger: slog.New(slog.DiscardHandler),
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return fakeHost("auth-01"), nil }, Store: st})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "addr.tmp"), []byte(ln.Addr().String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, "addr.tmp"), filepath.Join(dir, "addr")); err != nil {
		return err
	}
	return srv.Run(context.Background(), ln)
}

// siteConfig is newSite's configuration for the site in dir.
func siteConfig(dir string) Config {
	cfg := Default()
	cfg.Listen = "127.0.0.1:0"
	for _, p := range []*string{&cfg.License, &cfg.VendorPublicKey, &cfg.DataDir, &cfg.TLS.CA, &cfg.TLS.Cert, &cfg.TLS.Key} {
		*p = filepath.Join(dir, *p)
	}
	return cfg
}

// crashServer is a server in a child process.
type crashServer struct {
	cmd *exec.Cmd
	url string
}

func startCrashServer(t *testing.T, dir string) *crashServer {
	t.Helper()
	os.Remove(filepath.Join(dir, "addr"))
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// Wait for the child to write its address (it is a new process: its
	// start takes what a start takes, the test bounds it at a minute).
	deadline := time.Now().Add(time.Minute)
	for {
		addr, err := os.ReadFile(filepath.Join(dir, "addr"))
		if err == nil {
			return &crashServer{cmd: cmd, url: "https://" + string(addr)}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server process did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (c *crashServer) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.cmd.Wait()
}

// TestKillNineLosesNothing kills the server with SIGKILL while instances
// register and release in a loop, restarts it, and checks that every
// change an answer reported survived: no seat answered "released" comes
// back, every seat granted and not released is held, and the audit log
// holds an event for each.
func TestKillNineLosesNothing(t *testing.T) {
	s := newSite(t, license.Product{Subject: "ocr", InstanceSize: 1000, NotBefore: t0.Add(-time.Hour), NotAfter: t0.AddDate(0, 1, 0)})
	app, ops := s.client("app1"), s.client("ops")
	const rounds, workers, cyclesBeforeKill = 3, 8, 200
	granted := map[string]bool{}     // answered 200 to authorize
	releaseSent := map[string]bool{} // a release was sent
	released := map[string]bool{}    // answered "released": true
	var mu sync.Mutex
	for round := range rounds {
		srv := startCrashServer(t, s.dir)
		var done sync.WaitGroup
		var cycles sync.WaitGroup
		cycles.Add(cyclesBeforeKill)
		var counted int
		stop := make(chan struct{})
		for w := range workers {
			done.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					id := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					if !crashCall(app, srv.url+api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: id}, `"code":0`) {
						return
					}
					mu.Lock()
					granted[id], releaseSent[id] = true, true
					mu.Unlock()
					if !crashCall(app, srv.url+api.PathRelease, api.InstanceRequest{Product: "ocr", InstanceID: id}, `"released":true`) {
						return
					}
					mu.Lock()
					released[id] = true
					if counted < cyclesBeforeKill {
						counted++
						cycles.Done()
					}
					mu.Unlock()
				}
			})
		}
		cycles.Wait()
		srv.kill9(t)
		close(stop)
		done.Wait()
	}

	srv := startCrashServer(t, s.dir)
	var list InstancesBody
	a := call(t, ops, "GET", srv.url+api.PathInstances+"?product=ocr", nil)
	a.decode(t, &list)
	held := map[string]bool{}
	for _, l := range list.Products[0].Instances {
		held[l.InstanceID] = true
	}
	for id := range released {
		if held[id] {
			t.Errorf("%s was answered released, and holds a seat after kill -9", id)
		}
	}
	// A grant answered and never released holds its seat. (A release
	// that reached the server before the kill may have been committed
	// without an answer: only changes answered must be kept.)
	for id := range granted {
		if !released[id] && !held[id] && !releaseSent[id] {
			t.Errorf("%s was granted, never released, and holds no seat after kill -9", id)
		}
	}
	srv.kill9(t)

	st, err := sqlite.Open(filepath.Join(s.dir, "data", StoreFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events := map[string]map[string]bool{}
	var v store.Verifier
	err = st.Audit(context.Background(), 0, func(e store.Event) error {
		if events[e.Kind] == nil {
			events[e.Kind] = map[string]bool{}
		}
		events[e.Kind][e.InstanceID] = true
		return v.Check(e)
	})
	if err != nil {
		t.Fatalf("audit chain after kill -9: %v", err)
	}
	lost := 0
	for id := range granted {
		if !events[store.KindGrant][id] {
			lost++
			t.Errorf("the grant of %s was answered and has no audit event", id)
		}
	}
	for id := range released {
		if !events[store.KindRelease][id] {
			lost++
			t.Errorf("the release of %s was answered and has no audit event", id)
		}
	}
	if len(released) < rounds*cyclesBeforeKill {
		t.Fatalf("only %d releases answered over %d rounds", len(released), rounds)
	}
	t.Logf("%d grants and %d releases answered over %d kills; %d lost", len(granted), len(released), rounds, lost)
}

// crashCall posts body and reports whether the answer was 200 and holds
// want; false once the server is gone.
func crashCall(c *http.Client, url string, body api.InstanceRequest, want string) bool {
	data := fmt.Sprintf(`{"product":%q,"instance_id":%q}`, body.Product, body.InstanceID)
	resp, err := c.Post(url, "application/json", strings.NewReader(data))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return err == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(b), want)
}
