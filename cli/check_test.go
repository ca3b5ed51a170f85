package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
)

func TestCheck(t *testing.T) {
	site := sitetest.New(t)
	r := site.NewServer("a", sitetest.Product("ocr", 2, 0), sitetest.Product("asr", 2, 50)).Start("")
	h := newHarness(t)
	h.clock = site.Clock
	h.env.Clock = site.Clock
	cert, key := site.Client("app1")
	base := func(server string) []string {
		return []string{"check", "--server", server, "--ca", site.CA(), "--cert", cert, "--key", key,
			"--vendor-pub", site.VendorPubFile(), "--product", "ocr", "--timeout", "2s"}
	}
	out := h.mustRun(base(r.URL)...)
	if !strings.HasPrefix(out, "code=0 ok: ocr may run as instance licensor-check-auth-01") || !strings.Contains(out, "1 of 2 held") {
		t.Fatalf("check:\n%s", out)
	}
	held, _ := r.Server.Held(t.Context())
	if held["ocr"] != 0 {
		t.Fatalf("check left %d seats held", held["ocr"])
	}
	var j struct {
		Authorized bool
		Status     struct{ Server string }
	}
	if err := json.Unmarshal([]byte(h.mustRun(append(base(r.URL), "--json")...)), &j); err != nil || !j.Authorized || j.Status.Server != r.URL {
		t.Fatalf("check --json: %+v, %v", j, err)
	}

	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String()
	ln.Close()
	other := t.TempDir()
	pki.InitSite(other, []string{"127.0.0.1"}, site.Clock.Now())
	pki.IssueClient(other, "stranger", pki.RoleInstance, 30, site.Clock.Now())

	tests := []struct {
		name string
		args []string
		want codes.Code
	}{
		{"plain-http", base("https://" + plain.Listener.Addr().String()), codes.Protocol},
		{"closed-port", base(closed), codes.Connect},
		{"every-server-down", base(closed + "," + "https://" + plain.Listener.Addr().String()), codes.AllServersDown},
		{"product-unlicensed", replace(base(r.URL), "ocr", "tts"), codes.ProductUnlicensed},
		{"qps-needs-async", replace(base(r.URL), "ocr", "asr"), codes.QPSNeedsAsync},
		{"ca-file-missing", replace(base(r.URL), site.CA(), filepath.Join(other, "none.crt")), codes.CAFile},
		{"client-cert-from-another-ca", replace(replace(base(r.URL), cert, filepath.Join(other, "clients", "stranger.crt")), key, filepath.Join(other, "clients", "stranger.key")), codes.TLSHandshake},
		{"server-from-another-ca", replace(base(r.URL), site.CA(), filepath.Join(other, "ca.crt")), codes.ServerCert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(tt.args...)
			if status != ExitFailure || !strings.Contains(h.stderr.String(), tag(tt.want)) || !strings.Contains(h.stderr.String(), "fix: ") {
				t.Fatalf("exit %d, want 1 naming %s:\n%s%s", status, tag(tt.want), h.stdout, h.stderr)
			}
		})
	}
	// A QPS product checked as async instances ask.
	out = h.mustRun(append(replace(base(r.URL), "ocr", "asr"), "--async")...)
	if !strings.Contains(out, "qps share: 50.0/s") {
		t.Fatalf("check --async:\n%s", out)
	}
	if status := h.run("check", "--server", r.URL); status != ExitUsage {
		t.Fatalf("check without flags: exit %d", status)
	}
}

// replace returns args with every from replaced by to.
func replace(args []string, from, to string) []string {
	out := append([]string{}, args...)
	for i, a := range out {
		if a == from {
			out[i] = to
		}
	}
	return out
}

// TestCheckChainFaults: check names an issuer that is not a CA, and a
// SHA-1 signature, with their fixes, not a missing intermediate or a CA
// made again.
func TestCheckChainFaults(t *testing.T) {
	site := sitetest.New(t)
	bad := newFaultyChains(t, filepath.Dir(site.CA()))
	h := newHarness(t)
	h.env.Clock = site.Clock
	cert, key := site.Client("app1")
	for _, tt := range []struct {
		name string
		url  string
		say  []string
	}{
		{"issuer-not-a-ca", bad.notCA.url, []string{
			`the server certificate "licensor site server" is issued by "licensor server used as a CA", which is not allowed to sign certificates: it is not a CA (basicConstraints CA:FALSE)`,
			`fix: Its issuer is not a CA: reissue the intermediate "licensor server used as a CA" as a CA (basicConstraints CA:TRUE, key usage keyCertSign)`,
			"licensor pki server"}},
		{"sha1-signature", bad.sha1.url, []string{
			`the server certificate "licensor site server" is signed with SHA-1 (ECDSA-SHA1), an insecure signature algorithm`,
			"fix: Reissue the certificate signed with SHA-256 (ECDSA or RSA) or Ed25519", "licensor pki server"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run("check", "--server", tt.url, "--ca", site.CA(), "--cert", cert, "--key", key,
				"--vendor-pub", site.VendorPubFile(), "--product", "ocr", "--timeout", "2s")
			if status != ExitFailure {
				t.Fatalf("exit %d, want %d\n%s%s", status, ExitFailure, h.stdout, h.stderr)
			}
			checkSays(t, h.stderr.String(), append([]string{tag(codes.ServerCert)}, tt.say...), wrongChainCauses)
		})
	}
}
