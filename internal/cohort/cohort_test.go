package cohort

import "testing"

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
