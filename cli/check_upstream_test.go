package cli

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/pki"
)

// TestCheckUpstreamFaults: 'check --upstream' against a vendor service
// that never answers, answers something that is not a grant, or grants a
// license signed by another vendor key ends in the code of each, within
// the --timeout given. Something that is not a vendor service is told
// apart from a site server in the fix.
func TestCheckUpstreamFaults(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	_, otherVendor, _ := keys.Generate()
	var servers []*httptest.Server
	t.Cleanup(func() {
		for _, srv := range servers {
			srv.Close()
		}
	})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // first: Close waits for the stalled requests

	tests := []struct {
		name    string
		handler http.HandlerFunc
		plain   bool // serve plain HTTP on the port the check reaches with HTTPS
		noCA    bool // give no --ca: the system's roots verify the service
		want    codes.Code
		say     string
		fix     string
	}{
		{"never-answers", func(w http.ResponseWriter, r *http.Request) {
			// Never answer: hold the request until the client gives up or
			// the test ends, then drop the connection.
			io.Copy(io.Discard, r.Body) // then the server notices when the client gives up
			select {
			case <-r.Context().Done():
			case <-release:
			}
			panic(http.ErrAbortHandler)
		}, false, false, codes.Timeout, "no answer within 200ms", "did not answer within 200ms"},
		{"not-json", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><body>It works!</body></html>")
		}, false, false, codes.Protocol, "not the JSON expected", "the vendor's whitelist service"},
		{"error-page", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		}, false, false, codes.WeirdReply, "HTTP 502", "the vendor's whitelist service"},
		{"plain-http", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><body>It works!</body></html>")
		}, true, false, codes.Protocol, "plain HTTP", "the vendor's whitelist service"},
		{"signed-by-another-key", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			req, err := license.ParseRequest(body)
			if err != nil {
				t.Error(err)
				return
			}
			file, err := license.Sign(&license.License{Holder: "ACME", Issuer: "vendor whitelist", Issued: t0,
				Machines: []fingerprint.Machine{req.Machine()}, ServerKey: req.ServerKey,
				Products: []license.Product{{Subject: "ocr", InstanceSize: 1, NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0)}}}, otherVendor)
			if err != nil {
				t.Error(err)
			}
			json.NewEncoder(w).Encode(api.GrantBody{License: string(file), Customer: "ACME"})
		}, false, false, codes.WrongVendorKey, "", ""},
		{"no-ca-self-signed", func(w http.ResponseWriter, r *http.Request) {
			t.Error("the check sent a request over a connection it does not trust")
		}, false, true, codes.ServerCert, "self-signed, and no CA file was given: the system's trusted roots do not contain it", "--ca"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := "200ms"
			if tt.noCA {
				timeout = "5s" // the first load of the system's roots may take longer than 200ms
			}
			args := []string{"check", "--data", "$DIR/data", "--vendor-pub", "$DIR/vendor/vendor.pub", "--timeout", timeout}
			if tt.plain {
				srv := httptest.NewServer(tt.handler)
				servers = append(servers, srv)
				args = append(args, "--upstream", "https://"+srv.Listener.Addr().String())
			} else {
				srv := httptest.NewTLSServer(tt.handler)
				servers = append(servers, srv)
				ca := filepath.Join(h.dir, "vendor-ca.crt")
				os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
				args = append(args, "--upstream", srv.URL)
				if !tt.noCA {
					args = append(args, "--ca", ca)
				}
			}
			start := time.Now()
			status := h.run(args...)
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("the check took %s with --timeout 200ms", elapsed)
			}
			out := h.stderr.String()
			if status != ExitFailure || !strings.Contains(out, tag(tt.want)) || !strings.Contains(out, tt.say) || !strings.Contains(out, "fix: ") {
				t.Fatalf("exit %d, want 1 naming %s (%q):\n%s%s", status, tag(tt.want), tt.say, h.stdout, out)
			}
			_, fix, _ := strings.Cut(out, "fix: ")
			if !strings.Contains(fix, tt.fix) || strings.Contains(fix, "site server listens") || strings.Contains(out, "the CA file does not contain") {
				t.Errorf("fix = %q, want it to speak of %q, not of the site server's port", fix, tt.fix)
			}
		})
	}
}

// TestCheckUpstreamSystemRoots: without --ca, a vendor service whose
// certificate a CA issued is checked against the system's trusted roots,
// and the failure says so, not that a CA file lacks the issuer.
func TestCheckUpstreamSystemRoots(t *testing.T) {
	h := newHarness(t)
	h.mustRun("keys", "generate", "--out", "$DIR/vendor")
	dir := filepath.Join(h.dir, "vendor-pki")
	site, err := pki.InitSite(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(site.ServerCert, site.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the check sent a request over a connection it does not trust")
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	status := h.run("check", "--data", "$DIR/data", "--vendor-pub", "$DIR/vendor/vendor.pub", "--upstream", srv.URL)
	out := h.stderr.String()
	if status != ExitFailure || !strings.Contains(out, tag(codes.ServerCert)) ||
		!strings.Contains(out, "which the system's trusted roots do not contain (no CA file was given)") ||
		strings.Contains(out, "the CA file does not contain") || !strings.Contains(out, "--ca") {
		t.Fatalf("exit %d:\n%s", status, out)
	}
}
