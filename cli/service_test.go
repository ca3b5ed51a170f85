package cli

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/jsonconfig"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
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

// uncommented is an example with its commented-out settings turned on:
// the lines that are a key and its value after "//".
func uncommented(t *testing.T, data []byte) (string, int) {
	t.Helper()
	setting := regexp.MustCompile(`(?m)^(\s*)// ("[a-z_]+": .*)$`)
	n := len(setting.FindAll(data, -1))
	return setting.ReplaceAllString(string(data), "$1$2"), n
}

// TestExampleConfigs: the shipped examples parse and validate with the
// loaders 'licensor serve' and 'licensor vendor serve' use, as they are and
// with every setting they leave commented out turned on.
func TestExampleConfigs(t *testing.T) {
	dir := filepath.Join("..", "examples", "config")
	for _, tt := range []struct {
		file string
		load func(path string) error
	}{
		{"server.json", func(p string) error { _, err := loadServerConfig(p); return err }},
		{"vendor.json", func(p string) error { _, err := loadWhitelistConfig(p); return err }},
	} {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if err := tt.load(path); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			on, n := uncommented(t, data)
			if tt.file == "server.json" && n < 5 {
				t.Fatalf("only %d commented-out settings found in %s", n, path)
			}
			tmp := filepath.Join(t.TempDir(), tt.file)
			os.WriteFile(tmp, []byte(on), 0o644)
			if err := tt.load(tmp); err != nil {
				t.Fatalf("%s with its %d commented-out settings on: %v", path, n, err)
			}
		})
	}
	// The server example sets every key the server knows, or shows it
	// commented out.
	data, _ := os.ReadFile(filepath.Join(dir, "server.json"))
	on, _ := uncommented(t, data)
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(jsonconfig.StripComments([]byte(on)), &keys); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(server.Default())
	var all map[string]json.RawMessage
	json.Unmarshal(b, &all)
	for k := range all {
		if _, ok := keys[k]; !ok {
			t.Errorf("examples/config/server.json does not show %q", k)
		}
	}
}

// TestCheckConfig: --check-config loads every file a configuration names,
// prints each with what it found, and exits 1 with the code and fix of
// each that does not load, without serving.
func TestCheckConfig(t *testing.T) {
	t.Run("serve", func(t *testing.T) {
		h := newHarness(t)
		h.clock.Set(time.Now())
		var q quickstartFiles
		if err := json.Unmarshal([]byte(h.mustRun("quickstart", "--dir", "$DIR/qs", "--listen", "127.0.0.1:0", "--setup-only", "--json")), &q); err != nil {
			t.Fatal(err)
		}
		out := h.mustRun("serve", "--check-config", "--config", q.ServerConfig)
		for _, want := range []string{"ok   configuration      " + q.ServerConfig, "ok   vendor public key  " + q.VendorPublicKey,
			"ok   license            " + q.License, "signature good", "ok   server key         " + q.ServerPrivateKey,
			"ok   tls", "certificate for auth-01, localhost, 127.0.0.1, ::1 until", "ok   store"} {
			if !strings.Contains(out, want) {
				t.Errorf("--check-config lacks %q:\n%s", want, out)
			}
		}
		cfg, err := loadServerConfig(q.ServerConfig)
		if err != nil {
			t.Fatal(err)
		}
		// Break two files: both are reported, each with its code and fix.
		os.Rename(q.ServerPrivateKey, q.ServerPrivateKey+".away")
		os.WriteFile(cfg.TLS.Cert, []byte("not a certificate\n"), 0o644)
		if status := h.run("serve", "--check-config", "--config", q.ServerConfig); status != ExitFailure {
			t.Fatalf("exit %d, want %d", status, ExitFailure)
		}
		out = h.stdout.String()
		for _, want := range []string{"FAIL server key", tag(codes.FileMissing), "activation-request", "FAIL tls", tag(codes.ServerCert), "fix: ", "ok   license"} {
			if !strings.Contains(out, want) {
				t.Errorf("--check-config of broken files lacks %q:\n%s", want, out)
			}
		}
		// A configuration that does not parse.
		bad := filepath.Join(h.dir, "bad.json")
		os.WriteFile(bad, []byte(`{"listne": ":8443"}`), 0o644)
		if status := h.run("serve", "--check-config", "--config", bad); status != ExitFailure || !strings.Contains(h.stderr.String(), tag(codes.ConfigInvalid)) {
			t.Fatalf("a bad configuration: exit %d\n%s", status, h.stderr)
		}
	})
	t.Run("vendor-serve", func(t *testing.T) {
		h := newHarness(t)
		h.clock.Set(time.Now())
		h.mustRun("keys", "generate", "--out", "$DIR/vendor")
		if _, err := pki.InitSite(filepath.Join(h.dir, "pki"), []string{"licensing.vendor.example"}, time.Now()); err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(h.dir, "vendor.json")
		os.WriteFile(config, []byte(`// the vendor's service
{"vendor_key": "vendor/vendor.key", "data_dir": "wl"}`), 0o644)
		out := h.mustRun("vendor", "serve", "--check-config", "--config", config)
		for _, want := range []string{"ok   vendor key", "ok   tls", "certificate for licensing.vendor.example until", "ok   data directory"} {
			if !strings.Contains(out, want) {
				t.Errorf("--check-config lacks %q:\n%s", want, out)
			}
		}
		os.Remove(filepath.Join(h.dir, "vendor", "vendor.key"))
		if status := h.run("vendor", "serve", "--check-config", "--config", config); status != ExitFailure || !strings.Contains(h.stdout.String(), "FAIL vendor key") {
			t.Fatalf("a missing vendor key: exit %d\n%s%s", status, h.stdout, h.stderr)
		}
	})
}
