package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/cli"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/sitetest"
	"github.com/licensor/licensor/internal/storeopen"
	"github.com/licensor/licensor/sdk"
	"github.com/licensor/licensor/server"
	"github.com/licensor/licensor/store"
)

// The browser tests drive headless Chromium (Debian's chromium package)
// with chromedp: only these tests import it, never the server or the SDK.

// ScreenshotsEnv names the directory the browser tests save their
// screenshots in (a fresh temporary directory when it is not set).
const ScreenshotsEnv = "CONSOLE_SCREENSHOTS"

// chromium returns the browser's path, or skips t (fails it under CI,
// where the browser tests must run).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed: under CI the browser tests must run (scripts/test installs Debian's chromium)")
	}
	t.Skip("chromium is not installed; scripts/test installs Debian's chromium package")
	return ""
}

// page is one browser tab on the console, with what it logged and every
// request it made.
type page struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	errors   []string // console errors, exceptions, error log entries
	requests []string // the URL of every request
}

// newBrowser starts Chromium with a fresh profile and no way out of the
// machine: every host name but 127.0.0.1 fails to resolve.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox, // as root, Chromium's sandbox does not start
		chromedp.DisableGPU,
		chromedp.WindowSize(1280, 960),
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
	)
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return ctx
}

// newPage opens a tab; isolated (in a browser context of its own, and then
// parent must be a tab of the browser), it shares no cookie with the others.
func newPage(t *testing.T, browser context.Context, isolated bool) *page {
	t.Helper()
	var opts []chromedp.ContextOption
	if isolated {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(browser, opts...)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: ctx}
	err := chromedp.Listen(ctx, func(ev any) {
		p.mu.Lock()
		defer p.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				p.errors = append(p.errors, "console.error: "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			x := ev.ExceptionDetails
			msg := x.Text
			if x.Exception != nil {
				msg += " " + x.Exception.Description
			}
			p.errors = append(p.errors, fmt.Sprintf("exception: %s at %s:%d", msg, x.URL, x.LineNumber))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				p.errors = append(p.errors, fmt.Sprintf("log %s: %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			p.requests = append(p.requests, ev.Request.URL)
		}
	})
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return p
}

// run runs an action on the page, bounded in time.
func run[T any](p *page, what string, a chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		dctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		defer cancel()
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.t.Fatalf("%s: %v\nconsole errors: %q\nthe page:\n%s", what, err, p.consoleErrors(), body)
	}
	return v
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	run(p, what, chromedp.Steps(steps...))
}

func (p *page) text(sel string) string {
	p.t.Helper()
	return strings.TrimSpace(run(p, "text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func (p *page) eval(what, js string) any {
	p.t.Helper()
	return run(p, what, chromedp.Evaluate[any](js))
}

// ready waits until the console has drawn a page.
func (p *page) ready(name string) {
	p.t.Helper()
	run(p, "page "+name, chromedp.Poll[bool](fmt.Sprintf(`document.body.dataset.ready === %q`, name)))
}

// screenshot saves the page as NAME.png in the screenshots directory.
func (p *page) screenshot(dir, name string) {
	p.t.Helper()
	png := run(p, "screenshot", chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

func (p *page) consoleErrors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errors...)
}

func (p *page) urls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

// demoSite is a site server with a real pool: SDK instances hold seats of
// ocr and asr, a key-file host holds one of ocr, tts is full and has
// refused an instance (501), and asr has refused a sync client (504).
type demoSite struct {
	site  *sitetest.Site
	srv   *sitetest.Server
	run   *sitetest.Running
	admin []string // --server, --ca, --cert, --key of the admin
	ops   *http.Client
}

func newDemoSite(t *testing.T) *demoSite {
	t.Helper()
	site := sitetest.New(t)
	srv := site.NewServer("auth-01", sitetest.Product("ocr", 10, 0), sitetest.Product("asr", 4, 100), sitetest.Product("tts", 2, 0))
	d := &demoSite{site: site, srv: srv, run: srv.Start("")}
	opsCert, opsKey := site.Client("ops")
	d.admin = []string{"--server", d.run.URL, "--ca", site.CA(), "--cert", opsCert, "--key", opsKey}
	pr := &proxied{site: site, srv: d.run}
	d.ops = pr.tlsClient(t, "ops")

	instance := func(product, id, cert string, async bool) error {
		certFile, keyFile := site.Client(cert)
		c, err := sdk.New(sdk.Config{Servers: []string{d.run.URL}, CAFile: site.CA(), CertFile: certFile, KeyFile: keyFile,
			VendorPublicKey: site.VendorPub, Product: product, InstanceID: id, Async: async, Clock: site.Clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c.Authorize(context.Background())
	}
	for i, cert := range []string{"app1", "app1", "app1", "app2", "app2"} {
		if err := instance("ocr", fmt.Sprintf("ocr-%d", i+1), cert, false); err != nil {
			t.Fatalf("ocr instance: %v", err)
		}
	}
	for i := range 2 {
		if err := instance("asr", fmt.Sprintf("asr-%d", i+1), "app2", true); err != nil {
			t.Fatalf("asr instance: %v", err)
		}
		if err := instance("tts", fmt.Sprintf("tts-%d", i+1), "app1", false); err != nil {
			t.Fatalf("tts instance: %v", err)
		}
	}
	if err := instance("tts", "tts-3", "app1", false); codes.Of(err) != codes.InstanceLimit {
		t.Fatalf("a third tts instance: %v", err)
	}
	if err := instance("asr", "asr-sync", "app1", false); codes.Of(err) != codes.QPSNeedsAsync {
		t.Fatalf("a sync asr instance: %v", err)
	}
	renewCert, renewKey := site.Client("renewer")
	env := &cli.Env{Stdout: &sitetest.Buffer{}, Stderr: &sitetest.Buffer{}, Clock: site.Clock,
		Fingerprint: func() (*fingerprint.Fingerprint, error) { return sitetest.FakeHost("render-01"), nil },
		Hostname:    func() (string, error) { return "render-01", nil }}
	if err := env.Run(context.Background(), []string{"renew", filepath.Join(t.TempDir(), "host.key"), d.run.URL,
		"--ca", site.CA(), "--cert", renewCert, "--key", renewKey, "--product", "ocr"}); err != nil {
		t.Fatalf("renew: %v", err)
	}
	return d
}

// pools is the pool as the admin API shows it, product by product.
func (d *demoSite) pools(t *testing.T) map[string]server.ProductPool {
	t.Helper()
	resp, err := d.ops.Get(d.run.URL + api.PathInstances)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body server.InstancesBody
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]server.ProductPool{}
	for _, p := range body.Products {
		out[p.Product] = p
	}
	return out
}

// startConsole runs 'licensor console' (the cli code, in this process)
// and returns the link it printed.
func startConsole(t *testing.T, d *demoSite) string {
	t.Helper()
	out := &sitetest.Buffer{}
	env := &cli.Env{Stdout: out, Stderr: out, Clock: d.site.Clock}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx, append([]string{"console"}, d.admin...)) }()
	t.Cleanup(func() { cancel(); <-done })
	link := regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=[0-9a-f]+`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if l := link.FindString(out.String()); l != "" {
			return l
		}
		select {
		case err := <-done:
			t.Fatalf("licensor console stopped: %v\n%s", err, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("licensor console printed no link:\n%s", out)
	return ""
}

// TestConsoleInBrowser opens the console that 'licensor console' serves
// in headless Chromium: the seat counts of the overview are the pool's;
// the seats page sorts, filters and revokes a seat (after a confirmation
// and a reason), which leaves the pool and is audited with the admin's
// identity; the history and health pages load; the CSP holds (no console
// error, an injected inline script does not run); no request leaves
// 127.0.0.1; the link works once and nothing answers without a session.
func TestConsoleInBrowser(t *testing.T) {
	browser := newBrowser(t)
	d := newDemoSite(t)
	link := startConsole(t, d)
	base := strings.SplitN(link, "/?", 2)[0]
	shots := os.Getenv(ScreenshotsEnv)
	if shots == "" {
		shots = t.TempDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	p := newPage(t, browser, false)
	p.do("open the link", chromedp.Navigate(link))
	p.ready("overview")
	if loc := run(p, "location", chromedp.Location()); loc != base+"/console/" {
		t.Errorf("after the link the browser is at %s, want %s/console/ (the token dropped)", loc, base)
	}

	// The overview's gauges are the pool's.
	pools := d.pools(t)
	for _, name := range []string{"ocr", "asr", "tts"} {
		pp := pools[name]
		got := fmt.Sprintf("%s/%s held, %s instances, %s key-file", p.text("#held-"+name), p.text("#limit-"+name), p.text("#inst-"+name), p.text("#kf-"+name))
		want := fmt.Sprintf("%d/%d held, %d instances, %d key-file", pp.Held, pp.Limit, len(pp.Instances), len(pp.KeyFileHosts))
		if got != want {
			t.Errorf("overview of %s: %s; the pool: %s", name, got, want)
		}
	}
	if pools["ocr"].Held != 6 || len(pools["ocr"].KeyFileHosts) != 1 {
		t.Fatalf("the demo pool: %+v", pools["ocr"])
	}
	if got := p.text("#license-holder"); got != "ACME" {
		t.Errorf("holder %q", got)
	}
	if got := p.text("#qps-asr"); !strings.Contains(got, "of 100 licensed") {
		t.Errorf("asr QPS %q", got)
	}
	if got := p.text(`#denials a[data-code="501"]`); got != "501 instance_limit" {
		t.Errorf("denials: 501 shows as %q", got)
	}
	p.screenshot(shots, "overview")

	// A denial's code links to its meaning and fix, from the one table.
	p.do("open code 501", chromedp.Click(chromedp.CSS(`#denials a[data-code="501"]`)))
	p.ready("codes")
	if info, _ := codes.InstanceLimit.Info(); p.text("#code-meaning") != info.Meaning || p.text("#code-fix") != info.Fix {
		t.Errorf("code 501's page: %q / %q", p.text("#code-meaning"), p.text("#code-fix"))
	}

	// Seats: every seat, sortable and filterable.
	p.do("seats", chromedp.Click(chromedp.ID("nav-seats")))
	p.ready("seats")
	total := 0
	for _, pp := range pools {
		total += pp.Held
	}
	if n := p.eval("rows", `document.querySelectorAll('tr.seat').length`); n != float64(total) {
		t.Errorf("%v rows, the pool holds %d seats", n, total)
	}
	if rule := p.text("#keyfile-rule"); !strings.Contains(rule, "stays counted until its key file expires") {
		t.Errorf("key-file rule %q", rule)
	}
	p.do("sort by instance", chromedp.Click(chromedp.CSS(`th[data-key="instance_id"]`)), chromedp.Click(chromedp.CSS(`th[data-key="instance_id"]`)))
	if first := p.eval("first row", `document.querySelector('tr.seat').dataset.instance`); first != "tts-2" {
		t.Errorf("sorted by instance, descending: the first row is %v", first)
	}
	p.do("filter", chromedp.SendKeys(chromedp.ID("seat-filter"), "ocr-"))
	if n := p.eval("rows", `document.querySelectorAll('tr.seat').length`); n != 5.0 {
		t.Errorf("filtered on ocr-: %v rows, want 5", n)
	}
	p.do("clear the filter", chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById('seat-filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()`))

	// A key-file seat's revoke says the key-file rule; cancel it.
	p.do("revoke a key-file seat", chromedp.Click(chromedp.CSS(`tr.seat[data-kind="keyfile"] button.revoke`)))
	if rule := p.text("#revoke-rule"); !strings.Contains(rule, "This one stays counted until") {
		t.Errorf("the key-file revoke's rule: %q", rule)
	}
	p.do("cancel", chromedp.Click(chromedp.ID("revoke-cancel")))

	// Revoke ocr-2: asks for confirmation and a reason.
	p.do("revoke ocr-2", chromedp.Click(chromedp.CSS(`tr.seat[data-instance="ocr-2"] button.revoke`)))
	if open := p.eval("dialog", `document.getElementById('revoke-dialog').open`); open != true {
		t.Fatal("no confirmation asked")
	}
	p.do("confirm without a reason", chromedp.Click(chromedp.ID("revoke-confirm")))
	if open := p.eval("dialog", `document.getElementById('revoke-dialog').open`); open != true || len(d.pools(t)["ocr"].Instances) != 5 {
		t.Fatal("a revoke without a reason went through")
	}
	p.do("give a reason", chromedp.SendKeys(chromedp.ID("revoke-reason"), "host decommissioned"))
	p.screenshot(shots, "revoke")
	p.do("confirm", chromedp.Click(chromedp.ID("revoke-confirm")))
	run(p, "notice", chromedp.Poll[bool](`!!document.getElementById('notice')`))
	if n := p.text("#notice"); !strings.Contains(n, "is free") {
		t.Errorf("notice %q", n)
	}
	for _, l := range d.pools(t)["ocr"].Instances {
		if l.InstanceID == "ocr-2" {
			t.Error("ocr-2 still holds its seat")
		}
	}
	if n := p.eval("rows", `document.querySelectorAll('tr.seat[data-instance="ocr-2"]').length`); n != 0.0 {
		t.Error("ocr-2 still listed")
	}
	p.screenshot(shots, "seats")

	// History, from the report engine, and its downloads.
	p.do("history", chromedp.Click(chromedp.ID("nav-history")))
	p.ready("history")
	if n := p.eval("charts", `document.querySelectorAll('#history-ocr svg path.line-held, #history-ocr svg line.line-limit').length`); n != 2.0 {
		t.Errorf("ocr's history chart: %v lines", n)
	}
	got := run(p, "download", chromedp.Evaluate[string](`fetch(document.getElementById('download-json').href).then(r => r.json()).then(j => j.products.map(x => x.name).sort().join(','))`, chromedp.EvalAwaitPromise))
	if got != "asr,ocr,tts" {
		t.Errorf("the JSON report's products: %q", got)
	}
	p.do("week", chromedp.Click(chromedp.ID("range-week")))
	p.ready("history")
	p.screenshot(shots, "history")

	// Health: the server's checks.
	p.do("health", chromedp.Click(chromedp.ID("nav-health")))
	p.ready("health")
	for _, name := range []string{"store", "clock", "server-certificate", "ca-certificate", "license-ocr"} {
		if st := p.eval("check "+name, `document.getElementById('check-`+name+`').dataset.status`); st != "pass" {
			t.Errorf("health check %s: %v", name, st)
		}
	}
	p.screenshot(shots, "health")

	// No console error on any page; then an injected inline script and
	// an inline style are refused by the CSP.
	if errs := p.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
	blocked := run(p, "inject", chromedp.Evaluate[string](`(async () => {
		const seen = [];
		document.addEventListener('securitypolicyviolation', (e) => seen.push(e.violatedDirective));
		const s = document.createElement('script');
		s.textContent = 'window.injected = true';
		document.body.appendChild(s);
		const d = document.createElement('div');
		d.setAttribute('style', 'color: rgb(1, 2, 3)');
		document.body.appendChild(d);
		await new Promise((r) => setTimeout(r, 100));
		return [window.injected === true ? 'ran' : 'blocked', getComputedStyle(d).color === 'rgb(1, 2, 3)' ? 'styled' : 'unstyled', seen.sort().join(' ')].join(',');
	})()`, chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(blocked, "blocked,unstyled,") || !strings.Contains(blocked, "script-src") || !strings.Contains(blocked, "style-src") {
		t.Errorf("CSP: %s", blocked)
	}

	// Every request went to the proxy on 127.0.0.1.
	for _, u := range p.urls() {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("a request left the console: %s", u)
		}
	}

	// The link works once: another browser gets nothing.
	other := newPage(t, p.ctx, true)
	other.do("the link again", chromedp.Navigate(link))
	if body := other.text("body"); !strings.Contains(body, `"code":1101`) || strings.Contains(body, "ocr-") {
		t.Errorf("the link a second time: %s", body)
	}
	other.do("the console without a session", chromedp.Navigate(base+server.PathConsoleSeats))
	if body := other.text("body"); !strings.Contains(body, `"code":1102`) || strings.Contains(body, "ocr-") {
		t.Errorf("seats without a session: %s", body)
	}

	// The revoke is in the audit log with the admin's identity and reason.
	d.run.Stop()
	st, err := storeopen.Open(context.Background(), storeopen.Setting{DataDir: d.srv.Config.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var revoke *store.Event
	st.Audit(context.Background(), 0, func(e store.Event) error {
		if e.Kind == store.KindRevoke {
			revoke = &e
		}
		return nil
	})
	if revoke == nil || revoke.InstanceID != "ocr-2" || revoke.Actor != "ops" || revoke.Detail != "console: host decommissioned" {
		t.Errorf("the revoke's audit event: %+v", revoke)
	}
	t.Logf("screenshots in %s", shots)
}

// TestNoBrowserInBinaries: chromedp is for these tests only; neither the
// licensor binary nor the SDK a product links pulls it in.
func TestNoBrowserInBinaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../cmd/licensor", "../sdk").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/chromedp/") {
			t.Errorf("a binary depends on %s", dep)
		}
	}
}
