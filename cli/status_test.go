package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/license"
)

// TestStatusSeatKinds: an instance's seat shows its heartbeat; a key-file
// host's, which never heartbeats, shows its key file's dates, and a key
// file issued for 7 days reads 7 days left, not 6. Every time says UTC in
// the text and is RFC 3339 in --json.
func TestStatusSeatKinds(t *testing.T) {
	ss := newSeatSite(t)
	h, site, issued, admin := ss.h, ss.site, ss.issued, ss.admin
	site.Clock.Advance(time.Minute)

	out := h.mustRun(append([]string{"status"}, admin...)...)
	var instance, keyFileHost string
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(line, "i-1"):
			instance = line
		case strings.Contains(line, h.host.Code):
			keyFileHost = line
		}
	}
	if !strings.Contains(instance, "last heartbeat 1 minute ago") || !strings.Contains(instance, "since "+license.FormatTime(issued)+" UTC") {
		t.Errorf("the instance's line: %q\n%s", instance, out)
	}
	want := "key file issued " + license.FormatTime(issued) + " UTC  held until " + license.FormatTime(issued.Add(7*24*time.Hour)) + " UTC (7 days left)"
	if !strings.Contains(keyFileHost, want) || strings.Contains(keyFileHost, "heartbeat") {
		t.Errorf("the key-file host's line: %q, want %q and no heartbeat\n%s", keyFileHost, want, out)
	}
	if !strings.Contains(out, license.FormatTime(issued.AddDate(0, 1, 0))[:10]) || strings.Contains(out, "Z UTC") {
		t.Errorf("the product's end:\n%s", out)
	}

	out = h.mustRun(append([]string{"status", "--json"}, admin...)...)
	var body struct {
		Products []struct {
			NotAfter string `json:"not_after"`
		}
	}
	if err := json.Unmarshal([]byte(out), &body); err != nil || len(body.Products) != 1 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if _, err := time.Parse(time.RFC3339, body.Products[0].NotAfter); err != nil {
		t.Errorf("not_after %q is not RFC 3339", body.Products[0].NotAfter)
	}
}
