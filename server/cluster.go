package server

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/store"
)

// clusterStore is a store that several nodes share (store/postgres): the
// database's clock is the cluster's one reference, and the high-water
// mark is the latest time any node has seen.
type clusterStore interface {
	Node() string
	DatabaseTime(ctx context.Context, now func() time.Time) (db, at time.Time, rtt time.Duration, err error)
}

// clusterInterval spaces a node's checks of its clock against the
// cluster's, and its reading of the cluster's high-water mark.
const clusterInterval = 5 * time.Second

// skewLimit is how far a node's clock may be off the database's. Leases
// are timed by the clock of the node that grants or renews them, and
// another node decides by its own when they lapse: a node ahead by more
// than a fraction of the lease time would free seats still held. So the
// limit is the clock tolerance, but at most a quarter of lease_ttl.
func (s *Server) skewLimit() time.Duration {
	limit := time.Duration(s.cfg.ClockTolerance)
	if q := time.Duration(s.cfg.LeaseTTL) / 4; q < limit {
		limit = q
	}
	return limit
}

// checkCluster measures this node's clock against the cluster's and takes
// up the cluster's high-water mark. A node whose clock is off by more than
// skewLimit refuses every decision with codes.ClockSkew until it is set
// right. It returns the skew error, or nil; a store that cannot be read
// leaves the last verdict in place (readiness reports the store).
func (s *Server) checkCluster(ctx context.Context) error {
	cs, ok := s.store.(clusterStore)
	if !ok {
		return nil
	}
	db, at, rtt, err := cs.DatabaseTime(ctx, s.clock.Now)
	if err != nil {
		return s.skew.Load()
	}
	skew := at.Sub(db)
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	if abs > s.skewLimit()+rtt/2 {
		dir := "ahead of"
		if skew < 0 {
			dir = "behind"
		}
		e := codes.Errorf(codes.ClockSkew, "node %q's clock is %s %s the cluster's (the database server's clock), more than the %s allowed",
			cs.Node(), abs.Round(time.Millisecond), dir, s.skewLimit()).
			WithFix("Synchronize this node's clock with NTP (chrony or systemd-timesyncd), as the database server's is; the node serves again within seconds of its clock being right.")
		if s.skew.Swap(e) == nil {
			s.log.Error("clock", "code", int(codes.ClockSkew), "name", codes.ClockSkew.Name(), "node", cs.Node(), "skew", skew.String(), "limit", s.skewLimit().String())
		}
		return e
	}
	if s.skew.Swap(nil) != nil {
		s.log.Info("clock", "code", 0, "node", cs.Node(), "skew", skew.String(), "msg", "the clock agrees with the cluster's again")
	}
	if high, err := s.store.HighWater(ctx); err == nil {
		s.raiseHigh(high)
	}
	return nil
}

// raiseHigh raises the high-water mark to t if t is later.
func (s *Server) raiseHigh(t time.Time) {
	n := t.UnixNano()
	for {
		h := s.high.Load()
		if n <= h || s.high.CompareAndSwap(h, n) {
			return
		}
	}
}

// clusterLoop checks the node against the cluster, and announces it,
// until ctx ends.
func (s *Server) clusterLoop(ctx context.Context, addr string) {
	cs, ok := s.store.(store.Cluster)
	if !ok {
		return
	}
	started := s.clock.Now()
	announce := func() {
		l := s.lic.Load()
		if err := cs.Announce(ctx, store.NodeInfo{Address: addr, Version: version(), LicenseID: l.license.ID, KeyID: s.serverKid, Started: started}); err != nil && ctx.Err() == nil {
			s.log.Warn("announce", "code", int(codes.StoreUnavailable), "name", codes.StoreUnavailable.Name(), "err", err)
		}
	}
	announce()
	t := time.NewTicker(clusterInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.checkCluster(ctx)
			announce()
		}
	}
}

// version is the version licensor was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
