package cli

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/internal/sitetest"
)

// consoleLink matches the link 'licensor console' prints.
var consoleLink = regexp.MustCompile(`http://127\.0\.0\.1:\d+/\?token=[0-9a-f]{64}`)

// startConsole runs 'licensor console' with args until the test ends and
// returns the link it printed.
func startConsole(t *testing.T, h *harness, args ...string) string {
	t.Helper()
	out := &sitetest.Buffer{}
	env := *h.env
	env.Stdout, env.Stderr = out, out
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- env.Run(ctx, append([]string{"console"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if link := consoleLink.FindString(out.String()); link != "" {
			return link
		}
		select {
		case err := <-done:
			t.Fatalf("console stopped: %v\n%s", err, out)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("console printed no link:\n%s", out)
	return ""
}

// TestConsoleCommand runs the proxy: its link opens the console once,
// and without the session it answers nothing of the pool.
func TestConsoleCommand(t *testing.T) {
	ss := newSeatSite(t)
	link := startConsole(t, ss.h, ss.admin...)
	base := strings.SplitN(link, "/?", 2)[0]

	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Transport: tr}
	if status, body := get(b, link); status != 200 || !strings.Contains(body, `<script src="app.js" defer></script>`) {
		t.Fatalf("the link: %d %.200s", status, body)
	}
	if status, body := get(b, base+"/console/api/seats"); status != 200 || !strings.Contains(body, "i-1") || !strings.Contains(body, ss.h.host.Code) {
		t.Fatalf("seats through the console: %d %s", status, body)
	}
	other := &http.Client{Transport: tr}
	if status, body := get(other, link); status != http.StatusForbidden || !strings.Contains(body, `"code":1101`) {
		t.Errorf("the link again: %d %s", status, body)
	}
	if status, body := get(other, base+"/console/api/seats"); status != http.StatusForbidden || strings.Contains(body, "i-1") || !strings.Contains(body, `"code":1102`) {
		t.Errorf("no session: %d %s", status, body)
	}
}

func TestConsoleCommandRefuses(t *testing.T) {
	ss := newSeatSite(t)
	h := ss.h
	appCert, appKey := ss.site.Client("app1")
	for _, tt := range []struct {
		name string
		args []string
		exit int
		code codes.Code
	}{
		{"not-loopback", append([]string{"console", "--listen", "0.0.0.0:0"}, ss.admin...), ExitUsage, codes.InvalidArgument},
		{"a-name", append([]string{"console", "--listen", "example.com:80"}, ss.admin...), ExitUsage, codes.InvalidArgument},
		{"no-port", append([]string{"console", "--listen", "127.0.0.1"}, ss.admin...), ExitUsage, codes.InvalidArgument},
		{"bad-port", append([]string{"console", "--listen", "127.0.0.1:http-alt-x"}, ss.admin...), ExitUsage, codes.InvalidArgument},
		{"no-server", []string{"console"}, ExitUsage, 0},
		{"argument", append([]string{"console", "extra"}, ss.admin...), ExitUsage, 0},
		{"http-server", []string{"console", "--server", "http://" + strings.TrimPrefix(ss.url, "https://"), "--ca", ss.site.CA(), "--cert", appCert, "--key", appKey}, ExitUsage, codes.InvalidArgument},
		{"instance-certificate", []string{"console", "--server", ss.url, "--ca", ss.site.CA(), "--cert", appCert, "--key", appKey}, ExitFailure, codes.RoleForbidden},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status := h.run(tt.args...)
			if status != tt.exit || tt.code != 0 && !strings.Contains(h.stderr.String(), tag(tt.code)) {
				t.Errorf("exit %d, want %d (code %d)\n%s", status, tt.exit, tt.code, h.stderr)
			}
		})
	}
}
