package postgres

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/licensor/licensor/codes"
)

// A node's name is its own. While a node's store is open it holds a
// session advisory lock on the name, on a connection of its own, and a
// store opened elsewhere with the same name is refused
// (codes.NodeNameTaken): two servers under one name would append to one
// audit chain and count one node's reserve of seats as if each were the
// only one. The lock lives as long as the session, so the database
// releases it when the holder goes: at once when the process dies (its
// socket closes), within the keepalive below when its host does.
//
// A connection lost (the database restarted) takes the lock with it;
// Announce takes it again, and a node that finds its name taken by
// another server meanwhile stops writing.

// nameLockClass is the first key of the names' locks: two-key advisory
// locks are apart from the seats' and the migration's one-key ones.
const nameLockClass = 0x6c69 // "li"

// defaultNameWait is how long Open waits for a name whose holder is
// going (a node restarted at once after it was killed).
const defaultNameWait = time.Second

// nameClaim is the connection that holds the node's name.
type nameClaim struct {
	mu   sync.Mutex // held while the name is checked or taken again
	conn *pgx.Conn
	cfg  *pgx.ConnConfig
	lost atomic.Pointer[codes.Error] // another server took the name while this one had lost it
}

// claimConfig is the claim connection's: the database notices a holder
// whose host went down within about 25 s.
func claimConfig(cc *pgx.ConnConfig) *pgx.ConnConfig {
	c := cc.Copy()
	c.RuntimeParams["tcp_keepalives_idle"] = "10"
	c.RuntimeParams["tcp_keepalives_interval"] = "5"
	c.RuntimeParams["tcp_keepalives_count"] = "3"
	return c
}

// claim takes the node's name, waiting up to wait for another holder to
// go; a name still held is a codes.NodeNameTaken naming the holder.
func (s *Store) claim(ctx context.Context, wait time.Duration) error {
	c := &s.name
	conn, err := pgx.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, nameLockClass, s.node).Scan(&ok); err != nil {
			conn.Close(context.Background())
			return err
		}
		if ok {
			c.conn = conn
			return nil
		}
		if !time.Now().Before(deadline) {
			err := s.nameHolder(ctx, conn)
			conn.Close(context.Background())
			return err
		}
		select {
		case <-ctx.Done():
			conn.Close(context.Background())
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nameHolder describes the server that holds the node's name.
func (s *Store) nameHolder(ctx context.Context, conn *pgx.Conn) error {
	var from, app, address string
	var since *time.Time
	err := conn.QueryRow(ctx, `SELECT coalesce(host(a.client_addr), 'a local socket'), coalesce(a.application_name, ''), a.backend_start,
			coalesce((SELECT n.address FROM licensor_nodes n WHERE n.name = $2), '')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = hashtext($2)::oid AND l.objsubid = 2`,
		nameLockClass, s.node).Scan(&from, &app, &since, &address)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	who := "another site server"
	if address != "" {
		who += " (it announced " + address + ")"
	}
	if since != nil {
		from += " since " + since.UTC().Format(time.RFC3339) + " (" + strconv.Quote(app) + ")"
	}
	return codes.Errorf(codes.NodeNameTaken, "the node name %q is in use by %s, connected to the database from %s", s.node, who, from)
}

// holdName checks that the node still holds its name, and takes it again
// after its connection was lost. A name another server took meanwhile is
// lost for good: the store refuses to write from then on.
func (s *Store) holdName(ctx context.Context) error {
	c := &s.name
	if c.cfg == nil { // read-only
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.lost.Load(); e != nil {
		return e
	}
	if c.conn != nil {
		if c.conn.Ping(ctx) == nil {
			return nil
		}
		c.conn.Close(context.Background())
		c.conn = nil
	}
	err := s.claim(ctx, 0)
	if e := codes.As(err); e != nil && e.Code == codes.NodeNameTaken {
		c.lost.Store(e)
	}
	return err
}

// nameLost returns the error of a name lost to another server, or nil.
func (s *Store) nameLost() error {
	if e := s.name.lost.Load(); e != nil {
		return e
	}
	return nil
}

// releaseName lets the name go.
func (s *Store) releaseName() {
	c := &s.name
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close(context.Background())
		c.conn = nil
	}
}
