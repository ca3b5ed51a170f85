package sdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/licensor/licensor/api"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/license"
)

// retryInterval is how soon a failed refresh is tried again.
const retryInterval = time.Second

// refresher keeps the async verdict fresh: it heartbeats on the interval
// the server asks for, registers again when the lease is gone, fails over
// when the server holding the lease fails, and marks the verdict stale
// when none of that has worked for StaleAfter. If it ever stops, the
// answer becomes 506.
//
// Most heartbeats ask for the renewal alone, which the server answers
// without signing anything. The rule for asking for a verdict (signed,
// bound to the request's own nonce): every registration (the first
// contact, after a failure, after the lease was lost, and after a
// failover, which registers on the next server) gets one; a heartbeat asks
// for one when the verdict held is StaleAfter/4 old or more (2.5 minutes
// by default), and at once after a renewal from a server other than the
// one holding the lease or one offering a larger QPS share than the
// verdict signed; the server adds one by itself when the license the
// client holds is not the one in force. A server older than renewals,
// which refuses the field (602), gets heartbeats that ask for a verdict
// from then on. The refresher wakes by
// StaleAfter/4 whatever the lease's interval, so a verdict is asked for
// at least three quarters of StaleAfter before it would be stale, and
// every heartbeat after that asks again.
//
// What a renewal cannot do: it carries no signature, so it is trusted
// only for what it may change. It moves the lease's expiry (when to
// heartbeat next) and may lower the QPS share, never raise it past the
// share the verdict signed. It never moves the time staleness counts
// from, which is when the last verdict was accepted; it is accepted only
// while that verdict is good (a denied client registers, and registering
// always gets a verdict); and any verdict it does carry must echo this
// request's nonce. So a replayed or forged renewal can at most keep the
// product running on its last verdict until that verdict is StaleAfter/4
// old, when the refresher asks a verdict of the server and the impostor,
// which cannot sign one, is refused: never past StaleAfter, the bound a
// server that stops answering has too.
func (c *Client) refresher() {
	defer func() {
		if r := recover(); r != nil {
			c.setState(&state{err: codes.Errorf(codes.AsyncDead, "the async refresher stopped: %v", r)})
			c.log.Error("licensor: async refresher stopped", "code", int(codes.AsyncDead), "panic", fmt.Sprint(r))
			return
		}
		if !c.closed.Load() {
			c.setState(&state{err: codes.Errorf(codes.AsyncDead, "the async refresher stopped")})
		}
	}()
	timer := time.NewTimer(c.nextRefresh())
	defer timer.Stop()
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-watch.C:
			c.watch()
			continue
		case <-c.refreshC:
		case <-timer.C:
		}
		c.refresh(context.Background())
		timer.Reset(c.nextRefresh())
	}
}

// nextRefresh is when to heartbeat: as the server asked, or soon after a
// failure, and no later than when the verdict is due for renewal.
func (c *Client) nextRefresh() time.Duration {
	st := c.state.Load()
	if st.err != nil || st.refreshed.IsZero() {
		return retryInterval
	}
	now := c.clock.Now()
	next := min(st.expires.Sub(now)/3, 30*time.Second)
	if due := c.verdictAt(st).Sub(now); due > 0 && due < next {
		next = due
	}
	return max(next, 100*time.Millisecond)
}

// verdictAt is when the verdict held is old enough that the next
// heartbeat asks for a new one.
func (c *Client) verdictAt(st *state) time.Time { return st.refreshed.Add(c.cfg.StaleAfter / 4) }

// wantVerdict reports whether a heartbeat now asks for a verdict.
func (c *Client) wantVerdict(st *state, now time.Time) bool {
	return st.verdictDue || c.verdictAlways.Load() || !now.Before(c.verdictAt(st))
}

// refresh renews the lease (or takes one) on the current server, failing
// over to the next when it cannot be reached.
func (c *Client) refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(len(c.servers))*(c.cfg.ConnectTimeout+c.cfg.ReadTimeout))
	defer cancel()
	st := c.state.Load()
	path := api.PathHeartbeat
	if st.err != nil || st.refreshed.IsZero() {
		path = api.PathAuthorize // first contact, or after a failure: (re)register
	}
	c.mu.Lock()
	current := c.current
	c.mu.Unlock()
	if !c.servers[current].up.Load() {
		path = api.PathAuthorize // failing over: take a seat on the next server
	}
	calls := int64(0)
	if c.bucket != nil {
		calls = c.bucket.spent.Swap(0)
	}
	want := path == api.PathAuthorize || c.wantVerdict(st, c.clock.Now())
	a, err := c.ask(ctx, path, "async", calls, want)
	if !want && codes.Of(err) == codes.RequestMalformed {
		// A server older than renewals refuses the "verdict" field: ask
		// for a verdict on every heartbeat, as such servers sign anyway.
		c.verdictAlways.Store(true)
		c.log.Info("licensor: the server does not answer renewals alone; every heartbeat asks for a verdict", "product", c.cfg.Product, "instance", c.cfg.InstanceID)
		a, err = c.ask(ctx, path, "async", calls, true)
	}
	if codes.Of(err) == codes.LeaseUnknown && path == api.PathHeartbeat {
		a, err = c.ask(ctx, api.PathAuthorize, "async", calls, true)
	}
	c.record(a, err)
	now := c.clock.Now()
	if err != nil {
		e := codes.As(err)
		if unreachable(e.Code) && !st.refreshed.IsZero() && now.Sub(st.refreshed) < c.cfg.StaleAfter && st.err == nil {
			// The verdict in memory stays good until it is stale.
			return
		}
		c.setState(&state{err: e, refreshed: st.refreshed, expires: st.expires, qps: st.qps, share: st.share})
		return
	}
	c.mu.Lock()
	c.current = a.server
	lic := c.lic
	c.mu.Unlock()
	if a.renewal {
		c.renewed(st, a, current)
	} else {
		qps := a.body.QPS != nil && a.body.QPS.Licensed > 0
		if qps {
			c.bucket.setRate(a.claims.QPS)
		}
		c.setState(&state{refreshed: now, expires: a.body.Lease.Expires, qps: qps, share: a.claims.QPS})
	}
	if p, ok := lic.Product(c.cfg.Product); ok && c.cfg.OnExpiryApproaching != nil &&
		p.NotAfter.Sub(now) < c.cfg.ExpiryWarning && now.Sub(c.warned) > 24*time.Hour {
		c.warned = now
		c.cfg.OnExpiryApproaching(c.cfg.Product, p.NotAfter)
	}
}

// renewed applies a renewal without a verdict to st: the lease's new
// expiry, and the QPS share when it is no larger than the verdict's. The
// verdict's time stays, and with it the bound on how long the product
// runs without a new one. A renewal from another server than the one
// holding the lease (current), or offering a larger share, makes the
// refresher ask for a verdict at once.
func (c *Client) renewed(st *state, a *answer, current int) {
	next := *st
	next.expires = a.body.Lease.Expires
	if a.server != current {
		next.verdictDue = true
	}
	if q := a.body.QPS; st.qps && q != nil {
		if q.Share > st.share {
			next.verdictDue = true
		}
		c.bucket.setRate(min(q.Share, st.share))
	}
	c.setState(&next)
	if next.verdictDue {
		c.kick()
	}
}

// transportFailure reports whether c says a server could not be reached,
// as opposed to a server's verdict.
func transportFailure(c codes.Code) bool {
	return (c > 0 && c < 100) || c == codes.AllServersDown
}

// unreachable reports whether a refresh failed for want of a server that
// can decide: none could be reached, or those reached cannot read their
// store (a database out of reach). Neither says anything about the
// license, so the verdict in memory stays good until it is stale.
func unreachable(c codes.Code) bool {
	return transportFailure(c) || c == codes.StoreUnavailable
}

// watch marks a verdict stale when it has not been refreshed for
// StaleAfter (2012 instead when every server is down).
func (c *Client) watch() {
	st := c.state.Load()
	if st.err != nil || st.refreshed.IsZero() {
		return
	}
	age := c.clock.Now().Sub(st.refreshed)
	if age < c.cfg.StaleAfter {
		return
	}
	err := codes.Errorf(codes.Stale, "the verdict was last refreshed %s ago", license.DaysLeft(age))
	down := 0
	for _, s := range c.servers {
		if !s.up.Load() {
			down++
		}
	}
	if down == len(c.servers) {
		err = codes.Errorf(codes.AllServersDown, "every server has failed its probe for %s, and the verdict is stale", license.DaysLeft(age))
	}
	c.setState(&state{err: err, refreshed: st.refreshed, expires: st.expires})
}

// ErrClosed is what a closed client answers: Authorize after Close returns
// a 506 error that wraps it (errors.Is(err, sdk.ErrClosed)), and an async
// client's OnStateChange receives it once, when Close is called.
var ErrClosed = errors.New("the client is closed")

// errClosed is the answer of a closed client: 506, with a fix that says
// the product itself closed it.
func errClosed() *codes.Error {
	return &codes.Error{Code: codes.AsyncDead, Msg: ErrClosed.Error(), Err: ErrClosed,
		Fix: "The product closed this client (Close): nothing is wrong. Create a new client with sdk.New to authorize again."}
}

// setState publishes a new answer and tells the product when it turns.
// A client closing is no failure: it is logged at info level and told to
// OnStateChange whatever the answer was before.
func (c *Client) setState(next *state) {
	prev := c.state.Swap(next)
	closing := next.err != nil && errors.Is(next.err, ErrClosed)
	if closing {
		if prev != nil && prev.err != nil && errors.Is(prev.err, ErrClosed) {
			return
		}
	} else {
		wasOK, isOK := prev != nil && prev.err == nil, next.err == nil
		if wasOK == isOK {
			return
		}
	}
	switch {
	case closing:
		c.log.Info("licensor: closed", "product", c.cfg.Product, "instance", c.cfg.InstanceID)
	case next.err == nil:
		c.log.Info("licensor: authorized", "product", c.cfg.Product, "instance", c.cfg.InstanceID)
	default:
		c.log.Warn("licensor: not authorized", "product", c.cfg.Product, "instance", c.cfg.InstanceID,
			"code", int(next.err.Code), "name", next.err.Code.Name(), "err", next.err.Detail(), "fix", next.err.FixText())
	}
	if c.cfg.OnStateChange != nil {
		var err error
		if next.err != nil {
			err = next.err
		}
		c.cfg.OnStateChange(next.err == nil, err)
	}
}

// refiller runs the bucket until the client closes.
func (c *Client) refiller() {
	t := time.NewTicker(refillEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.bucket.refill()
		}
	}
}
