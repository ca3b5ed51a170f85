package cli

import (
	"net/http"
	"strings"
	"testing"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/sitetest"
)

// TestSiteClientWeirdReply: the commands that read a site server's
// answers themselves ('status', 'renew', 'revoke', 'check --upstream',
// 'doctor token --jwks') say weird_reply (8) for a refusal whose body
// claims code 0 or a code its status does not go with, as the SDK does.
func TestSiteClientWeirdReply(t *testing.T) {
	site := sitetest.New(t)
	h := newHarness(t)
	h.clock = site.Clock
	h.env.Clock = site.Clock
	cert, key := site.Client("ops")
	tests := []struct {
		name   string
		status int
		body   string
		say    string
	}{
		{"403-claiming-ok", http.StatusForbidden, `{"code":0,"name":"ok"}`, "HTTP 403"},
		{"code-with-another-status", http.StatusTooManyRequests, `{"code":503,"name":"expired"}`, "HTTP 429"},
		{"not-an-error-body", http.StatusNotFound, `404 page not found`, "HTTP 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := impostorSite(t, site, tt.status, tt.body)
			for _, args := range [][]string{
				{"status", "--server", url, "--ca", site.CA(), "--cert", cert, "--key", key},
				{"doctor", "token", "a.b.c", "--jwks", url + api.PathJWKS, "--ca", site.CA(), "--cert", cert, "--key", key},
			} {
				status := h.run(args...)
				out := h.stdout.String() + h.stderr.String()
				if status != ExitFailure || !strings.Contains(out, tag(codes.WeirdReply)) || !strings.Contains(out, tt.say) {
					t.Fatalf("%s: exit %d, want 1 naming %s and %s:\n%s", args[0], status, tag(codes.WeirdReply), tt.say, out)
				}
				if strings.Contains(out, "code=0") || strings.Contains(out, "Nothing to fix") {
					t.Errorf("%s says ok:\n%s", args[0], out)
				}
			}
		})
	}
}
