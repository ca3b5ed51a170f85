package flushwriter

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestCloseFlushes(t *testing.T) {
	var out lockedBuffer
	w := New(&out, time.Hour)
	w.Write([]byte("one line\n"))
	if out.String() != "" {
		t.Fatal("written before a flush")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one line\n" {
		t.Fatalf("after Close: %q", out.String())
	}
}

func TestConcurrentWrites(t *testing.T) {
	var out lockedBuffer
	w := New(&out, time.Millisecond)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				w.Write([]byte("0123456789\n"))
			}
		})
	}
	wg.Wait()
	w.Close()
	if got := len(out.String()); got != 8*100*11 {
		t.Fatalf("wrote %d bytes, want %d", got, 8*100*11)
	}
}
