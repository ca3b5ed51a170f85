package cli

import (
	"encoding/json"
	"encoding/pem"
	"io"
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
		}, false, codes.Timeout, "no answer within 200ms", "did not answer within 200ms"},
		{"not-json", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><body>It works!</body></html>")
		}, false, codes.Protocol, "not the JSON expected", "the vendor's whitelist service"},
		{"error-page", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		}, false, codes.WeirdReply, "HTTP 502", "the vendor's whitelist service"},
		{"plain-http", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "<html><body>It works!</body></html>")
		}, true, codes.Protocol, "plain HTTP", "the vendor's whitelist service"},
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
		}, false, codes.WrongVendorKey, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"check", "--data", "$DIR/data", "--vendor-pub", "$DIR/vendor/vendor.pub", "--timeout", "200ms"}
			if tt.plain {
				srv := httptest.NewServer(tt.handler)
				servers = append(servers, srv)
				args = append(args, "--upstream", "https://"+srv.Listener.Addr().String())
			} else {
				srv := httptest.NewTLSServer(tt.handler)
				servers = append(servers, srv)
				ca := filepath.Join(h.dir, "vendor-ca.crt")
				os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644)
				args = append(args, "--upstream", srv.URL, "--ca", ca)
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
			if !strings.Contains(fix, tt.fix) || strings.Contains(fix, "site server listens") {
				t.Errorf("fix = %q, want it to speak of %q, not of the site server's port", fix, tt.fix)
			}
		})
	}
}
