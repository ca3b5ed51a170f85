package cli

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keyfile"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

func TestRenew(t *testing.T) {
	site := sitetest.New(t)
	r := site.NewServer("a", sitetest.Product("ocr", 2, 0), sitetest.Product("asr", 1, 0)).Start("")
	h := newHarness(t)
	h.clock, h.env.Clock = site.Clock, site.Clock
	cert, key := site.Client("renewer")
	keyPath := filepath.Join(h.dir, "host.key")
	renew := func(host string, urls ...string) int {
		h.host = sitetest.FakeHost(host)
		args := append([]string{"renew", keyPath}, urls...)
		return h.run(append(args, "--ca", site.CA(), "--cert", cert, "--key", key, "--vendor-pub", site.VendorPubFile())...)
	}
	if status := renew("host-1", r.URL); status != 0 {
		t.Fatalf("renew: exit %d\n%s", status, h.stderr)
	}
	if !strings.Contains(h.stderr.String(), "ok, "+keyPath+" valid until") {
		t.Fatalf("renew log:\n%s", h.stderr)
	}
	h.mustRun("keyfile", "verify", keyPath, "--vendor-pub", site.VendorPubFile(), "--product", "ocr")
	first, _ := os.ReadFile(keyPath)

	// Key-file hosts count against the pools: asr has one seat.
	if status := renew("host-2", r.URL); status != 0 || !strings.Contains(h.stderr.String(), "pools of asr are full") {
		t.Fatalf("second host: exit %d\n%s", status, h.stderr)
	}
	os.WriteFile(keyPath, first, 0o644)
	if status := renew("host-3", r.URL); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.InstanceLimit)) {
		t.Fatalf("third host with every pool full: exit %d\n%s", status, h.stderr)
	}
	// A failed renewal leaves the old key file intact.
	if got, _ := os.ReadFile(keyPath); string(got) != string(first) {
		t.Fatal("a failed renewal changed the key file")
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String()
	ln.Close()
	if status := renew("host-1", closed); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.Connect)) {
		t.Fatalf("renew from a closed port: exit %d\n%s", status, h.stderr)
	}
	if status := renew("host-1", closed, closed); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.AllServersDown)) {
		t.Fatalf("renew with every server down: exit %d\n%s", status, h.stderr)
	}
	// Tries the servers in order until one answers.
	if status := renew("host-1", closed, r.URL); status != 0 {
		t.Fatalf("renew with the first server down: exit %d\n%s", status, h.stderr)
	}
	// Only the renew role may ask.
	appCert, appKey := site.Client("app1")
	h.host = sitetest.FakeHost("host-1")
	if status := h.run("renew", keyPath, r.URL, "--ca", site.CA(), "--cert", appCert, "--key", appKey); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.RoleForbidden)) {
		t.Fatalf("renew with an instance certificate: exit %d\n%s", status, h.stderr)
	}
	// The key file is bound to this host.
	h.host = sitetest.FakeHost("elsewhere")
	if status := h.run("keyfile", "verify", keyPath, "--vendor-pub", site.VendorPubFile()); status != 1 || !strings.Contains(h.stdout.String()+h.stderr.String(), tag(codes.KeyFileMachine)) {
		t.Fatalf("keyfile verify on another host: exit %d\n%s%s", status, h.stdout, h.stderr)
	}
	// An impostor server (a key file under another vendor's license) is
	// refused, and the key file on disk stays as it was.
	before, _ := os.ReadFile(keyPath)
	impostor := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, otherVendor, _ := keys.Generate()
		serverPub, serverPriv, _ := keys.Generate()
		host := sitetest.FakeHost("host-1")
		now := site.Clock.Now()
		lic, _ := license.Sign(&license.License{Holder: "ACME", Issuer: "impostor", Issued: now,
			Machines: []fingerprint.Machine{{Code: host.Code}}, ServerKey: keys.PublicJWK(serverPub),
			Products: []license.Product{sitetest.Product("ocr", 100, 0)}}, otherVendor)
		signed, _ := license.Parse(lic)
		file, err := keyfile.Issue(serverPriv, &keyfile.Claims{Machine: host.Code, IssuedAt: now.Unix(), Expires: now.Add(time.Hour).Unix(),
			License: signed.Compact, Products: []keyfile.Product{{Subject: "ocr"}}})
		if err != nil {
			t.Error(err)
		}
		json.NewEncoder(w).Encode(api.KeyFileBody{KeyFile: string(file), Expires: now.Add(time.Hour)})
	}))
	tlsCfg, _ := pki.ServerTLSConfig(site.CA(), filepath.Join(site.Dir, "pki", pki.ServerCertFile), filepath.Join(site.Dir, "pki", pki.ServerKeyFile), time.Now())
	impostor.TLS = tlsCfg
	impostor.StartTLS()
	defer impostor.Close()
	if status := renew("host-1", impostor.URL); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.WrongVendorKey)) {
		t.Fatalf("renew from an impostor: exit %d\n%s", status, h.stderr)
	}
	if after, _ := os.ReadFile(keyPath); string(after) != string(before) {
		t.Fatal("an impostor's key file replaced the good one")
	}

	// The connectivity check: a key file is issued and verifies on this host.
	h.host = sitetest.FakeHost("host-1")
	out := h.mustRun("check", "--keyfile", "--server", r.URL, "--ca", site.CA(), "--cert", cert, "--key", key, "--vendor-pub", site.VendorPubFile())
	if !strings.HasPrefix(out, "code=0 ok: "+r.URL+" issues this host") {
		t.Fatalf("check --keyfile:\n%s", out)
	}
	if status := h.run("renew", keyPath); status != ExitUsage {
		t.Fatalf("renew without a URL: exit %d", status)
	}
}

// TestKeyFileWriteError: each way a key file cannot be written is named,
// with the path and a fix that says what to do and that the old key file
// is still there. (A real midway failure: TestRenewFileSizeLimit.)
func TestKeyFileWriteError(t *testing.T) {
	path := filepath.Join("/var/lib/product", "host.key")
	tmp := filepath.Join("/var/lib/product", ".host.key.tmp-1234")
	tests := []struct {
		name     string
		err      error
		say, fix string
	}{
		{"disk-full", &fs.PathError{Op: "write", Path: tmp, Err: syscall.ENOSPC}, "the disk is full", "Free space on the file system that holds /var/lib/product ('df -h /var/lib/product'"},
		{"disk-full-at-fsync", &fs.PathError{Op: "sync", Path: tmp, Err: syscall.ENOSPC}, "the disk is full", "Free space"},
		{"quota", &fs.PathError{Op: "write", Path: tmp, Err: syscall.EDQUOT}, "the disk quota is used up", "raise the disk quota"},
		{"file-size-limit", &fs.PathError{Op: "write", Path: tmp, Err: syscall.EFBIG}, "the file is larger than this process may write", "ulimit -f"},
		{"read-only", &fs.PathError{Op: "open", Path: tmp, Err: syscall.EROFS}, "the file system is read-only", "read-write"},
		{"permission", &fs.PathError{Op: "open", Path: tmp, Err: syscall.EACCES}, "permission denied", "create and rename files in /var/lib/product"},
		{"no-directory", &fs.PathError{Op: "open", Path: tmp, Err: syscall.ENOENT}, "the directory does not exist", "Create /var/lib/product"},
		{"rename-io-error", &os.LinkError{Op: "rename", Old: tmp, New: path, Err: syscall.EIO}, "the write failed", "no I/O errors"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := codes.As(keyFileWriteError(path, tt.err))
			if e.Code != codes.FileUnwritable {
				t.Errorf("code = %s, want %s", e.Code, codes.FileUnwritable)
			}
			if want := "cannot write the key file " + path + ": " + tt.say + ": " + tt.err.Error(); e.Detail() != want {
				t.Errorf("message = %q, want %q", e.Detail(), want)
			}
			if !errors.Is(e, tt.err) {
				t.Errorf("%v does not wrap %v", e, tt.err)
			}
			if fix := e.FixText(); !strings.Contains(fix, tt.fix) || !strings.Contains(fix, "then run 'licensor renew' again") ||
				!strings.Contains(fix, "Any key file already at "+path+" was left as it was") {
				t.Errorf("fix = %q, want it to say %q, to run renew again and that the old key file is kept", fix, tt.fix)
			}
		})
	}
}

// TestRenewEveryServerFails: when no server gives a key file, renew exits
// with the code the servers share and its fix, or with all_servers_down
// when their codes differ or they cannot be reached; either way the
// message names each URL's reason.
func TestRenewEveryServerFails(t *testing.T) {
	site := sitetest.New(t)
	h := newHarness(t)
	h.clock, h.env.Clock = site.Clock, site.Clock
	cert, key := site.Client("renewer")
	keyPath := filepath.Join(h.dir, "host.key")
	renew := func(host, path string, urls ...string) int {
		h.host = sitetest.FakeHost(host)
		args := append([]string{"renew", path}, urls...)
		return h.run(append(args, "--ca", site.CA(), "--cert", cert, "--key", key, "--vendor-pub", site.VendorPubFile())...)
	}
	ocr := sitetest.Product("ocr", 1, 0)
	// refusing starts a server whose license lets only another host hold
	// key files.
	refusing := func(name string) string {
		srv := site.NewServer(name, ocr)
		l := &license.License{Holder: "ACME", Issuer: "Vendor", Issued: site.Clock.Now().Add(-time.Hour),
			Machines: []fingerprint.Machine{{Code: site.Host.Code, Components: site.Host.Hashes()}}, MatchMin: 4,
			ServerKey: keys.PublicJWK(srv.Key.Public().(ed25519.PublicKey)), Products: []license.Product{ocr},
			KeyFile: &license.KeyFilePolicy{Hosts: []string{sitetest.FakeHost("render-00").Code}}}
		file, err := license.Sign(l, site.VendorPriv)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(srv.Config.License, file, 0o644); err != nil {
			t.Fatal(err)
		}
		return srv.Start("").URL
	}
	// full starts a server whose one ocr seat another host's key file
	// holds.
	full := func(name string) string {
		r := site.NewServer(name, ocr).Start("")
		if status := renew("squatter", filepath.Join(h.dir, name+"-squatter.key"), r.URL); status != 0 {
			t.Fatalf("filling %s: exit %d\n%s", name, status, h.stderr)
		}
		return r.URL
	}
	refusingA, refusingB, fullA, fullB := refusing("refusing-a"), refusing("refusing-b"), full("full-a"), full("full-b")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()

	tests := []struct {
		name string
		urls []string
		want codes.Code
		fix  string
	}{
		{"every-server-refuses-this-host", []string{refusingA, refusingB}, codes.KeyFileHostRefused, "key-file hosts"},
		{"every-pool-full", []string{fullA, fullB}, codes.InstanceLimit, "release an instance"},
		{"refused-and-full", []string{refusingA, fullA}, codes.AllServersDown, "at least one site server"},
		{"refused-and-down", []string{refusingA, closed}, codes.AllServersDown, "at least one site server"},
		{"every-server-down", []string{closed, closed}, codes.AllServersDown, "at least one site server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status := renew("host-1", keyPath, tt.urls...); status != ExitFailure {
				t.Fatalf("exit %d, want %d\n%s", status, ExitFailure, h.stderr)
			}
			out := h.stderr.String()
			prefix := tag(tt.want) + ": every server failed: "
			i := strings.Index(out, prefix)
			if i < 0 {
				t.Fatalf("the report does not start with %q:\n%s", prefix, out)
			}
			report := out[i:]
			msg, fix, _ := strings.Cut(report, "\nfix: ")
			for _, u := range tt.urls {
				if !strings.Contains(msg, u+": ") {
					t.Errorf("the message does not give %s's reason: %s", u, msg)
				}
			}
			// Each log line and each reason names its server once.
			for _, line := range strings.Split(out, "\n") {
				for _, part := range strings.Split(line, "; ") {
					for _, u := range tt.urls {
						if strings.Count(part, u+": ") > 1 {
							t.Errorf("%s is named twice in %q", u, part)
						}
					}
				}
			}
			if !strings.Contains(fix, tt.fix) {
				t.Errorf("fix = %q, want it to speak of %q", fix, tt.fix)
			}
			if _, err := os.Stat(keyPath); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("no server gave a key file, yet %s: %v", keyPath, err)
			}
		})
	}
}

// TestEveryServerFailed: a shared code that says nothing in common about
// the servers (unreachable, unexpected) stays all_servers_down; a shared
// verdict keeps the fix the servers gave.
func TestEveryServerFailed(t *testing.T) {
	urls := []string{"https://a:8443", "https://b:8443"}
	tests := []struct {
		name string
		errs []error
		want codes.Code
		fix  string
	}{
		{"same-verdict-keeps-its-fix", []error{
			codes.Errorf(codes.InstanceLimit, "ocr: 1 of 1 held").WithFix("Release a seat on a."),
			codes.Errorf(codes.InstanceLimit, "ocr: 1 of 1 held").WithFix("Release a seat on a."),
		}, codes.InstanceLimit, "Release a seat on a."},
		{"same-verdict-table-fix", []error{codes.Errorf(codes.Expired, "ocr ran out"), codes.Errorf(codes.Expired, "ocr ran out")},
			codes.Expired, "Ask the vendor to renew the license"},
		{"every-certificate-untrusted", []error{codes.Errorf(codes.ServerCert, "unknown CA"), codes.Errorf(codes.ServerCert, "unknown CA")},
			codes.AllServersDown, "at least one site server"},
		{"every-failure-unexpected", []error{errors.New("one thing"), errors.New("another")},
			codes.AllServersDown, "at least one site server"},
		{"different-verdicts", []error{codes.Errorf(codes.Expired, "ocr ran out"), codes.Errorf(codes.KeyFileHostRefused, "not listed")},
			codes.AllServersDown, "at least one site server"},
		{"every-server-unreachable", []error{
			codes.Errorf(codes.Connect, "https://a:8443: cannot connect: connection refused"),
			codes.Errorf(codes.Connect, "https://b:8443: cannot connect: connection refused"),
		}, codes.AllServersDown, "at least one site server"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := codes.As(everyServerFailed(urls, tt.errs))
			if e.Code != tt.want {
				t.Errorf("code = %s, want %s", e.Code, tt.want)
			}
			for i, u := range urls {
				// A transport failure names its server already: once is enough.
				want := u + ": " + strings.TrimPrefix(codes.As(tt.errs[i]).Msg, u+": ")
				if !strings.Contains(e.Msg, want) || strings.Contains(e.Msg, u+": "+u) {
					t.Errorf("message = %q, want it to hold %q, naming %s once", e.Msg, want, u)
				}
			}
			if !strings.Contains(e.FixText(), tt.fix) {
				t.Errorf("fix = %q, want it to hold %q", e.FixText(), tt.fix)
			}
			for _, err := range tt.errs {
				if !errors.Is(e, err) {
					t.Errorf("%v does not wrap %v", e, err)
				}
			}
		})
	}
}
