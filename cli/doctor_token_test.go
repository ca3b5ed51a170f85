package cli

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/doctor"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/keys"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/verdict"
)

// tokenFixture writes a key set to $DIR/jwks.json and returns a function
// that signs verdict tokens with its key, times relative to the harness
// clock.
func tokenFixture(t *testing.T, h *harness) func(change func(c *verdict.Claims)) string {
	t.Helper()
	pub, priv, err := keys.Generate()
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pub, KeyID: keys.ID(pub), Algorithm: "EdDSA", Use: "sig"}}})
	if err := os.WriteFile(filepath.Join(h.dir, "jwks.json"), set, 0o644); err != nil {
		t.Fatal(err)
	}
	return func(change func(c *verdict.Claims)) string {
		now := h.clock.Now()
		c := &verdict.Claims{Issuer: verdict.Issuer, Subject: "i-1", Audience: verdict.Audience("ocr"),
			IssuedAt: now.Unix(), NotBefore: now.Unix(), Expires: now.Add(5 * time.Minute).Unix(), Product: "ocr"}
		if change != nil {
			change(c)
		}
		tok, err := verdict.Sign(priv, keys.ID(pub), c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func TestDoctorToken(t *testing.T) {
	h := newHarness(t)
	sign := tokenFixture(t, h)
	good := sign(nil)
	if err := os.WriteFile(filepath.Join(h.dir, "token"), []byte(good+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Same header (and kid) and claims as good, signed by another key.
	_, otherPriv, _ := keys.Generate()
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(otherPriv, []byte(parts[0]+"."+parts[1])))
	expect := []string{"--jwks", "$DIR/jwks.json", "--iss", "licensor-site", "--aud", "licensor:ocr"}

	tests := []struct {
		name   string
		args   []string
		status int
		code   codes.Code // the failing step's code
		say    []string
	}{
		{"valid", append([]string{"doctor", "token", good}, expect...), 0, 0,
			[]string{"header:", `alg:       "EdDSA"`, "exp:       1795435500 (2026-11-23T12:05:00Z)",
				"pass  signature   signed by kid ", "pass  exp         expires 2026-11-23T12:05:00Z, in 5 minutes", "token is valid"}},
		{"valid-from-file", append([]string{"doctor", "token", "--file", "$DIR/token"}, expect...), 0, 0, []string{"token is valid"}},
		{"expired", append([]string{"doctor", "token", sign(func(c *verdict.Claims) { c.Expires = t0.Add(-3 * time.Minute).Unix() })}, expect...), 1,
			codes.TokenExpired, []string{"FAIL  exp         code=805 token_expired: expired at 2026-11-23T11:57:00Z, 3 minutes ago", "      fix: Get a fresh token"}},
		{"wrong-audience", append([]string{"doctor", "token", good}, "--jwks", "$DIR/jwks.json", "--aud", "licensor:asr"), 1,
			codes.TokenWrongAudience, []string{`aud is "licensor:ocr", expected "licensor:asr"`, "skip  iss "}},
		{"bad-signature", append([]string{"doctor", "token", forged}, expect...), 1, codes.TokenBadSignature, []string{"pass  exp "}},
		{"no-jwks", []string{"doctor", "token", good}, 0, 0, []string{"skip  signature ", "signature was not checked"}},
		{"skew-zero", append([]string{"doctor", "token", sign(func(c *verdict.Claims) { c.Expires = t0.Add(-time.Second).Unix() }), "--skew", "0"}, expect...), 1,
			codes.TokenExpired, nil},
		{"alg-not-allowed", append([]string{"doctor", "token", good, "--alg", "ES256,RS256"}, expect...), 1, codes.TokenAlgorithm,
			[]string{"not an allowed algorithm (ES256, RS256)"}},
		{"malformed", append([]string{"doctor", "token", "not-a-token"}, expect...), 1, codes.TokenMalformed,
			[]string{"1 part(s)", "skip  signature "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(tt.args...)
			out := h.stdout.String()
			if status != tt.status {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", status, tt.status, out, h.stderr)
			}
			if tt.code != 0 && !strings.Contains(out, tag(tt.code)) {
				t.Errorf("output lacks %q:\n%s", tag(tt.code), out)
			}
			if h.stderr.Len() != 0 {
				t.Errorf("stderr is not empty (the report is on stdout): %s", h.stderr)
			}
			for _, w := range tt.say {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestDoctorTokenJSON(t *testing.T) {
	h := newHarness(t)
	sign := tokenFixture(t, h)
	tok := sign(func(c *verdict.Claims) { c.Issuer = "someone" })
	status := h.run("doctor", "token", tok, "--jwks", "$DIR/jwks.json", "--iss", "licensor-site", "--json")
	if status != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", status, h.stdout, h.stderr)
	}
	var rep doctor.TokenReport
	if err := json.Unmarshal(h.stdout.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, h.stdout)
	}
	if rep.Valid || len(rep.Steps) != 9 || rep.Claims["iss"] != "someone" || rep.Header["alg"] != "EdDSA" {
		t.Fatalf("--json report: %+v", rep)
	}
	for _, s := range rep.Steps {
		if s.Name == "iss" && (s.Status != doctor.Fail || s.Code != int(codes.TokenWrongIssuer)) {
			t.Fatalf("iss step: %+v", s)
		}
	}
	if h.run("doctor", "token", sign(nil), "--jwks", "$DIR/jwks.json", "--json") != 0 {
		t.Fatalf("valid token: exit != 0\n%s", h.stdout)
	}
}

func TestDoctorTokenUsage(t *testing.T) {
	h := newHarness(t)
	sign := tokenFixture(t, h)
	tok := sign(nil)
	tests := []struct {
		name   string
		args   []string
		status int
		code   codes.Code
	}{
		{"no-token", []string{"doctor", "token"}, ExitUsage, 0},
		{"two-tokens", []string{"doctor", "token", tok, tok}, ExitUsage, 0},
		{"token-and-file", []string{"doctor", "token", tok, "--file", "$DIR/t"}, ExitUsage, 0},
		{"negative-skew", []string{"doctor", "token", tok, "--skew", "-1s"}, ExitUsage, 0},
		{"bad-skew", []string{"doctor", "token", tok, "--skew", "soon"}, ExitUsage, 0},
		{"cert-without-key", []string{"doctor", "token", tok, "--jwks", "https://127.0.0.1:1/jwks", "--ca", "ca", "--cert", "c"}, ExitUsage, 0},
		{"tls-flags-with-a-file", []string{"doctor", "token", tok, "--jwks", "$DIR/jwks.json", "--ca", "ca"}, ExitUsage, 0},
		{"unknown-flag", []string{"doctor", "token", tok, "--jwk", "x"}, ExitUsage, 0},
		{"jwks-missing", []string{"doctor", "token", tok, "--jwks", "$DIR/nope.json"}, ExitFailure, codes.FileMissing},
		{"jwks-garbage", []string{"doctor", "token", tok, "--jwks", "$DIR/t"}, ExitFailure, codes.TokenMalformed},
		{"jwks-over-http", []string{"doctor", "token", tok, "--jwks", "http://127.0.0.1:1/jwks"}, ExitUsage, codes.InvalidArgument},
		{"token-file-missing", []string{"doctor", "token", "--file", "$DIR/nope"}, ExitFailure, codes.FileMissing},
	}
	if err := os.WriteFile(filepath.Join(h.dir, "t"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(tt.args...)
			if status != tt.status {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", status, tt.status, h.stdout, h.stderr)
			}
			if tt.code != 0 && !strings.Contains(h.stderr.String(), tag(tt.code)) {
				t.Errorf("stderr lacks %q:\n%s", tag(tt.code), h.stderr)
			}
		})
	}
	out := h.mustRun("help", "doctor", "token")
	if !strings.HasPrefix(out, "Usage: licensor doctor token") || !strings.Contains(out, "--jwks") {
		t.Errorf("help:\n%s", out)
	}
}

// TestDoctorTokenFromSiteServer checks a real verdict against the key set
// a real site server publishes, fetched over mutual TLS.
func TestDoctorTokenFromSiteServer(t *testing.T) {
	site := sitetest.New(t)
	srv := site.NewServer("a", sitetest.Product("ocr", 2, 0))
	r := srv.Start("")
	cert, key := site.Client("app1")
	cfg, err := pki.ClientTLSConfig(site.CA(), cert, key, site.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	body, _ := json.Marshal(api.InstanceRequest{Product: "ocr", InstanceID: "i-1"})
	resp, err := client.Post(r.URL+api.PathAuthorize, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var v api.VerdictBody
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || v.Verdict == "" {
		t.Fatalf("authorize: HTTP %d, %v, %+v", resp.StatusCode, err, v)
	}

	h := newHarness(t)
	h.clock = site.Clock
	h.env.Clock = site.Clock
	base := []string{"doctor", "token", v.Verdict, "--jwks", r.URL + api.PathJWKS, "--ca", site.CA(), "--cert", cert, "--key", key, "--iss", "licensor-site"}
	out := h.mustRun(append(base, "--aud", "licensor:ocr")...)
	for _, w := range []string{"pass  signature   signed by kid " + keys.ID(srv.Key.Public().(ed25519.PublicKey)), "pass  aud ", "token is valid"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if status := h.run(append(base, "--aud", "licensor:asr")...); status != 1 || !strings.Contains(h.stdout.String(), tag(codes.TokenWrongAudience)) {
		t.Fatalf("--aud licensor:asr: exit %d\n%s%s", status, h.stdout, h.stderr)
	}
	// Without a client certificate the server refuses to publish its keys.
	status := h.run("doctor", "token", v.Verdict, "--jwks", r.URL+api.PathJWKS, "--ca", site.CA())
	if status != 1 || h.stdout.Len() != 0 {
		t.Fatalf("without --cert: exit %d\nstdout:\n%s\nstderr:\n%s", status, h.stdout, h.stderr)
	}
	t.Logf("without --cert: %s", h.stderr)
}
