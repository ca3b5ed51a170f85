package server_test

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
	"github.com/licensor/licensor/server"
)

// mtlsClient is an HTTP client presenting the site's client certificate
// name, trusting the site CA.
func mtlsClient(t *testing.T, site *sitetest.Site, name string) *http.Client {
	t.Helper()
	cert, key := site.Client(name)
	cfg, err := pki.ClientTLSConfig(site.CA(), cert, key, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// internalText is text of the server's internals: SQLite's and
// database/sql's error messages, Go's JSON decoder's, the operating
// system's. None of it belongs in a JSON error body.
var internalText = []string{
	"sqlite", "sql:", "SQL logic", "no such table", "database is", "leases_gone",
	"invalid character", "json:", "cannot unmarshal", "Go struct", "Go value", "unexpected EOF",
	"no such file", "permission denied", "is a directory", "open /", "read /",
}

// TestWireErrorsCarryNoInternalText provokes, against a real server over
// mutual TLS, failures whose cause is an internal error (the store's, the
// JSON decoder's, the file system's), and holds every JSON error body —
// message and fix — free of that cause's text, while the server's log
// line carries it.
func TestWireErrorsCarryNoInternalText(t *testing.T) {
	site := sitetest.New(t)
	logs := &sitetest.Buffer{}
	site.Logs = logs
	srv := site.NewServer("a", sitetest.Product("ocr", 5, 0))
	r := srv.Start("")
	app, renewer, ops := mtlsClient(t, site, "app1"), mtlsClient(t, site, "renewer"), mtlsClient(t, site, "ops")
	machine := sitetest.FakeHost("build-07")
	keyFileReq, _ := json.Marshal(api.KeyFileRequest{MachineCode: machine.Code, Components: machine.Hashes()})

	post := func(c *http.Client, path, body string) (int, []byte) {
		t.Helper()
		resp, err := c.Post(r.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, data
	}
	// check posts body and wants an error answer with code, its JSON body
	// free of internal text, and a new log line that says logged.
	check := func(t *testing.T, c *http.Client, path, body string, code codes.Code, logged ...string) {
		t.Helper()
		before := len(logs.String())
		status, data := post(c, path, body)
		var eb api.ErrorBody
		if err := json.Unmarshal(data, &eb); err != nil {
			t.Fatalf("%s: HTTP %d, body %q is not an error body: %v", path, status, data, err)
		}
		if status != code.HTTPStatus() || eb.Code != int(code) {
			t.Fatalf("%s: HTTP %d code %d %q, want HTTP %d code %d", path, status, eb.Code, eb.Message, code.HTTPStatus(), code)
		}
		for _, field := range []struct{ name, text string }{{"message", eb.Message}, {"fix", eb.Fix}} {
			for _, bad := range append(internalText, site.Dir) {
				if strings.Contains(strings.ToLower(field.text), strings.ToLower(bad)) {
					t.Errorf("%s: the %s %q carries internal text %q", path, field.name, field.text, bad)
				}
			}
		}
		if strings.TrimSpace(eb.Message) == "" {
			t.Errorf("%s: the message is empty", path)
		}
		line := logs.String()[before:]
		for _, want := range logged {
			if !strings.Contains(line, want) {
				t.Errorf("%s: the log line %q lacks the cause %q", path, line, want)
			}
		}
	}

	t.Run("malformed-bodies", func(t *testing.T) {
		check(t, app, api.PathAuthorize, `{"product": "ocr", "instance_id": `, codes.RequestMalformed)
		check(t, app, api.PathRelease, `{"product": "ocr", "nonce": 7}`, codes.RequestMalformed)
		check(t, renewer, api.PathKeyFile, `{not json`, codes.RequestMalformed, "invalid character")
		check(t, renewer, api.PathKeyFile, `{"machine_code": 42}`, codes.RequestMalformed, "cannot unmarshal")
		check(t, renewer, api.PathKeyFile, `{"machine_code": "x", "colour": "blue"}`, codes.RequestMalformed, "unknown field")
		check(t, ops, api.PathRevoke, `{"product": "ocr", "instance_id": "i-1"`, codes.RequestMalformed, "unexpected EOF")
	})

	t.Run("unreadable-license-on-reload", func(t *testing.T) {
		// A directory where the license file should be: it opens, and
		// reading it fails.
		lic := srv.Config.License
		saved, err := os.ReadFile(lic)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(lic); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(lic, 0o755); err != nil {
			t.Fatal(err)
		}
		check(t, ops, api.PathReload, ``, codes.FileMissing, "is a directory")
		if err := os.Remove(lic); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(lic, saved, 0o644); err != nil {
			t.Fatal(err)
		}
	})

	// Last: the store stays broken. Another process renames the leases
	// table under the running server, as a damaged or tampered store
	// would: SQLite refuses the server's next write.
	t.Run("store-failure", func(t *testing.T) {
		if status, data := post(app, api.PathAuthorize, `{"product": "ocr", "instance_id": "i-1"}`); status != http.StatusOK {
			t.Fatalf("authorize before the damage: HTTP %d %s", status, data)
		}
		db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.Config.DataDir, server.StoreFile)+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`ALTER TABLE leases RENAME TO leases_gone`); err != nil {
			t.Fatal(err)
		}
		check(t, app, api.PathAuthorize, `{"product": "ocr", "instance_id": "i-2"}`, codes.StoreUnavailable, "no such table")
		check(t, renewer, api.PathKeyFile, string(keyFileReq), codes.StoreUnavailable, "no such table")
	})
}
