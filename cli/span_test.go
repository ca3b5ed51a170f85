package cli

import (
	"strings"
	"testing"
	"time"
)

// TestPKIShowReadsWholeDays: a client certificate issued for 7 days and
// shown a minute later has 7 days left, not 6, as every span licensor
// prints reads.
func TestPKIShowReadsWholeDays(t *testing.T) {
	h := newHarness(t)
	h.mustRun("pki", "init", "--dir", "$DIR/site")
	h.mustRun("pki", "client", "--dir", "$DIR/site", "--name", "ops", "--role", "admin", "--days", "7")
	h.clock.Advance(time.Minute)
	out := h.mustRun("pki", "show", "$DIR/site/clients/ops.crt")
	if !strings.Contains(out, "(7 days left)") {
		t.Errorf("pki show a minute after issue:\n%s", out)
	}
	h.clock.Advance(8 * 24 * time.Hour)
	if out := h.mustRun("pki", "show", "$DIR/site/clients/ops.crt"); !strings.Contains(out, "EXPIRED 1 day ago") {
		t.Errorf("pki show a day after expiry:\n%s", out)
	}
}
