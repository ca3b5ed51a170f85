package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/whitelist"
)

// serving runs fn (e.serve or e.serveWhitelist) until the test ends and
// returns the address it listens on.
func serving(t *testing.T, fn func(ctx context.Context, ready func(string)) error) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- fn(ctx, func(a string) { addrc <- a }) }()
	select {
	case a := <-addrc:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve: %v", err)
			}
		})
		return a
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	return ""
}

// presented is the serial of the certificate a server presents to a new
// connection.
func presented(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	cfg = cfg.Clone()
	cfg.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// awaitSerial waits for SIGHUP, which is handled asynchronously, to make
// the server present a certificate other than old.
func awaitSerial(t *testing.T, addr string, cfg *tls.Config, old string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for presented(t, addr, cfg) == old {
		if time.Now().After(deadline) {
			t.Fatal("after SIGHUP the server still presents the certificate from before")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSIGHUPReloadsTLS: after 'licensor pki server' reissues the
// certificate, SIGHUP makes 'licensor serve' and 'licensor vendor serve'
// present the new one, and a keep-alive connection opened before goes on.
func TestSIGHUPReloadsTLS(t *testing.T) {
	t.Run("serve", func(t *testing.T) {
		h := newHarness(t)
		h.clock.Set(time.Now()) // TLS checks certificates against the real clock
		var q quickstartFiles
		if err := json.Unmarshal([]byte(h.mustRun("quickstart", "--dir", "$DIR/qs", "--listen", "127.0.0.1:0", "--setup-only", "--json")), &q); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadServerConfig(q.ServerConfig)
		if err != nil {
			t.Fatal(err)
		}
		env := *h.env
		logs := &syncBuf{}
		env.Stderr = logs
		addr := serving(t, func(ctx context.Context, ready func(string)) error { return env.serve(ctx, cfg, ready) })

		clientCfg, err := pki.ClientTLSConfig(q.CA, q.AdminCert, q.AdminKey, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: clientCfg}
		defer tr.CloseIdleConnections()
		keepAlive := &http.Client{Transport: tr}
		status := func() *tls.ConnectionState {
			resp, err := keepAlive.Get("https://" + addr + "/healthz")
			if err != nil {
				t.Fatalf("the keep-alive connection: %v", err)
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, resp.Body)
			return resp.TLS
		}
		before := status().PeerCertificates[0].SerialNumber.String()

		h.mustRun("pki", "server", "--dir", filepath.Dir(cfg.TLS.Cert), "--hosts", "127.0.0.1")
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		awaitSerial(t, addr, clientCfg, before)
		if got := status().PeerCertificates[0].SerialNumber.String(); got != before {
			t.Errorf("the keep-alive connection now shows certificate %s: it was not the one opened before", got)
		}
	})

	t.Run("vendor-serve", func(t *testing.T) {
		h := newHarness(t)
		now := time.Now()
		h.clock.Set(now)
		h.mustRun("keys", "generate", "--out", "$DIR/vendor")
		site, err := pki.InitSite(filepath.Join(h.dir, "pki"), []string{"127.0.0.1"}, now)
		if err != nil {
			t.Fatal(err)
		}
		cfg := whitelist.Default()
		cfg.Listen, cfg.DataDir, cfg.VendorKey = "127.0.0.1:0", filepath.Join(h.dir, "wl"), filepath.Join(h.dir, "vendor", "vendor.key")
		cfg.TLS = whitelist.TLSConfig{Cert: site.ServerCert, Key: site.ServerKey}
		env := *h.env
		env.Stderr = io.Discard
		addr := serving(t, func(ctx context.Context, ready func(string)) error { return env.serveWhitelist(ctx, cfg, ready) })

		pool, err := pki.LoadCertPool(site.CACert)
		if err != nil {
			t.Fatal(err)
		}
		clientCfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		before := presented(t, addr, clientCfg)
		h.mustRun("pki", "server", "--dir", "$DIR/pki", "--hosts", "127.0.0.1")
		// Without a handler, SIGHUP would end the test binary.
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		awaitSerial(t, addr, clientCfg, before)
	})
}

// TestServeLogFile: with "log_file" the server appends its log there, not
// to standard error; SIGHUP after logrotate's rename reopens it; and the
// doctor's --log reads it.
func TestServeLogFile(t *testing.T) {
	h := newHarness(t)
	h.clock.Set(time.Now())
	var q quickstartFiles
	if err := json.Unmarshal([]byte(h.mustRun("quickstart", "--dir", "$DIR/qs", "--listen", "127.0.0.1:0", "--setup-only", "--json")), &q); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadServerConfig(q.ServerConfig)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(h.dir, "licensor.log")
	cfg.LogFile = logPath
	env := *h.env
	stderr := &syncBuf{}
	env.Stderr = stderr
	ctx, cancel := context.WithCancel(context.Background())
	addrc, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- env.serve(ctx, cfg, func(a string) { addrc <- a }) }()
	var url string
	select {
	case a := <-addrc:
		url = "https://" + a
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	defer func() {
		cancel()
		<-done
	}()
	// An instance certificate may not read the pool: a line with code 515.
	refused := func() {
		t.Helper()
		if status := h.run("status", "--server", url, "--ca", q.CA, "--cert", q.ClientCert, "--key", q.ClientKey); status != ExitFailure {
			t.Fatalf("status with an instance certificate: exit %d", status)
		}
	}
	waitFor := func(path, want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never held %q:\n%s", path, want, b)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	refused()
	waitFor(logPath, "code=515")

	// logrotate: rename, then SIGHUP.
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(logPath, "msg=reload-tls")
	refused()
	waitFor(logPath, "code=515")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
	done <- nil // for the deferred receive

	old, _ := os.ReadFile(logPath + ".1")
	if !strings.Contains(string(old), "msg=serving") || strings.Contains(string(old), "reload-tls") {
		t.Errorf("the rotated file:\n%s", old)
	}
	stderr.mu.Lock()
	onStderr := stderr.b.String()
	stderr.mu.Unlock()
	if s := onStderr; strings.Contains(s, "msg=") {
		t.Errorf("log lines on standard error with log_file set:\n%s", s)
	}
	out := h.mustRun("doctor", "--log", logPath)
	if !strings.Contains(out, "code=515 role_forbidden ×1") || !strings.Contains(out, logPath) {
		t.Errorf("doctor --log:\n%s", out)
	}
}

// TestDoctorJournal: --journal scans a unit's journal, or says that it
// cannot when journalctl is missing.
func TestDoctorJournal(t *testing.T) {
	h := newHarness(t)
	out := h.mustRun("doctor", "--journal", "licensor-doctor-test-no-such-unit")
	if !strings.Contains(out, "log-scan") || !strings.Contains(out, "the journal of licensor-doctor-test-no-such-unit") && !strings.Contains(out, "journalctl is not installed") {
		t.Errorf("doctor --journal:\n%s", out)
	}
	if status := h.run("doctor", "--journal", "licensor", "--since", "0s"); status != ExitUsage {
		t.Errorf("--since 0s: exit %d, want %d", status, ExitUsage)
	}
}
