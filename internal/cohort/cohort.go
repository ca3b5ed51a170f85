// Package cohort sizes the batches a store's writer commits by the
// askers that keep coming back.
//
// Under load the same clients ask again soon after each answer, so a
// batch that holds as many requests as the largest of the last few has
// most likely gathered everyone who will come within its window, and
// waiting for the window to end only delays them: a timer fires late when
// both cores are busy, and a 300µs window was measured gathering for
// about a millisecond. A batch that reaches that size goes (with whatever
// else is already queued). The size grows by itself: what arrives while
// a batch commits waits for the next, which takes it all. It shrinks once
// the larger batches are more than Recent batches behind.
package cohort

// Recent is how many of the last batches' sizes a Cohort keeps.
const Recent = 64

// Cohort is the sizes of the last Recent batches. The zero value is ready.
type Cohort struct {
	sizes [Recent]int
	next  int
}

// Want is the size at which a batch stops waiting: the largest of the
// recent ones, at least 1.
func (c *Cohort) Want() int {
	n := 1
	for _, m := range c.sizes {
		n = max(n, m)
	}
	return n
}

// Add records a batch of n requests.
func (c *Cohort) Add(n int) {
	c.sizes[c.next] = n
	c.next = (c.next + 1) % Recent
}
