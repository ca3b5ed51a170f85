package sdk

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/pki"
)

// tlsServer serves h over TLS with the site's own server certificate,
// requiring client certificates from the site CA, as a site server does.
func (e *env) tlsServer(h http.Handler) string {
	e.t.Helper()
	srv := httptest.NewUnstartedServer(h)
	cfg, err := pki.ServerTLSConfig(e.site.CA(), filepath.Join(e.site.Dir, "pki", pki.ServerCertFile), filepath.Join(e.site.Dir, "pki", pki.ServerKeyFile), time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	srv.TLS = cfg
	srv.StartTLS()
	e.t.Cleanup(srv.Close)
	return srv.URL
}

// TestWeirdReplies: a failure answer is never ok. A server (or whatever
// answers in its place) that fails the request with a body claiming code
// 0, a code licensor does not know, or a code its HTTP status does not go
// with, is a weird reply (8) in both modes, with the raw status in the
// message; a genuine error body keeps its code.
func TestWeirdReplies(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name   string
		status int
		body   string
		want   codes.Code
		say    string
	}{
		{"403-claiming-ok", 403, `{"code":0,"name":"ok"}`, codes.WeirdReply, "HTTP 403"},
		{"500-claiming-ok-with-a-verdict", 500, `{"code":0,"name":"ok","verdict":"a.b.c"}`, codes.WeirdReply, "HTTP 500"},
		{"unknown-code", 403, `{"code":999,"name":"vendor_bug","message":"x"}`, codes.WeirdReply, "999"},
		{"code-with-another-status", 429, `{"code":503,"name":"expired","message":"x"}`, codes.WeirdReply, "HTTP 429"},
		{"client-only-code", 500, `{"code":507,"name":"stale"}`, codes.WeirdReply, "507 stale"},
		{"proxy-error-page", 502, `<html><body>502 Bad Gateway</body></html>`, codes.WeirdReply, "HTTP 502"},
		{"genuine-full-pool", 429, `{"code":501,"name":"instance_limit","message":"2 of 2 held","fix":"stop one"}`, codes.InstanceLimit, "2 of 2 held"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := e.tlsServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == api.PathHealth {
					w.Write([]byte(`{"status":"ok"}`))
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			for _, async := range []bool{false, true} {
				cfg := e.config("ocr", url)
				cfg.Async = async
				c := e.client(cfg)
				err := c.Authorize(context.Background())
				if err == nil || codes.Of(err) != tt.want || !strings.Contains(err.Error(), tt.say) {
					t.Fatalf("async %v: Authorize = %v, want code %v saying %q", async, err, tt.want, tt.say)
				}
				if tt.want == codes.WeirdReply && !strings.Contains(err.Error(), url) {
					t.Errorf("async %v: %v does not name the server", async, err)
				}
				if st := c.Status(); st.Authorized || st.Error == nil || st.Error.Code != tt.want {
					t.Errorf("async %v: Status = %+v", async, st)
				}
			}
		})
	}
}
