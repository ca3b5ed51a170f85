package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
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

// recorder stands between the SDK and a real site server over mutual
// TLS, keeping the answers and the nonces it sees; once told to replay, it
// answers every authorize and heartbeat with an answer it kept.
type recorder struct {
	to string
	hc *http.Client

	mu      sync.Mutex
	nonces  []string
	answers map[string][]byte // path: the latest genuine answer
	replay  []byte
}

func (e *env) recorder(to string) (*recorder, string) {
	e.t.Helper()
	cert, key := e.site.Client("app1")
	tlsCfg, err := pki.ClientTLSConfig(e.site.CA(), cert, key, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	rec := &recorder{to: to, hc: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}, answers: map[string][]byte{}}
	e.t.Cleanup(rec.hc.CloseIdleConnections)
	return rec, e.tlsServer(rec)
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	instance := r.URL.Path == api.PathAuthorize || r.URL.Path == api.PathHeartbeat
	if instance {
		var req api.InstanceRequest
		json.Unmarshal(body, &req)
		rec.mu.Lock()
		rec.nonces = append(rec.nonces, req.Nonce)
		replay := rec.replay
		rec.mu.Unlock()
		if replay != nil {
			w.Write(replay)
			return
		}
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, rec.to+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	resp, err := rec.hc.Do(out)
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if instance && resp.StatusCode == http.StatusOK {
		rec.mu.Lock()
		rec.answers[r.URL.Path] = answer
		rec.mu.Unlock()
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

func (rec *recorder) answer(path string) []byte {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.answers[path]
}

func (rec *recorder) setReplay(b []byte) {
	rec.mu.Lock()
	rec.replay = b
	rec.mu.Unlock()
}

// TestAsyncReplayRefused: a real server's async answers, captured on the
// way and replayed to the same instance while they are still in time, are
// refused (518): every async request carries a fresh nonce, and any
// verdict in the answer must echo it, whether the request asked for a
// verdict or only for a renewal. A replayed renewal, which carries no
// verdict, is taken for what it is, and no more: the next heartbeat that
// asks for a verdict refuses it.
func TestAsyncReplayRefused(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	rec, url := e.recorder(r.URL)
	cfg := e.config("ocr", url)
	cfg.Async = true
	cfg.StaleAfter = 40 * time.Second // a verdict is due after 10 s
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("Authorize through the recorder = %v", err)
	}
	e.site.Clock.Advance(cfg.StaleAfter / 4)
	c.refresh(context.Background()) // a heartbeat that asks for a verdict, answered by the server
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatalf("after a heartbeat = %v", err)
	}
	if !strings.Contains(string(rec.answer(api.PathHeartbeat)), `"verdict":"`) {
		t.Fatalf("the heartbeat due a verdict was answered without one: %s", rec.answer(api.PathHeartbeat))
	}
	for _, path := range []string{api.PathAuthorize, api.PathHeartbeat} {
		t.Run(strings.TrimPrefix(path, "/v1/"), func(t *testing.T) {
			captured := rec.answer(path)
			if captured == nil {
				t.Fatalf("no %s answer captured", path)
			}
			rec.setReplay(captured)
			c.refresh(context.Background()) // a heartbeat asking for the renewal alone
			if err := c.Authorize(context.Background()); codes.Of(err) != codes.VerdictReplayed {
				t.Fatalf("Authorize after a replayed %s answer = %v, want verdict_replayed", path, err)
			}
			// The server's own answer brings it back.
			rec.setReplay(nil)
			c.refresh(context.Background())
			if err := c.Authorize(context.Background()); err != nil {
				t.Fatalf("after a genuine answer again: %v", err)
			}
		})
	}
	t.Run("renewal", func(t *testing.T) {
		c.refresh(context.Background()) // the verdict is new: the renewal alone
		captured := rec.answer(api.PathHeartbeat)
		if strings.Contains(string(captured), `"verdict"`) {
			t.Fatalf("a heartbeat with a new verdict in hand was answered with a verdict: %s", captured)
		}
		rec.setReplay(captured)
		c.refresh(context.Background())
		if err := c.Authorize(context.Background()); err != nil {
			t.Fatalf("a replayed renewal before the verdict is due: %v", err)
		}
		refreshed := c.Status().Refreshed
		e.site.Clock.Advance(cfg.StaleAfter / 4)
		c.refresh(context.Background())
		if err := c.Authorize(context.Background()); codes.Of(err) != codes.VerdictForged {
			t.Fatalf("a renewal replayed to a heartbeat due a verdict: Authorize = %v, want verdict_forged", err)
		}
		if got := c.state.Load().refreshed; !got.Equal(refreshed) {
			t.Errorf("the replayed renewals moved the verdict's time from %s to %s", refreshed, got)
		}
		rec.setReplay(nil)
		c.refresh(context.Background())
		if err := c.Authorize(context.Background()); err != nil {
			t.Fatalf("after a genuine answer again: %v", err)
		}
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[string]bool{}
	for _, n := range rec.nonces {
		if n == "" || seen[n] {
			t.Fatalf("nonces sent: %q; want each fresh and none empty", rec.nonces)
		}
		seen[n] = true
	}
}
