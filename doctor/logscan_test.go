package doctor

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

func TestScanJournal(t *testing.T) {
	ctx := context.Background()
	since := time.Now().Add(-time.Hour)
	t.Run("bad-unit", func(t *testing.T) {
		for _, unit := range []string{"", "-f", "licensor service", "a/b", strings.Repeat("x", 300)} {
			if r := ScanJournal(ctx, "", unit, since); r.Status != Fail || r.Code != int(codes.InvalidArgument) {
				t.Errorf("unit %q: %+v", unit, r)
			}
		}
	})
	t.Run("no-journalctl", func(t *testing.T) {
		r := ScanJournal(ctx, "licensor-test-no-such-journalctl", "licensor", since)
		if r.Status != Skip || !strings.Contains(r.Found, "journalctl is not installed") || !strings.Contains(r.Found, "--log FILE") {
			t.Errorf("%+v", r)
		}
	})
	t.Run("journalctl", func(t *testing.T) {
		if _, err := exec.LookPath("journalctl"); err != nil {
			t.Skip("journalctl is not installed")
		}
		// No unit has this name: nothing to scan is a warning, not a pass.
		unit := "licensor-doctor-test-no-such-unit.service"
		r := ScanJournal(ctx, "", unit, since)
		if r.Status == Pass || r.Code != int(codes.FileMissing) || !strings.Contains(r.Found, "the journal of "+unit) || r.Fix == "" {
			t.Errorf("%+v", r)
		}
	})
}
