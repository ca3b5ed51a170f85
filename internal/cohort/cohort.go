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

import "time"

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

// Gather fills batch, which holds the first request, from q: waiting for
// at most window until it holds c.Want() requests, then taking whatever
// else q holds already without waiting, never past limit. A request for
// which apart (nil: none) reports true ends the gathering and is returned
// on its own, not in the batch. The batch's size is added to c.
func Gather[T any](c *Cohort, q <-chan T, batch []T, window time.Duration, limit int, apart func(T) bool) (out []T, held T, isHeld bool) {
	want := c.Want()
	var timer *time.Timer // made only when the batch has to wait
	defer func() {
		if timer != nil {
			timer.Stop()
		}
		c.Add(len(out))
	}()
	for len(batch) < limit {
		var r T
		if len(batch) >= want {
			select {
			case r = <-q:
			default:
				return batch, held, false
			}
		} else {
			if timer == nil {
				timer = time.NewTimer(window)
			}
			select {
			case r = <-q:
			case <-timer.C:
				return batch, held, false
			}
		}
		if apart != nil && apart(r) {
			return batch, r, true
		}
		batch = append(batch, r)
	}
	return batch, held, false
}
