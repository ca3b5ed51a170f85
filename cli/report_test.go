package cli

import (
	"bytes"
	"encoding/json"
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
	"github.com/licensor/licensor/report"
)

// usageSite is a running site server whose "ocr" pool (2 seats) saw, in
// the first whole hour of its log (base): i-1 (app1) and i-2 (app2)
// granted at base, i-3 (app1) denied at +10 s (501), i-1 released at
// +20 s, i-2 at +30 s. The clock is then at base+2h15m.
type usageSite struct {
	site  *sitetest.Site
	srv   *sitetest.Server
	h     *harness
	base  time.Time
	admin []string // --server, --ca, --cert, --key of an admin
}

func newUsageSite(t *testing.T) *usageSite {
	t.Helper()
	site := sitetest.New(t)
	srv := site.NewServer("a", sitetest.Product("ocr", 2, 0))
	return playUsage(t, site, []*sitetest.Server{srv})
}

// playUsage starts the servers and plays the pool's hour on them, each
// request on the next server in turn.
func playUsage(t *testing.T, site *sitetest.Site, servers []*sitetest.Server) *usageSite {
	t.Helper()
	var runs []*sitetest.Running
	for _, srv := range servers {
		runs = append(runs, srv.Start(""))
	}
	h := newHarness(t)
	h.clock, h.env.Clock = site.Clock, site.Clock
	base := site.Clock.Now().Truncate(time.Hour).Add(time.Hour)
	at := func(sec int) { site.Clock.Set(base.Add(time.Duration(sec) * time.Second)) }
	clients := map[string]*http.Client{}
	for _, name := range []string{"app1", "app2"} {
		cert, key := site.Client(name)
		cfg, err := pki.ClientTLSConfig(site.CA(), cert, key, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		t.Cleanup(tr.CloseIdleConnections)
		clients[name] = &http.Client{Transport: tr}
	}
	n := 0
	post := func(client, path, id string, want int) {
		t.Helper()
		body, _ := json.Marshal(api.InstanceRequest{Product: "ocr", InstanceID: id})
		r := runs[n%len(runs)]
		n++
		resp, err := clients[client].Post(r.URL+path, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("%s %s by %s: HTTP %d, want %d", path, id, client, resp.StatusCode, want)
		}
	}
	at(0)
	post("app1", api.PathAuthorize, "i-1", 200)
	post("app2", api.PathAuthorize, "i-2", 200)
	at(10)
	post("app1", api.PathAuthorize, "i-3", http.StatusTooManyRequests)
	at(20)
	post("app1", api.PathRelease, "i-1", 200)
	at(30)
	post("app2", api.PathRelease, "i-2", 200)
	site.Clock.Set(base.Add(2*time.Hour + 15*time.Minute))
	opsCert, opsKey := site.Client("ops")
	return &usageSite{site: site, srv: servers[0], h: h, base: base, admin: []string{"--server", runs[len(runs)-1].URL, "--ca", site.CA(), "--cert", opsCert, "--key", opsKey}}
}

// period is --from and --to for hours a to b after base.
func (u *usageSite) period(a, b int) []string {
	return []string{"--from", u.base.Add(time.Duration(a) * time.Hour).Format(time.RFC3339), "--to", u.base.Add(time.Duration(b) * time.Hour).Format(time.RFC3339)}
}

func (u *usageSite) local() []string {
	return []string{"--data", u.srv.Config.DataDir, "--license", u.srv.Config.License}
}

// writeConfig writes the server's configuration file.
func (u *usageSite) writeConfig(t *testing.T) string {
	t.Helper()
	c := u.srv.Config
	cfg := map[string]any{"license": c.License, "vendor_public_key": c.VendorPublicKey, "data_dir": c.DataDir,
		"tls": map[string]string{"ca": c.TLS.CA, "cert": c.TLS.Cert, "key": c.TLS.Key}}
	if c.Store != "" {
		cfg["store"], cfg["store_password_file"], cfg["node"] = c.Store, c.StorePassword, c.Node
	}
	b, _ := json.Marshal(cfg)
	path := filepath.Join(u.h.dir, "server.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (u *usageSite) report(t *testing.T, args ...string) *report.Report {
	t.Helper()
	out := u.h.mustRun(append(append([]string{"report", "--by", "hour", "--format", "json"}, u.period(0, 2)...), args...)...)
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report --format json: %v\n%s", err, out)
	}
	return &r
}

// TestUsageReportFigures: the same figures locally (--data, --config)
// and through the admin API, in JSON, CSV and table form.
func TestUsageReportFigures(t *testing.T) {
	u := newUsageSite(t)
	// Through the server first: its handler ends lapsed leases in the
	// log before it reports.
	remote := u.report(t, u.admin...)
	if len(remote.Products) != 1 {
		t.Fatalf("products %+v", remote.Products)
	}
	ocr := remote.Products[0]
	hour0 := ocr.Periods[0]
	if ocr.Name != "ocr" || ocr.Limit != 2 || len(ocr.Periods) != 2 || hour0.PeakInstance != 2 || hour0.PeakTotal != 2 || hour0.AtLimit != 20*time.Second ||
		hour0.Denials[501] != 1 || hour0.Denied() != 1 || hour0.Instances != 2 || hour0.Hosts != 2 || ocr.Periods[1].PeakTotal != 0 {
		t.Fatalf("ocr = %+v", ocr)
	}
	if got, want := hour0.AvgInstance, 50.0/3600; got < want-1e-9 || got > want+1e-9 {
		t.Fatalf("average %v, want %v", got, want)
	}
	wantJSON, _ := json.Marshal(remote.Products)
	for name, args := range map[string][]string{"data": u.local(), "config": {"--config", u.writeConfig(t)}} {
		r := u.report(t, args...)
		if got, _ := json.Marshal(r.Products); !bytes.Equal(got, wantJSON) || r.LicenseID != remote.LicenseID {
			t.Errorf("--%s report differs from the server's:\n got %s\nwant %s", name, got, wantJSON)
		}
	}

	csv := u.h.mustRun(append(append([]string{"report", "--by", "hour", "--format", "csv"}, u.period(0, 2)...), u.local()...)...)
	rows := strings.Split(strings.TrimSpace(csv), "\n")
	if len(rows) != 4 || rows[0] != strings.Join(report.CSVHeader, ",") || !strings.HasPrefix(rows[3], "ocr,total,") || !strings.Contains(rows[1], ",501:1,1,2,2,") {
		t.Errorf("csv:\n%s", csv)
	}
	remoteCSV := u.h.mustRun(append(append([]string{"report", "--by", "hour", "--format", "csv"}, u.period(0, 2)...), u.admin...)...)
	if remoteCSV != csv {
		t.Errorf("the server's CSV differs:\n%s\nlocal:\n%s", remoteCSV, csv)
	}

	table := u.h.mustRun(append(append([]string{"report", "--by", "day"}, u.period(0, 2)...), u.admin...)...)
	for _, want := range []string{"license " + remote.LicenseID, "ocr: limit 2 seats", "PEAK INST", "total", "1 (1)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	out := u.h.mustRun(append(append([]string{"report", "--out", "$DIR/usage.csv", "--format", "csv", "--by", "hour"}, u.period(0, 2)...), u.local()...)...)
	if data, err := os.ReadFile(filepath.Join(u.h.dir, "usage.csv")); err != nil || string(data) != csv || !strings.Contains(out, "wrote ") {
		t.Errorf("--out: %v, %q", err, out)
	}
}

// TestUsageReportSigned signs reports locally and through the server,
// and verifies them as the vendor does; edited, foreign, uncovered and
// discontinuous reports are refused with their codes.
func TestUsageReportSigned(t *testing.T) {
	u := newUsageSite(t)
	h := u.h
	signed := func(name string, from, to int, where []string) string {
		t.Helper()
		path := filepath.Join(h.dir, name)
		out := h.mustRun(append(append([]string{"report", "--signed", "--by", "hour", "--out", path}, u.period(from, to)...), where...)...)
		if !strings.Contains(out, "wrote "+path) || !strings.Contains(out, "chain    audit chain: ") {
			t.Errorf("report --signed:\n%s", out)
		}
		return path
	}
	// The log: the server's start (event 1, before base), then the
	// five events of the pool.
	vendor := []string{"--vendor-pub", u.site.VendorPubFile()}
	remote := signed("remote.json", 0, 2, u.admin)
	local := signed("local.json", 0, 2, u.local())
	first := signed("first.json", 0, 1, u.local())
	second := signed("second.json", 1, 2, []string{"--config", u.writeConfig(t)})

	for _, f := range []string{remote, local} {
		out := h.mustRun(append([]string{"report", "verify", f, "--license", u.srv.Config.License}, vendor...)...)
		for _, want := range []string{"verifies", "license  ", "server   key ", "period   " + u.base.Format(time.RFC3339), "chain    audit chain: events 2 to 6 (start 1 ", "ocr: limit 2 seats"} {
			if !strings.Contains(out, want) {
				t.Errorf("verify %s lacks %q:\n%s", f, want, out)
			}
		}
	}
	out := h.mustRun(append([]string{"report", "verify", second, "--previous", first}, vendor...)...)
	if !strings.Contains(out, "previous continues "+first) {
		t.Errorf("verify --previous:\n%s", out)
	}
	out = h.mustRun(append([]string{"report", "verify", local, "--json"}, vendor...)...)
	var v struct {
		Valid     bool           `json:"valid"`
		LicenseID string         `json:"license_id"`
		Chains    []report.Chain `json:"chains"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Valid || v.LicenseID == "" || len(v.Chains) != 1 {
		t.Errorf("verify --json: %v\n%s", err, out)
	}

	data, err := os.ReadFile(local)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(name string, fn func(s string) string) string {
		t.Helper()
		edited := fn(string(data))
		if edited == string(data) {
			t.Fatalf("%s: nothing edited", name)
		}
		path := filepath.Join(h.dir, name)
		if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	readable := edit("readable.json", func(s string) string { return strings.Replace(s, `"peak_instance":2`, `"peak_instance":1`, 1) })
	sig := edit("sig.json", func(s string) string {
		end := strings.Index(s, `","payload"`)
		i := end - 20 // inside the signature, clear of its last character's padding bits
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	})
	other := sitetest.New(t).NewServer("b", sitetest.Product("ocr", 2, 0))
	for _, tt := range []struct {
		name string
		args []string
		code codes.Code
		exit int
	}{
		{"readable-copy-edited", []string{"report", "verify", readable}, codes.ReportMalformed, ExitFailure},
		{"signature-edited", []string{"report", "verify", sig}, codes.ReportSignature, ExitFailure},
		{"another-sites-license", []string{"report", "verify", local, "--license", other.Config.License}, codes.ReportWrongServer, ExitFailure},
		{"not-continuing", []string{"report", "verify", local, "--previous", first}, codes.ReportChainGap, ExitFailure},
		{"previous-edited", []string{"report", "verify", second, "--previous", readable}, codes.ReportMalformed, ExitFailure},
		{"missing-file", []string{"report", "verify", "$DIR/none.json"}, codes.FileMissing, ExitFailure},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status := h.run(append(tt.args, vendor...)...); status != tt.exit || !strings.Contains(h.stderr.String(), tag(tt.code)) || !strings.Contains(h.stderr.String(), "fix: ") {
				t.Errorf("exit %d, want %d with %s\n%s", status, tt.exit, tag(tt.code), h.stderr)
			}
		})
	}
	t.Run("wrong-vendor-key", func(t *testing.T) {
		if status := h.run("report", "verify", local, "--vendor-pub", other.Config.VendorPublicKey); status != ExitFailure {
			t.Fatalf("exit %d", status)
		}
		// The other site's vendor key file is the same path layout but
		// another key: the license does not verify with it.
		if !strings.Contains(h.stderr.String(), tag(codes.ReportWrongServer)) {
			t.Errorf("stderr:\n%s", h.stderr)
		}
	})
	t.Run("refusal-as-json", func(t *testing.T) {
		if status := h.run(append([]string{"report", "verify", sig, "--json"}, vendor...)...); status != ExitFailure {
			t.Fatalf("exit %d", status)
		}
		var out struct {
			Valid bool       `json:"valid"`
			Error *errorJSON `json:"error"`
		}
		if err := json.Unmarshal(h.stdout.Bytes(), &out); err != nil || out.Valid || out.Error == nil || out.Error.Code != int(codes.ReportSignature) {
			t.Errorf("%v\n%s", err, h.stdout)
		}
	})

	// The server signs nothing the log does not cover: before its first
	// event, or a period not yet over; locally nor remotely.
	for _, tt := range []struct {
		name  string
		where []string
		from  int
		to    int
	}{
		{"before-the-log-local", u.local(), -1, 1},
		{"before-the-log-remote", u.admin, -1, 1},
		{"future-local", u.local(), 0, 3},
		{"future-remote", u.admin, 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"report", "--signed", "--out", "$DIR/x.json"}, u.period(tt.from, tt.to)...), tt.where...)
			if status := h.run(args...); status != ExitFailure || !strings.Contains(h.stderr.String(), tag(codes.ReportPeriodUncovered)) {
				t.Errorf("exit %d\n%s", status, h.stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(h.dir, "x.json")); err == nil {
		t.Error("a refused report left a file")
	}

	// A data directory whose server key the license does not trust.
	stranger := filepath.Join(h.dir, "stranger")
	if err := os.MkdirAll(stranger, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"licensor.db", "server.key"} {
		src := filepath.Join(u.srv.Config.DataDir, f)
		if f == "server.key" {
			src = filepath.Join(other.Config.DataDir, f)
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(stranger, f), b, 0o600)
	}
	args := append(append([]string{"report", "--signed", "--data", stranger, "--license", u.srv.Config.License}, u.period(0, 2)...), "--out", "$DIR/y.json")
	if status := h.run(args...); status != ExitFailure || !strings.Contains(h.stderr.String(), tag(codes.ReportWrongServer)) {
		t.Errorf("signing with a key the license does not trust: exit %d\n%s", status, h.stderr)
	}
}

// TestUsageReportUsage: mistakes in the command line exit 2.
func TestUsageReportUsage(t *testing.T) {
	h := newHarness(t)
	dir := []string{"--data", "$DIR"}
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"no-store", []string{"report"}},
		{"two-stores", []string{"report", "--data", "$DIR", "--config", "$DIR/x.json"}},
		{"ca-without-server", append([]string{"report", "--ca", "ca.crt"}, dir...)},
		{"bad-by", append([]string{"report", "--by", "week"}, dir...)},
		{"bad-format", append([]string{"report", "--format", "xml"}, dir...)},
		{"bad-from", append([]string{"report", "--from", "yesterday"}, dir...)},
		{"bad-to", append([]string{"report", "--to", "2026-13-01"}, dir...)},
		{"from-after-to", append([]string{"report", "--from", "2026-02-01", "--to", "2026-01-01"}, dir...)},
		{"signed-csv", append([]string{"report", "--signed", "--format", "csv"}, dir...)},
		{"signed-without-license", append([]string{"report", "--signed"}, dir...)},
		{"argument", append([]string{"report", "x"}, dir...)},
		{"verify-no-file", []string{"report", "verify", "--vendor-pub", "v.pub"}},
		{"verify-no-vendor-key", []string{"report", "verify", "usage.json"}},
		{"verify-two-files", []string{"report", "verify", "a.json", "b.json", "--vendor-pub", "v.pub"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status := h.run(tt.args...); status != ExitUsage {
				t.Errorf("exit %d, want %d\n%s", status, ExitUsage, h.stderr)
			}
		})
	}
	if status := h.run("report", "--data", "$DIR/none"); status != ExitFailure || !strings.Contains(h.stderr.String(), tag(codes.FileMissing)) {
		t.Errorf("a data directory with no store: exit %d\n%s", status, h.stderr)
	}
}
