package cli

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/pki"
)

// seatSite is a running site server with one seat of each kind in its
// "ocr" pool (3 seats): the key-file host "render-01" took one with
// 'licensor renew', the instance i-1 the other over mutual TLS.
type seatSite struct {
	site   *sitetest.Site
	url    string
	h      *harness
	renew  []string  // the renew command the host ran
	issued time.Time // when its key file was issued
	admin  []string  // --server, --ca, --cert, --key of an admin
	server *sitetest.Running
}

func newSeatSite(t *testing.T) *seatSite {
	t.Helper()
	site := sitetest.New(t)
	r := site.NewServer("a", sitetest.Product("ocr", 3, 0)).Start("")
	h := newHarness(t)
	h.clock, h.env.Clock = site.Clock, site.Clock
	h.host = sitetest.FakeHost("render-01")
	renewCert, renewKey := site.Client("renewer")
	s := &seatSite{site: site, url: r.URL, h: h, issued: site.Clock.Now(), server: r,
		renew: []string{"renew", filepath.Join(h.dir, "host.key"), r.URL, "--ca", site.CA(), "--cert", renewCert, "--key", renewKey, "--vendor-pub", site.VendorPubFile()}}
	if status := h.run(s.renew...); status != 0 {
		t.Fatalf("renew: exit %d\n%s", status, h.stderr)
	}
	appCert, appKey := site.Client("app1")
	tlsCfg, err := pki.ClientTLSConfig(site.CA(), appCert, appKey, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post(r.URL+api.PathAuthorize, "application/json", strings.NewReader(`{"product":"ocr","instance_id":"i-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("authorize: HTTP %d", resp.StatusCode)
	}
	opsCert, opsKey := site.Client("ops")
	s.admin = []string{"--server", r.URL, "--ca", site.CA(), "--cert", opsCert, "--key", opsKey}
	return s
}
