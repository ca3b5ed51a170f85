package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/license"
	"github.com/licensor/licensor/store"
)

// TestRevokeAndStatus revokes an instance's seat (freed) and a key-file
// host's (kept until its key file expires), and checks that 'licensor
// status' shows the two kinds apart with the date, and that the revoked
// host's next renewal is refused with 529.
func TestRevokeAndStatus(t *testing.T) {
	ss := newSeatSite(t)
	h, host, renew, admin := ss.h, ss.h.host, ss.renew, ss.admin
	until := license.FormatTime(ss.issued.Add(7 * 24 * time.Hour))
	out := h.mustRun(append([]string{"status"}, admin...)...)
	for _, want := range []string{"Total of 2 in use: 1 by instances, 1 by key-file hosts", "key-file hosts", host.Code, "held until " + until} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}

	out = h.mustRun(append([]string{"revoke", "--product", "ocr", "--keyfile-host", host.Code}, admin...)...)
	if !strings.Contains(out, "renewals are refused") || !strings.Contains(out, until) {
		t.Errorf("revoke of a key-file host:\n%s", out)
	}
	out = h.mustRun(append([]string{"status"}, admin...)...)
	if !strings.Contains(out, "Total of 2 in use") || !strings.Contains(out, "REVOKED") || !strings.Contains(out, "counted until then") {
		t.Errorf("status after the revoke:\n%s", out)
	}
	if status := h.run(renew...); status != 1 || !strings.Contains(h.stderr.String(), tag(codes.KeyFileRevoked)) {
		t.Errorf("renew after the revoke: exit %d\n%s", status, h.stderr)
	}

	out = h.mustRun(append([]string{"revoke", "--product", "ocr", "--instance", "i-1", "--reason", "host decommissioned"}, admin...)...)
	if !strings.Contains(out, "is free") {
		t.Errorf("revoke of an instance:\n%s", out)
	}
	out = h.mustRun(append([]string{"status"}, admin...)...)
	if !strings.Contains(out, "Total of 1 in use: 0 by instances, 1 by key-file hosts") {
		t.Errorf("status after revoking the instance:\n%s", out)
	}

	for _, tt := range []struct {
		name string
		args []string
		exit int
	}{
		{"neither", []string{"revoke", "--product", "ocr"}, ExitUsage},
		{"both", []string{"revoke", "--product", "ocr", "--instance", "i-1", "--keyfile-host", host.Code}, ExitUsage},
		{"no-product", []string{"revoke", "--instance", "i-1"}, ExitUsage},
		{"bad-host", []string{"revoke", "--product", "ocr", "--keyfile-host", "xyz"}, ExitUsage},
		{"unknown", []string{"revoke", "--product", "ocr", "--instance", "nobody"}, ExitFailure},
		{"reason-two-lines", []string{"revoke", "--product", "ocr", "--instance", "i-1", "--reason", "a\nb"}, ExitUsage},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status := h.run(append(tt.args, admin...)...); status != tt.exit {
				t.Errorf("exit %d, want %d\n%s", status, tt.exit, h.stderr)
			}
		})
	}

	// The reason is in the revoke's audit event, with the admin's name.
	ss.server.Stop()
	st, err := storeopen.Open(context.Background(), storeopen.Setting{DataDir: filepath.Join(ss.site.Dir, "a", "data")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var found bool
	st.Audit(context.Background(), 0, func(e store.Event) error {
		found = found || e.Kind == store.KindRevoke && e.InstanceID == "i-1" && strings.Contains(e.Detail, "host decommissioned") && e.Actor == "ops"
		return nil
	})
	if !found {
		t.Error("no revoke event of i-1 by ops with its reason")
	}
}
