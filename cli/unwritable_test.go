package cli

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

// TestWriteFailures: a command that cannot write a file exits with
// file_unwritable naming the path, the cause and a fix, not with
// file_missing. The faults are real and stop root too: a path that goes
// through a regular file ($DIR/plain), or a directory where the file
// should be.
func TestWriteFailures(t *testing.T) {
	issue := []string{"issue", "--key", "$DIR/vendor/vendor.key", "--request", "$DIR/req.json", "--holder", "ACME", "--product", "ocr:days=30"}
	quickstart := []string{"quickstart", "--dir", "$DIR/qs", "--setup-only", "--listen", "127.0.0.1:0"}
	tests := []struct {
		name   string
		before func(h *harness)
		args   []string
		msg    string // what the message says, after "code=609 file_unwritable: "
		fix    string
	}{
		{"issue-out-through-a-file", nil, append(issue, "--out", "$DIR/plain/site.lic"),
			"cannot write the license $DIR/plain/site.lic: $DIR/plain is not a directory: ", "move it away, or give 'licensor issue' a license path in a directory"},
		{"issue-out-is-a-directory", func(h *harness) { os.MkdirAll(filepath.Join(h.dir, "lic", "x"), 0o700) }, append(issue, "--out", "$DIR/lic"),
			"cannot write the license $DIR/lic: it is a directory: ", "Move the directory $DIR/lic away"},
		{"activation-request-out", nil, []string{"activation-request", "--data", "$DIR/data", "--out", "$DIR/plain/req.json"},
			"cannot write the activation request $DIR/plain/req.json: $DIR/plain is not a directory: ", "'licensor activation-request'"},
		{"activation-request-data", nil, []string{"activation-request", "--data", "$DIR/plain/data"},
			"cannot create the key directory $DIR/plain/data: $DIR/plain is not a directory: ", "move it away"},
		{"keys-generate", nil, []string{"keys", "generate", "--out", "$DIR/plain/keys"},
			"cannot create the key directory $DIR/plain/keys: $DIR/plain is not a directory: ", "move it away"},
		{"pki-init", nil, []string{"pki", "init", "--dir", "$DIR/plain/pki"},
			"cannot create the site CA directory $DIR/plain/pki: $DIR/plain is not a directory: ", "move it away"},
		{"pki-client", func(h *harness) {
			h.mustRun("pki", "init", "--dir", "$DIR/pki")
			os.WriteFile(filepath.Join(h.dir, "pki", "clients"), nil, 0o644)
		}, []string{"pki", "client", "--dir", "$DIR/pki", "--name", "app1"},
			"cannot create the clients directory $DIR/pki/clients: $DIR/pki/clients is not a directory: ", "move it away"},
		{"quickstart-dir", nil, []string{"quickstart", "--dir", "$DIR/plain/qs", "--setup-only"},
			"cannot create the key directory $DIR/plain/qs/vendor: $DIR/plain is not a directory: ", "move it away"},
		{"quickstart-request", func(h *harness) { os.MkdirAll(filepath.Join(h.dir, "qs", "request.json", "x"), 0o700) }, quickstart,
			"cannot write the activation request $DIR/qs/request.json: it is a directory: ", "or give 'licensor quickstart' a --dir elsewhere"},
		{"quickstart-license", func(h *harness) { os.MkdirAll(filepath.Join(h.dir, "qs", "site.lic", "x"), 0o700) }, quickstart,
			"cannot write the license $DIR/qs/site.lic: it is a directory: ", "Move the directory $DIR/qs/site.lic away"},
		{"quickstart-config", func(h *harness) { os.MkdirAll(filepath.Join(h.dir, "qs", "server.json", "x"), 0o700) }, quickstart,
			"cannot write the server configuration $DIR/qs/server.json: it is a directory: ", "Move the directory $DIR/qs/server.json away"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.mustRun("keys", "generate", "--out", "$DIR/vendor")
			h.mustRun("activation-request", "--data", "$DIR/data", "--out", "$DIR/req.json")
			if err := os.WriteFile(filepath.Join(h.dir, "plain"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.before != nil {
				tt.before(h)
			}
			// run replaces $DIR in place: give it a copy.
			if status := h.run(slices.Clone(tt.args)...); status != ExitFailure {
				t.Fatalf("exit %d, want %d\nstderr: %s", status, ExitFailure, h.stderr)
			}
			dollar := func(s string) string { return strings.ReplaceAll(s, "$DIR", h.dir) }
			out := h.stderr.String()
			if want := tag(codes.FileUnwritable) + ": " + dollar(tt.msg); !strings.Contains(out, want) {
				t.Errorf("stderr lacks %q:\n%s", want, out)
			}
			if !strings.Contains(out, dollar(tt.fix)) || !strings.Contains(out, "then run the command again.") {
				t.Errorf("the fix does not say %q and to run the command again:\n%s", dollar(tt.fix), out)
			}
		})
	}
}
