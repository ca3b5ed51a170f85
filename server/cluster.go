package server

import (
	"context"
	"fmt"
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
			c := codes.Of(err)
			if c == codes.Unknown {
				c = codes.StoreUnavailable
			}
			s.log.Warn("announce", "code", int(c), "name", c.Name(), "err", err)
		}
	}
	announce()
	interval := time.Duration(s.cfg.ClusterInterval)
	every(ctx, interval, func(ctx context.Context) {
		s.checkCluster(ctx)
		s.followLicense(ctx)
		announce()
		s.shareUsage(ctx, cs, interval)
	})
}

// shareUsage records this node's rates of calls and takes up the
// cluster's: the sum over the nodes heard from within three intervals.
func (s *Server) shareUsage(ctx context.Context, cs store.Cluster, interval time.Duration) {
	if err := cs.ReportUsage(ctx, s.usage.snapshot()); err != nil {
		return
	}
	if rates, err := cs.Usage(ctx, 3*interval); err == nil {
		s.clusterRates.Store(&rates)
	}
}

// version is the version licensor was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// agreeLicense offers l, read from this server's license file, to the
// cluster, and returns the license the cluster serves under: l, or a
// license issued later that another node put in force. Nodes never serve
// under two licenses for long: each follows the one in force within
// cluster_interval (followLicense), and a node that cannot serve under it
// says so and refuses.
func (s *Server) agreeLicense(ctx context.Context, l *loaded) (*loaded, error) {
	cl, ok := s.store.(store.ClusterLicense)
	if !ok || len(s.cfg.Upstream) > 0 {
		return l, nil
	}
	inForce, err := cl.OfferLicense(ctx, store.LicenseInForce{ID: l.license.ID, Issued: l.license.Issued, Data: l.data})
	if err != nil {
		return nil, codes.Errorf(codes.StoreUnavailable, "cannot agree on the license with the other nodes: %w", err)
	}
	if inForce.ID == l.license.ID {
		return l, nil
	}
	return s.inForce(inForce, l.license.ID)
}

// inForce verifies the cluster's license in force for this node.
func (s *Server) inForce(in store.LicenseInForce, mine string) (*loaded, error) {
	l, err := s.checkLicense(in.Data)
	if err != nil {
		e := codes.As(err)
		return nil, codes.Errorf(e.Code, "the cluster serves license %s (put in force by node %q, issued later than this server's %s), which this server cannot: %s", in.ID, in.SetBy, mine, e.Detail()).
			WithFix("Give every node the same license: copy the license in force to this node, or send the vendor activation requests of every node for one cluster license ('licensor issue --request A --request B …').")
	}
	s.log.Warn("license", "code", 0, "license", in.ID, "file_license", mine, "set_by", in.SetBy,
		"msg", "serving the cluster's license in force, issued later than this server's license file; copy it to this node's license file")
	return l, nil
}

// followLicense takes up the cluster's license in force when another node
// put a later one in force (a reload there).
func (s *Server) followLicense(ctx context.Context) {
	cl, ok := s.store.(store.ClusterLicense)
	if !ok || len(s.cfg.Upstream) > 0 {
		return
	}
	in, err := cl.License(ctx)
	cur := s.lic.Load()
	if err != nil || in.ID == "" || in.ID == cur.license.ID {
		return
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	now := s.clock.Now()
	ev := store.Event{Time: now, Kind: store.KindReload, Actor: "server"}
	l, err := s.inForce(in, cur.license.ID)
	if err != nil {
		e := codes.As(err)
		if s.disagree.Swap(e) != nil {
			return // said once
		}
		ev.Code, ev.Detail = int(e.Code), "refused the cluster's license, and stops deciding: "+e.Detail()
		s.log.Error("license", "code", int(e.Code), "name", e.Code.Name(), "err", e.Detail(), "fix", e.FixText())
	} else {
		s.disagree.Store(nil)
		old := s.lic.Swap(l)
		ev.Detail = fmt.Sprintf("license %s, put in force by node %q, replaces %s", in.ID, in.SetBy, old.license.ID)
	}
	s.store.Record(ctx, ev)
}
