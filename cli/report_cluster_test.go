package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/internal/sitetest"
)

// TestUsageReportCluster: two nodes on PostgreSQL, the pool's requests
// alternating between them. Every node and a local read of the database
// report the same figures, and a signed report names both nodes' chains
// and verifies.
func TestUsageReportCluster(t *testing.T) {
	db, password := pgtest.WithoutPassword(t, pgtest.Database(t))
	site := sitetest.New(t)
	pwFile := filepath.Join(site.Dir, "pgpass")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := site.NewCluster([]string{"n1", "n2"}, sitetest.Product("ocr", 2, 0))
	for _, srv := range nodes {
		srv.Config.Store, srv.Config.StorePassword, srv.Config.Node = db, pwFile, srv.Name
	}
	u := playUsage(t, site, nodes)
	remote := u.report(t, u.admin...)
	ocr := remote.Products[0]
	if h := ocr.Periods[0]; ocr.Limit != 2 || h.PeakInstance != 2 || h.AtLimit != 20*time.Second || h.Denials[501] != 1 || h.Instances != 2 || h.Hosts != 2 || remote.Node != "n2" {
		t.Fatalf("report from n2: node %q, %+v", remote.Node, ocr)
	}
	local := u.report(t, "--config", u.writeConfig(t))
	if a, b := mustMarshal(t, local.Products), mustMarshal(t, remote.Products); a != b {
		t.Errorf("the local report of the database differs:\n got %s\nwant %s", a, b)
	}

	path := filepath.Join(u.h.dir, "usage.json")
	u.h.mustRun(append(append([]string{"report", "--signed", "--by", "hour", "--out", path}, u.period(0, 2)...), u.admin...)...)
	out := u.h.mustRun("report", "verify", path, "--vendor-pub", site.VendorPubFile(), "--license", nodes[0].Config.License)
	// n1 took requests 1, 3 and 5, n2 requests 2 and 4, after their starts.
	for _, want := range []string{"verifies", "(n2)", "chain    node n1: events 2 to 4 (start 1 ", "chain    node n2: events 2 to 3 (start 1 "} {
		if !strings.Contains(out, want) {
			t.Errorf("verify lacks %q:\n%s", want, out)
		}
	}
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
