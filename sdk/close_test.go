package sdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/licensor/licensor/codes"
)

// A clean Close is no failure: it is logged at info level, never as a
// warning with a fix, and OnStateChange hears that the client was closed.
func TestCloseIsNoAlarm(t *testing.T) {
	e := newEnv(t)
	r := e.site.NewServer("a", products()...).Start("")
	var logs bytes.Buffer
	var mu sync.Mutex
	var changes []error
	cfg := e.config("ocr", r.URL)
	cfg.Async = true
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	cfg.OnStateChange = func(ok bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if ok != (err == nil) {
			t.Errorf("OnStateChange(%v, %v)", ok, err)
		}
		changes = append(changes, err)
	}
	c := e.client(cfg)
	if err := c.Authorize(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c.Close() // a second Close says nothing more
	mu.Lock()
	out := logs.String()
	got := append([]error(nil), changes...)
	mu.Unlock()
	if strings.Contains(out, "level=WARN") || strings.Contains(out, "level=ERROR") || !strings.Contains(out, `level=INFO msg="licensor: closed"`) {
		t.Errorf("log after Close:\n%s", out)
	}
	if len(got) != 2 || got[0] != nil || !errors.Is(got[1], ErrClosed) {
		t.Errorf("state changes %v, want [<nil> closed]", got)
	}
	err := c.Authorize(context.Background())
	if codes.Of(err) != codes.AsyncDead || !errors.Is(err, ErrClosed) || strings.Contains(codes.As(err).FixText(), "Restart") {
		t.Errorf("Authorize after Close = %v (fix %q)", err, codes.As(err).FixText())
	}
	// A sync client closed says the same.
	sc := e.client(e.config("ocr", r.URL))
	sc.Close()
	if err := sc.Authorize(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("sync Authorize after Close = %v", err)
	}
}

// lockedWriter serializes writes from the client's goroutines.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
