package cohort

import (
	"slices"
	"testing"
	"time"
)

// TestCohort: a batch waits for as many requests as the largest of the
// last 64 batches held, at least one; a larger batch raises it at once,
// and it falls back only once the larger batches are 64 behind.
func TestCohort(t *testing.T) {
	var c Cohort
	if n := c.Want(); n != 1 {
		t.Fatalf("a new cohort wants %d, want 1", n)
	}
	c.Add(3)
	c.Add(8)
	c.Add(2)
	if n := c.Want(); n != 8 {
		t.Fatalf("after batches of 3, 8 and 2: want %d, want 8", n)
	}
	for i := range 62 {
		c.Add(2)
		if n := c.Want(); n != 8 {
			t.Fatalf("%d batches after the batch of 8: want %d, want 8", i+2, n)
		}
	}
	c.Add(2) // the batch of 8 is now 64 behind
	if n := c.Want(); n != 2 {
		t.Fatalf("64 batches after the batch of 8: want %d, want 2", n)
	}
	for range 64 {
		c.Add(0)
	}
	if n := c.Want(); n != 1 {
		t.Fatalf("after empty batches: want %d, want 1", n)
	}
}

// TestGather: a batch that reaches the cohort's size goes without waiting
// for its window, with what else is queued; one short of it waits for the
// window; a request set apart ends the batch and comes back on its own.
func TestGather(t *testing.T) {
	const hour = time.Hour // a window no passing test waits out
	gather := func(c *Cohort, q chan int, window time.Duration, limit int, apart func(int) bool) (batch []int, held int, isHeld bool) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			defer close(done)
			batch, held, isHeld = Gather(c, q, []int{0}, window, limit, apart)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Gather waited for its window")
		}
		return batch, held, isHeld
	}
	queue := func(vs ...int) chan int {
		q := make(chan int, 16)
		for _, v := range vs {
			q <- v
		}
		return q
	}

	var c Cohort // wants 1: the first request is enough
	if b, _, _ := gather(&c, queue(), hour, 16, nil); !slices.Equal(b, []int{0}) {
		t.Fatalf("a new cohort gathered %v, want [0]", b)
	}
	if b, _, _ := gather(&c, queue(1, 2, 3), hour, 16, nil); !slices.Equal(b, []int{0, 1, 2, 3}) {
		t.Fatalf("with three queued: %v, want [0 1 2 3]", b)
	}
	if n := c.Want(); n != 4 {
		t.Fatalf("after a batch of 4 the cohort wants %d, want 4", n)
	}
	if b, _, _ := gather(&c, queue(1, 2, 3, 4, 5), hour, 3, nil); !slices.Equal(b, []int{0, 1, 2}) {
		t.Fatalf("limit 3: %v, want [0 1 2]", b)
	}
	// Wanting 4, a batch of 2 waits for the window.
	start := time.Now()
	if b, _, _ := gather(&c, queue(1), 20*time.Millisecond, 16, nil); !slices.Equal(b, []int{0, 1}) {
		t.Fatalf("one short: %v, want [0 1]", b)
	}
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Fatalf("one short of the cohort, the batch went after %v, before its window", waited)
	}
	// A request set apart ends the batch.
	b, held, isHeld := gather(&c, queue(1, -1, 2), hour, 16, func(v int) bool { return v < 0 })
	if !slices.Equal(b, []int{0, 1}) || !isHeld || held != -1 {
		t.Fatalf("with -1 set apart: %v, held %d (%v); want [0 1], held -1", b, held, isHeld)
	}
}
