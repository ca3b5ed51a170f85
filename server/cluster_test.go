package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/pgtest"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/server"
)

// cluster is several site servers sharing one PostgreSQL database.
type cluster struct {
	site  *sitetest.Site
	nodes []*sitetest.Server
	runs  []*sitetest.Running
	db    string // the database's URL, without its password
}

// newCluster makes n nodes with one cluster license, on a fresh database
// whose password is in a file, as an operator would configure it. via,
// when set, gives a node's database address (a proxy's, say).
func newCluster(t *testing.T, n int, via func(i int, db string) string) *cluster {
	t.Helper()
	return newClusterOn(t, sitetest.New(t), n, via, nil)
}

// newClusterOn makes the cluster on site; each, when set, adjusts a node
// before it starts.
func newClusterOn(t *testing.T, site *sitetest.Site, n int, via func(i int, db string) string, each func(i int, srv *sitetest.Server)) *cluster {
	t.Helper()
	return newClusterDB(t, site, pgtest.Database(t), n, via, each)
}

// newClusterDB makes the cluster on the database of dbURL (a superuser's
// URL, with its password).
func newClusterDB(t *testing.T, site *sitetest.Site, dbURL string, n int, via func(i int, db string) string, each func(i int, srv *sitetest.Server)) *cluster {
	t.Helper()
	db, password := pgtest.WithoutPassword(t, dbURL)
	pwFile := filepath.Join(site.Dir, "pgpassword")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint("node-", string(rune('a'+i)))
	}
	if os.Getenv("CLUSTER_DEBUG") != "" {
		site.Logs = os.Stderr
	}
	c := &cluster{site: site, db: db}
	c.nodes = site.NewCluster(names, sitetest.Product("ocr", 10, 0), sitetest.Product("asr", 10, 100))
	for i, srv := range c.nodes {
		srv.Config.Store, srv.Config.StorePassword, srv.Config.Node = db, pwFile, srv.Name
		if via != nil {
			srv.Config.Store = via(i, db)
		}
		if each != nil {
			each(i, srv)
		}
	}
	for _, srv := range c.nodes {
		c.runs = append(c.runs, srv.Start(""))
	}
	return c
}

// post sends body to path on node i as client name; it returns the HTTP
// status and the code of an error answer (0 for success).
func (c *cluster) post(t *testing.T, client *http.Client, i int, path string, body any) (int, int) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := client.Post(c.runs[i].URL+path, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, 0
	}
	var eb api.ErrorBody
	if err := json.Unmarshal(data, &eb); err != nil {
		t.Fatalf("%s on node %d: HTTP %d, %q", path, i, resp.StatusCode, data)
	}
	return resp.StatusCode, eb.Code
}

func (c *cluster) ready(t *testing.T, client *http.Client, i int) int {
	t.Helper()
	resp, err := client.Get(c.runs[i].URL + api.PathReady)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestClusterLimitsAreExact: registrations spread over three nodes, all
// at once, grant exactly the license's instances; every node sees the
// pool the same.
func TestClusterLimitsAreExact(t *testing.T) {
	c := newCluster(t, 3, nil)
	app, ops := mtlsClient(t, c.site, "app1"), mtlsClient(t, c.site, "ops")
	const clients = 60
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[int]int{}
	for i := range clients {
		wg.Go(func() {
			_, code := c.post(t, app, i%3, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: fmt.Sprint("i-", i)})
			mu.Lock()
			got[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if got[0] != 10 || got[int(codes.InstanceLimit)] != clients-10 {
		t.Fatalf("answers by code %v; want 10 grants and %d refusals with %d", got, clients-10, codes.InstanceLimit)
	}
	for i := range c.runs {
		resp, err := ops.Get(c.runs[i].URL + api.PathInstances + "?product=ocr")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Products []struct {
				Product   string `json:"product"`
				Held      int    `json:"held"`
				Instances []any  `json:"instances"`
			} `json:"products"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if len(body.Products) != 1 || len(body.Products[0].Instances) != 10 {
			t.Fatalf("node %d lists %+v; want the 10 seats", i, body.Products)
		}
	}
}

// TestClusterSeatMovesAndEndsAnywhere: a seat taken on one node is
// resumed and renewed on another; a revoke on a third ends it everywhere.
func TestClusterSeatMovesAndEndsAnywhere(t *testing.T) {
	c := newCluster(t, 3, nil)
	app, app2, ops := mtlsClient(t, c.site, "app1"), mtlsClient(t, c.site, "app2"), mtlsClient(t, c.site, "ops")
	seat := api.InstanceRequest{Product: "ocr", InstanceID: "i-1"}
	if _, code := c.post(t, app, 0, api.PathAuthorize, seat); code != 0 {
		t.Fatalf("authorize on node a: code %d", code)
	}
	if _, code := c.post(t, app, 1, api.PathHeartbeat, seat); code != 0 {
		t.Fatalf("heartbeat on node b: code %d, want the seat resumed", code)
	}
	if _, code := c.post(t, app2, 2, api.PathHeartbeat, seat); code != int(codes.LeaseNotOwned) {
		t.Fatalf("another identity's heartbeat on node c: code %d, want %d", code, codes.LeaseNotOwned)
	}
	if _, code := c.post(t, ops, 2, api.PathRevoke, map[string]string{"product": "ocr", "instance_id": "i-1"}); code != 0 {
		t.Fatalf("revoke on node c: code %d", code)
	}
	for i := range 2 {
		if _, code := c.post(t, app, i, api.PathHeartbeat, seat); code == 0 {
			t.Fatalf("heartbeat on node %d after a revoke on node c succeeded", i)
		}
	}
}

// TestClusterNodeCutOffNeverOverGrants: a node whose connections to the
// database are dropped stops granting with the store's code and turns
// not ready, while the other node serves; reconnected, it recovers by
// itself and still keeps the limit.
func TestClusterNodeCutOffNeverOverGrants(t *testing.T) {
	var proxy *pgtest.Proxy
	c := newCluster(t, 2, func(i int, db string) string {
		if i != 0 {
			return db
		}
		proxy = pgtest.NewProxy(t, db)
		return proxy.Via(db)
	})
	app, ops := mtlsClient(t, c.site, "app1"), mtlsClient(t, c.site, "ops")
	for i := range 9 {
		if _, code := c.post(t, app, 1, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: fmt.Sprint("b-", i)}); code != 0 {
			t.Fatalf("authorize on node b: code %d", code)
		}
	}
	proxy.Cut()
	if status, code := c.post(t, app, 0, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "a-1"}); status != http.StatusServiceUnavailable || code != int(codes.StoreUnavailable) {
		t.Fatalf("authorize on the cut-off node: HTTP %d code %d, want 503 with %d", status, code, codes.StoreUnavailable)
	}
	if status := c.ready(t, ops, 0); status != http.StatusServiceUnavailable {
		t.Fatalf("readyz on the cut-off node: HTTP %d, want 503", status)
	}
	// The other node grants the last seat meanwhile.
	if _, code := c.post(t, app, 1, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "b-9"}); code != 0 {
		t.Fatalf("the last seat on node b: code %d", code)
	}
	proxy.Restore()
	deadline := time.Now().Add(10 * time.Second)
	for c.ready(t, ops, 0) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the node did not recover within 10s of the database coming back")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, code := c.post(t, app, 0, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "a-1"}); code != int(codes.InstanceLimit) {
		t.Fatalf("authorize on the recovered node with the pool full: code %d, want %d", code, codes.InstanceLimit)
	}
	if _, code := c.post(t, app, 0, api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: "b-3"}); code != 0 {
		t.Fatalf("a seat taken on node b renewed on the recovered node: code %d", code)
	}
}

// TestClusterNodeWithSkewedClock: a node whose clock drifts off the
// database's refuses to decide with 519, naming itself and the skew, and
// turns not ready, while the others serve; set right, it serves again.
// A node started with a skewed clock does not start.
func TestClusterNodeWithSkewedClock(t *testing.T) {
	site := sitetest.New(t)
	own := clock.NewFake(site.Clock.Now())
	c := newClusterOn(t, site, 2, nil, func(i int, srv *sitetest.Server) {
		if i == 1 {
			srv.Clock = own
		}
	})
	app, ops := mtlsClient(t, c.site, "app1"), mtlsClient(t, c.site, "ops")
	own.Advance(time.Minute) // lease_ttl 90s: at most 22.5s off
	status, code, msg := c.readyBody(t, ops, 1)
	if status != http.StatusServiceUnavailable || code != int(codes.ClockSkew) || !strings.Contains(msg, `"node-b"`) || !strings.Contains(msg, "ahead of") {
		t.Fatalf("readyz on the skewed node: HTTP %d code %d %q; want 503 with %d naming the node and the skew", status, code, msg, codes.ClockSkew)
	}
	if _, code := c.post(t, app, 1, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "i-1"}); code != int(codes.ClockSkew) {
		t.Fatalf("authorize on the skewed node: code %d, want %d", code, codes.ClockSkew)
	}
	if _, code := c.post(t, app, 0, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "i-1"}); code != 0 {
		t.Fatalf("authorize on the other node: code %d", code)
	}
	own.Set(site.Clock.Now())
	if status, code, msg := c.readyBody(t, ops, 1); status != http.StatusOK {
		t.Fatalf("readyz once the clock is right: HTTP %d code %d %q", status, code, msg)
	}

	// Started with its clock off, a node refuses to start.
	late := c.nodes[1]
	late.Config.Node = "node-late"
	st, err := storeopen.Open(context.Background(), storeopen.Setting{Store: late.Config.Store, PasswordFile: late.Config.StorePassword, Node: "node-late"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = server.New(late.Config, server.Options{Clock: clock.NewFake(site.Clock.Now().Add(-time.Hour)), Store: st,
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return site.Host, nil }})
	if codes.Of(err) != codes.ClockSkew || !strings.Contains(err.Error(), "behind") {
		t.Fatalf("New with a clock an hour behind = %v, want %d", err, codes.ClockSkew)
	}
}

func (c *cluster) readyBody(t *testing.T, client *http.Client, i int) (int, int, string) {
	t.Helper()
	resp, err := client.Get(c.runs[i].URL + api.PathReady)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var eb api.ErrorBody
	json.NewDecoder(resp.Body).Decode(&eb)
	return resp.StatusCode, eb.Code, eb.Message
}

// TestClusterServesOneLicense: a license issued later, reloaded on one
// node, is followed by the others; a node started with an older license
// file serves the cluster's; a license in force that does not name a
// node makes that node refuse rather than serve another set of limits.
func TestClusterServesOneLicense(t *testing.T) {
	c := newCluster(t, 2, nil)
	ops := mtlsClient(t, c.site, "ops")
	licenseID := func(i int) string {
		t.Helper()
		resp, err := ops.Get(c.runs[i].URL + api.PathLicense)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			ID string `json:"id"`
		}
		json.NewDecoder(resp.Body).Decode(&v)
		return v.ID
	}
	first := licenseID(0)
	if licenseID(1) != first {
		t.Fatal("the nodes started under different licenses")
	}
	// A later license, with more seats, is reloaded on node a only; node
	// b's file keeps the first.
	later := func(nodes []*sitetest.Server) {
		old, err := os.ReadFile(c.nodes[1].Config.License)
		if err != nil {
			t.Fatal(err)
		}
		now := c.site.Clock.Now()
		c.site.Clock.Set(now.Add(time.Minute))
		c.site.WriteClusterLicense(nodes, nil, sitetest.Product("ocr", 20, 0))
		c.site.Clock.Set(now)
		os.WriteFile(c.nodes[1].Config.License, old, 0o644)
	}
	later(c.nodes)
	if err := c.runs[0].Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := licenseID(0)
	if second == first {
		t.Fatal("node a did not take up its new license")
	}
	if status := c.ready(t, ops, 1); status != http.StatusOK {
		t.Fatalf("readyz on node b: HTTP %d", status)
	}
	if got := licenseID(1); got != second {
		t.Fatalf("node b serves %s, want the cluster's %s", got, second)
	}
	// Node b's file still holds the first license: restarted, it serves
	// the cluster's.
	c.runs[1].Stop()
	c.runs[1] = c.nodes[1].Start("")
	if got := licenseID(1); got != second {
		t.Fatalf("node b restarted with an older file serves %s, want the cluster's %s", got, second)
	}
	// A later license that names node a only: node b refuses to decide.
	c.site.Clock.Advance(time.Second)
	later(c.nodes[:1])
	if err := c.runs[0].Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	status, code, msg := c.readyBody(t, ops, 1)
	if status == http.StatusOK || code != int(codes.ServerKeyMismatch) || !strings.Contains(msg, "the cluster serves license") {
		t.Fatalf("readyz on node b under a license naming node a only: HTTP %d code %d %q; want a refusal with %d", status, code, msg, codes.ServerKeyMismatch)
	}
	app := mtlsClient(t, c.site, "app1")
	if _, code := c.post(t, app, 1, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "i-9"}); code != int(codes.ServerKeyMismatch) {
		t.Fatalf("authorize on node b: code %d, want %d", code, codes.ServerKeyMismatch)
	}
}

// TestClusterSharesOneQPSBudget: a product's licensed QPS is shared among
// its instances on every node, and the rate used is the cluster's, summed
// over what each node was told.
func TestClusterSharesOneQPSBudget(t *testing.T) {
	site := sitetest.New(t)
	c := newClusterOn(t, site, 2, nil, func(i int, srv *sitetest.Server) {
		srv.Config.LeaseTTL = server.Duration(10 * time.Minute) // the fake clock moves by minutes
		srv.Config.ReapInterval = server.Duration(10 * time.Millisecond)
		srv.Config.ClusterInterval = server.Duration(50 * time.Millisecond)
	})
	app, ops := mtlsClient(t, c.site, "app1"), mtlsClient(t, c.site, "ops")
	share := func(i int, id string, calls int64) float64 {
		t.Helper()
		b, _ := json.Marshal(api.InstanceRequest{Product: "asr", InstanceID: id, Mode: "async", Calls: calls})
		path := api.PathHeartbeat
		if calls == 0 {
			path = api.PathAuthorize
		}
		resp, err := app.Post(c.runs[i].URL+path, "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v struct {
			QPS *api.QPSBody `json:"qps"`
		}
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &v) != nil || v.QPS == nil {
			t.Fatalf("%s of %s on node %d: HTTP %d %s", path, id, i, resp.StatusCode, data)
		}
		return v.QPS.Share
	}
	share(0, "x", 0)
	if got := share(1, "y", 0); got != 50 {
		t.Fatalf("the second instance, on the other node, has a share of %v; want 100/2", got)
	}
	qpsUsed := func(i int) float64 {
		resp, err := ops.Get(c.runs[i].URL + api.PathInstances + "?product=asr")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body server.InstancesBody
		json.NewDecoder(resp.Body).Decode(&body)
		if len(body.Products) != 1 {
			t.Fatalf("instances: %+v", body)
		}
		return body.Products[0].QPSUsed
	}
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 10s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Each node's rate is measured between two of its ticks: let every
	// node start its measure, report a minute of calls to each, and let
	// a minute pass.
	time.Sleep(100 * time.Millisecond)
	site.Clock.Advance(time.Minute)
	time.Sleep(100 * time.Millisecond)
	share(0, "x", 600)  // 10 calls/s
	share(1, "y", 1200) // 20 calls/s
	site.Clock.Advance(time.Minute)
	for i := range 2 {
		wait(fmt.Sprintf("node %d reports the cluster's 30 calls/s", i), func() bool { return qpsUsed(i) > 29.9 && qpsUsed(i) < 30.1 })
	}
	// The metrics say so, and name the node.
	resp, err := ops.Get(c.runs[1].URL + api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{`licensor_qps_used{product="asr"} 30`, `licensor_node_info{license="`, `node="node-b"`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("the metrics lack %s", want)
		}
	}
}

// TestClusterDatabaseStopsAndReturns stops the database itself (as a
// crash would) under two serving nodes: they refuse new seats with 701
// and turn not ready; started again, it is taken up by both within
// seconds, with no restart, no lease lost and no seat counted twice.
func TestClusterDatabaseStopsAndReturns(t *testing.T) {
	pg := pgtest.Private(t)
	c := newClusterDB(t, sitetest.New(t), pg.URL, 2, nil, nil)
	app, ops := mtlsClient(t, c.site, "app1"), mtlsClient(t, c.site, "ops")
	for i := range 6 {
		if _, code := c.post(t, app, i%2, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: fmt.Sprint("i-", i)}); code != 0 {
			t.Fatalf("authorize i-%d: code %d", i, code)
		}
	}
	pg.Pause(t)
	for i := range 2 {
		if status, code := c.post(t, app, i, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "new"}); status != http.StatusServiceUnavailable || code != int(codes.StoreUnavailable) {
			t.Fatalf("authorize on node %d with the database stopped: HTTP %d code %d, want 503 with %d", i, status, code, codes.StoreUnavailable)
		}
		if status := c.ready(t, ops, i); status != http.StatusServiceUnavailable {
			t.Fatalf("readyz on node %d with the database stopped: HTTP %d", i, status)
		}
	}
	pg.Resume(t)
	deadline := time.Now().Add(15 * time.Second)
	for i := range 2 {
		for c.ready(t, ops, i) != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("node %d not ready 15s after the database came back", i)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Every lease is there, renewed on either node...
	for i := range 6 {
		if _, code := c.post(t, app, (i+1)%2, api.PathHeartbeat, api.InstanceRequest{Product: "ocr", InstanceID: fmt.Sprint("i-", i)}); code != 0 {
			t.Fatalf("heartbeat i-%d after the database came back: code %d", i, code)
		}
	}
	// ...and the pool counts each once: exactly 4 more seats of 10.
	for i := 6; i < 10; i++ {
		if _, code := c.post(t, app, i%2, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: fmt.Sprint("i-", i)}); code != 0 {
			t.Fatalf("authorize i-%d: code %d", i, code)
		}
	}
	if _, code := c.post(t, app, 0, api.PathAuthorize, api.InstanceRequest{Product: "ocr", InstanceID: "i-10"}); code != int(codes.InstanceLimit) {
		t.Fatalf("the 11th seat of 10: code %d, want %d", code, codes.InstanceLimit)
	}
}
