// Package postgres is the store that several site servers (nodes) share:
// one PostgreSQL database holds the pool, every node serves from it at
// once, and the limits stay exact however their requests interleave.
//
// The database is the only truth: a node keeps nothing of the pool in
// memory that an answer depends on. Each node commits its changes in
// batches (group commit) from one writer goroutine: a batch is one
// transaction that locks the seats its requests are about, decides every
// request by the same rules as the embedded store, and writes the result.
// A product's count is kept in a row per node (reserve.go): a node grants
// within a reserve of seats sized for it under the pool's lock, so the
// nodes' batches never wait for each other; a grant past its node's
// reserve, and every refusal, is decided again under the pool's lock with
// every node's row locked, after the batch removes its products' lapsed
// seats, so the limits are exact. The count includes lapsed seats not yet
// removed, so a count that fits the limit is safe without scanning the
// pool. A batch of the common kind (grants of free ids, releases by their
// holders) needs nothing read first and is written in one round trip
// instead of two, on a guess the database checks (speculate.go).
//
// Renewals take no pool lock: one UPDATE renews a whole batch of them, on
// connections with synchronous_commit off. Like the embedded store's
// written-behind renewals, a database crash may forget the last few
// hundred milliseconds of renewals (a lease then lapses up to one
// heartbeat early), never a seat; grants, releases, revokes and their
// audit events are durable before the answer.
//
// Time: the leases are timed by the clock of the node that asks (the
// times come in the requests, as for every store). Each node records the
// latest time it has seen in its row of licensor_nodes (with each
// ObserveTime, which the server calls every reap interval, and at Close;
// not in every batch, where a row every batch writes would cost each
// grant); the cluster's high-water mark is the latest of them, and DatabaseTime lets a node
// measure its clock against the database's, the cluster's one reference.
//
// Each node appends to an audit chain of its own (store.Event.Node), so
// nodes never wait for each other's audit writes.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/store"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Config says where the store is and which node opens it.
type Config struct {
	// URL is the database, as libpq takes it (postgres://user@host:port/db
	// ?sslmode=verify-full&sslrootcert=…, or key=value pairs). The
	// password comes from PasswordFile, PGPASSWORD or the pgpass file
	// (PGPASSFILE, ~/.pgpass), as libpq finds it.
	URL string
	// PasswordFile, when set, holds the password (one line).
	PasswordFile string
	// Node names this node: its audit chain and its row in the node list.
	Node string
	// Timeout bounds each transaction, so that a node cut off from the
	// database answers "store unavailable" instead of hanging (default 3s).
	Timeout time.Duration
	// MaxConns bounds the connections of the node (default 10).
	MaxConns int32
	// ReadOnly opens the store to read it (licensor audit verify): the
	// schema is not changed and the node is not registered.
	ReadOnly bool
	// NameWait is how long Open waits for another server that holds the
	// node's name to go (default 1s; see claim.go).
	NameWait time.Duration
}

// Store is the PostgreSQL backend.
type Store struct {
	pool    *pgxpool.Pool // grants, releases, reads: synchronous commit
	lazy    *pgxpool.Pool // renewals: synchronous_commit off
	node    string
	timeout time.Duration

	queue  chan *op
	renews chan *renewOp
	stop   chan struct{}
	done   sync.WaitGroup

	gate   sync.RWMutex // sends to the queues hold it to read; Close, to write
	mu     sync.Mutex
	closed bool
	high   time.Time             // the latest time this node has seen
	reaped []store.Lease         // lapsed leases this node removed since its last Expire
	held   map[string]knownCount // each product's count as the node last knew it

	// The writer's own: the head of this node's audit chain (nil until
	// read, and after a failed commit whose outcome is unknown), the
	// products whose pool row is known to exist, and the seats it
	// committed and has not seen end (see speculate.go).
	head      *store.Event
	headKnown bool
	products  map[string]bool
	known     map[key]bool

	guesses, wrongGuesses atomic.Int64 // speculative batches, and those the database refused

	name nameClaim // the node's hold on its name (not when read-only)
}

const defaultTimeout = 3 * time.Second

// maxBatch bounds the requests one transaction carries.
const maxBatch = 512

// renewers is how many renewal statements a node has in flight at once:
// renewals take no pool lock, so several batches run side by side.
const renewers = 1

// Open connects, brings the schema up to date (under a lock, so that nodes
// starting at once apply each migration once) and registers the node.
// Failures are *codes.Error: codes.StoreRefused for a setting or
// credentials the database refuses, codes.StoreTooNew for a schema written
// by a later licensor, codes.StoreUnavailable for a database that cannot
// be reached.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Node == "" {
		h, _ := os.Hostname()
		cfg.Node = h
	}
	if !store.ValidID(cfg.Node, store.MaxProductLen) {
		return nil, codes.Errorf(codes.ConfigInvalid, "the node name %q is not 1 to 64 printable characters without spaces or quotes", cfg.Node).
			WithFix("Set node to a short name for this server, unique in the cluster (its host name, say).")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 10
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, codes.Errorf(codes.StoreRefused, "the store URL cannot be parsed: %s", redact(err.Error()))
	}
	if cfg.PasswordFile != "" {
		b, err := os.ReadFile(cfg.PasswordFile)
		if err != nil {
			return nil, codes.Errorf(codes.FileMissing, "cannot read the store password file: %v", err).
				WithFix("Write the database password in store_password_file (one line, mode 0600), or use PGPASSFILE.")
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return nil, codes.Errorf(codes.StoreRefused, "the store password file %s is empty", cfg.PasswordFile)
		}
		pc.ConnConfig.Password = pw
	}
	pc.MaxConns = cfg.MaxConns
	pc.ConnConfig.ConnectTimeout = cfg.Timeout
	pc.ConnConfig.RuntimeParams["application_name"] = "licensor " + cfg.Node

	s := &Store{node: cfg.Node, timeout: cfg.Timeout, products: map[string]bool{}, known: map[key]bool{}, held: map[string]knownCount{},
		queue: make(chan *op, maxBatch), renews: make(chan *renewOp, maxBatch), stop: make(chan struct{})}
	if s.pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, codes.Errorf(codes.StoreRefused, "the store URL cannot be used: %s", redact(err.Error()))
	}
	lc := pc.Copy()
	lc.MaxConns = renewers + 1
	lc.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	if s.lazy, err = pgxpool.NewWithConfig(ctx, lc); err != nil {
		s.pool.Close()
		return nil, codes.Errorf(codes.StoreRefused, "the store URL cannot be used: %s", redact(err.Error()))
	}
	octx, cancel := context.WithTimeout(ctx, 4*cfg.Timeout)
	defer cancel()
	if err := s.migrate(octx, cfg.ReadOnly); err != nil {
		s.pool.Close()
		s.lazy.Close()
		return nil, Describe(err)
	}
	if !cfg.ReadOnly {
		if cfg.NameWait <= 0 {
			cfg.NameWait = defaultNameWait
		}
		s.name.cfg = claimConfig(pc.ConnConfig)
		err := s.claim(octx, cfg.NameWait)
		if err == nil {
			_, err = s.pool.Exec(octx, `INSERT INTO licensor_nodes (name) VALUES ($1) ON CONFLICT DO NOTHING`, s.node)
		}
		if err != nil {
			s.releaseName()
			s.pool.Close()
			s.lazy.Close()
			return nil, Describe(err)
		}
	}
	s.done.Add(1 + renewers)
	go s.writer()
	for range renewers {
		go s.renewer()
	}
	return s, nil
}

// Node returns the node's name.
func (s *Store) Node() string { return s.node }

// schemaVersion is the number of migrations this code knows.
func migrations() ([]string, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		b, err := migrationFiles.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[i] = string(b)
	}
	return out, nil
}

// migrateLock is the advisory lock that nodes starting at once take in
// turn to migrate.
const migrateLock = 0x6c6963656e736f72 // "licensor"

func (s *Store) migrate(ctx context.Context, readOnly bool) error {
	steps, err := migrations()
	if err != nil {
		return err
	}
	if readOnly {
		var have int
		if err := s.pool.QueryRow(ctx, `SELECT version FROM licensor_schema`).Scan(&have); err != nil {
			return err
		}
		if have > len(steps) {
			return &store.VersionError{Have: have, Know: len(steps)}
		}
		return nil
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLock)); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, int64(migrateLock))
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS licensor_schema (version integer NOT NULL)`); err != nil {
		return err
	}
	var have int
	err = conn.QueryRow(ctx, `SELECT version FROM licensor_schema`).Scan(&have)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if _, err := conn.Exec(ctx, `INSERT INTO licensor_schema (version) VALUES (0)`); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	if have > len(steps) {
		return &store.VersionError{Have: have, Know: len(steps)}
	}
	for i := have; i < len(steps); i++ {
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, steps[i]); err != nil {
			tx.Rollback(ctx)
			return fmt.Errorf("schema migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE licensor_schema SET version = $1`, i+1); err != nil {
			tx.Rollback(ctx)
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
	}
	return nil
}

// SchemaVersion is the layout this code writes.
func SchemaVersion() int {
	steps, _ := migrations()
	return len(steps)
}

// Describe turns a database failure into a *codes.Error naming its fix; it
// never repeats a password.
func Describe(err error) error {
	if err == nil {
		return nil
	}
	var ce *codes.Error
	if errors.As(err, &ce) {
		return err
	}
	var ve *store.VersionError
	if errors.As(err, &ve) {
		return codes.Errorf(codes.StoreTooNew, "%v", ve)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			return codes.Errorf(codes.StoreRefused, "the database refused the credentials: %s", pe.Message)
		case pe.Code == "3D000":
			return codes.Errorf(codes.StoreRefused, "%s", pe.Message).WithFix("Create the database first (createdb), or name an existing one in the store URL.")
		case strings.HasPrefix(pe.Code, "42"):
			return codes.Errorf(codes.StoreRefused, "the database refused a statement: %s (%s)", pe.Message, pe.Code).
				WithFix("Give the store's user the right to create tables in its database (the owner of the database, say).")
		}
		return codes.Errorf(codes.StoreUnavailable, "the database failed: %s (%s)", pe.Message, pe.Code)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) {
		return codes.Errorf(codes.StoreUnavailable, "cannot reach the database: %s", redact(err.Error())).
			WithFix("Check that PostgreSQL runs and that this host reaches it (the store URL's host and port, firewalls); 'licensor doctor' checks readiness.")
	}
	msg := redact(err.Error())
	if strings.Contains(msg, "password") || strings.Contains(msg, "SASL") || strings.Contains(msg, "authentication") {
		return codes.Errorf(codes.StoreRefused, "the database refused the credentials: %s", msg)
	}
	return codes.Errorf(codes.StoreUnavailable, "the database failed: %s", msg)
}

// redact removes a password from a message that quotes a connection
// string.
func redact(msg string) string {
	msg = passwordKV.ReplaceAllString(msg, "password=xxxxx")
	return passwordURL.ReplaceAllString(msg, "://$1:xxxxx@")
}

var (
	passwordKV  = regexp.MustCompile(`password=[^\s&'"]*`)
	passwordURL = regexp.MustCompile(`://([^:/@\s]*):[^@/\s]*@`)
)

// leaseCols are the columns scanLease reads, in order.
const leaseCols = `product, instance_id, kind, holder, since, renewed, expires, revoked, revoked_by, node`

func scanLease(r pgx.Row) (store.Lease, string, error) {
	var l store.Lease
	err := scanLeaseAnd(r, &l)
	return l, l.Node, err
}

// scanLeaseAnd scans a lease's columns into l, and the columns after them
// into more.
func scanLeaseAnd(r pgx.Row, l *store.Lease, more ...any) error {
	var kind string
	var revoked pgtype.Timestamptz
	dest := append([]any{&l.Product, &l.InstanceID, &kind, &l.Holder, &l.Since, &l.Renewed, &l.Expires, &revoked, &l.RevokedBy, &l.Node}, more...)
	if err := r.Scan(dest...); err != nil {
		return err
	}
	l.Kind = store.SeatKind(kind)
	l.Since, l.Renewed, l.Expires = l.Since.UTC(), l.Renewed.UTC(), l.Expires.UTC()
	if revoked.Valid {
		l.Revoked = revoked.Time.UTC()
	}
	return nil
}

// Announce implements store.Cluster: it records what the node is and that
// it is alive now, by the database's clock.
func (s *Store) Announce(ctx context.Context, n store.NodeInfo) error {
	if err := s.open(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.holdName(ctx); err != nil {
		return Describe(err)
	}
	var started *time.Time
	if !n.Started.IsZero() {
		t := micro(n.Started)
		started = &t
	}
	_, err := s.lazy.Exec(ctx, `UPDATE licensor_nodes SET address = $2, version = $3, license_id = $4, key_id = $5,
		started = coalesce($6, started), last_seen = now() WHERE name = $1`, s.node, n.Address, n.Version, n.LicenseID, n.KeyID, started)
	return err
}

// Nodes implements store.Cluster.
func (s *Store) Nodes(ctx context.Context, now time.Time) ([]store.NodeInfo, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT n.name, n.address, n.version, n.license_id, n.key_id, n.started, n.last_seen,
		(SELECT count(*) FROM licensor_leases l WHERE l.node = n.name AND l.expires >= $1)
		FROM licensor_nodes n ORDER BY n.name`, micro(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.NodeInfo
	for rows.Next() {
		var n store.NodeInfo
		var started, seen pgtype.Timestamptz
		if err := rows.Scan(&n.Name, &n.Address, &n.Version, &n.LicenseID, &n.KeyID, &started, &seen, &n.Seats); err != nil {
			return nil, err
		}
		if started.Valid {
			n.Started = started.Time.UTC()
		}
		if seen.Valid {
			n.LastSeen = seen.Time.UTC()
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

var _ store.Cluster = (*Store)(nil)

// ReportUsage implements store.Cluster.
func (s *Store) ReportUsage(ctx context.Context, rates map[string]float64) error {
	if err := s.open(); err != nil {
		return err
	}
	if len(rates) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var ps []string
	var rs []float64
	for p, r := range rates {
		ps, rs = append(ps, p), append(rs, r)
	}
	_, err := s.lazy.Exec(ctx, `INSERT INTO licensor_usage (node, product, rate) SELECT $1, p, r FROM unnest($2::text[], $3::float8[]) AS t(p, r)
		ON CONFLICT (node, product) DO UPDATE SET rate = EXCLUDED.rate, at = now()`, s.node, ps, rs)
	return err
}

// Usage implements store.Cluster.
func (s *Store) Usage(ctx context.Context, fresh time.Duration) (map[string]float64, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT product, sum(rate) FROM licensor_usage WHERE at > now() - $1::interval GROUP BY product`, fresh)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var p string
		var r float64
		if err := rows.Scan(&p, &r); err != nil {
			return nil, err
		}
		out[p] = r
	}
	return out, rows.Err()
}

// OfferLicense implements store.ClusterLicense.
func (s *Store) OfferLicense(ctx context.Context, l store.LicenseInForce) (store.LicenseInForce, error) {
	if err := s.open(); err != nil {
		return store.LicenseInForce{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.pool.Exec(ctx, `INSERT INTO licensor_license (license_id, issued, data, set_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (one) DO UPDATE SET license_id = EXCLUDED.license_id, issued = EXCLUDED.issued, data = EXCLUDED.data, set_by = EXCLUDED.set_by, set_at = now()
		WHERE (licensor_license.issued, licensor_license.license_id) < (EXCLUDED.issued, EXCLUDED.license_id)`,
		l.ID, micro(l.Issued), l.Data, s.node)
	if err != nil {
		return store.LicenseInForce{}, err
	}
	return s.License(ctx)
}

// License implements store.ClusterLicense.
func (s *Store) License(ctx context.Context) (store.LicenseInForce, error) {
	if err := s.open(); err != nil {
		return store.LicenseInForce{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var l store.LicenseInForce
	err := s.pool.QueryRow(ctx, `SELECT license_id, issued, data, set_by FROM licensor_license`).Scan(&l.ID, &l.Issued, &l.Data, &l.SetBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.LicenseInForce{}, nil
	}
	l.Issued = l.Issued.UTC()
	return l, err
}

var _ store.ClusterLicense = (*Store)(nil)

// micro is the resolution of PostgreSQL's timestamps: every time the store
// keeps is truncated to it on the way in, so what it answers is what it
// reads back.
func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Leases implements store.Store.
func (s *Store) Leases(ctx context.Context, product string, now time.Time) ([]store.Lease, error) {
	ls, _, err := s.leases(ctx, product, now)
	return ls, err
}

func (s *Store) leases(ctx context.Context, product string, now time.Time) ([]store.Lease, []string, error) {
	if err := s.open(); err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT `+leaseCols+` FROM licensor_leases WHERE ($1 = '' OR product = $1) AND expires >= $2 ORDER BY product, since, instance_id`, product, micro(now))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var out []store.Lease
	var nodes []string
	for rows.Next() {
		l, node, err := scanLease(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, l)
		nodes = append(nodes, node)
	}
	return out, nodes, rows.Err()
}

// Held implements store.Store.
func (s *Store) Held(ctx context.Context, now time.Time) (map[string]int, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.pool.Query(ctx, `SELECT product, count(*) FROM licensor_leases WHERE expires >= $1 GROUP BY product`, micro(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var p string
		var n int
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, rows.Err()
}

// observe raises this node's mark in memory.
func (s *Store) observe(t time.Time) {
	s.mu.Lock()
	if t.After(s.high) {
		s.high = t
	}
	s.mu.Unlock()
}

// HighWater implements store.Store: the latest time any node has seen.
func (s *Store) HighWater(ctx context.Context) (time.Time, error) {
	if err := s.open(); err != nil {
		return time.Time{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var t pgtype.Timestamptz
	if err := s.pool.QueryRow(ctx, `SELECT max(high_water) FROM licensor_nodes`).Scan(&t); err != nil {
		return time.Time{}, err
	}
	s.mu.Lock()
	high := s.high
	s.mu.Unlock()
	if !t.Valid || t.Time.Before(high) {
		return high, nil
	}
	return t.Time.UTC(), nil
}

// ObserveTime implements store.Store: it raises this node's mark.
func (s *Store) ObserveTime(ctx context.Context, t time.Time) error {
	if err := s.open(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.observe(micro(t))
	return s.writeHigh(ctx)
}

// writeHigh records this node's mark.
func (s *Store) writeHigh(ctx context.Context) error {
	s.mu.Lock()
	high := s.high
	s.mu.Unlock()
	if high.IsZero() {
		return nil
	}
	_, err := s.lazy.Exec(ctx, `UPDATE licensor_nodes SET high_water = greatest(high_water, $2) WHERE name = $1`, s.node, high)
	return err
}

// DatabaseTime returns the database server's clock, read halfway through a
// round trip, and the round trip's length: how far a node's clock is off
// the cluster's reference is now − DatabaseTime, within rtt/2.
func (s *Store) DatabaseTime(ctx context.Context, now func() time.Time) (db time.Time, at time.Time, rtt time.Duration, err error) {
	if err := s.open(); err != nil {
		return time.Time{}, time.Time{}, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return time.Time{}, time.Time{}, 0, err
	}
	defer conn.Release()
	// A first round trip warms the connection; the second is measured.
	var t time.Time
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, time.Time{}, 0, err
	}
	start := time.Now()
	startNow := now()
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, time.Time{}, 0, err
	}
	rtt = time.Since(start)
	return t.UTC(), startNow.Add(rtt / 2), rtt, nil
}

// Audit implements store.Store: every node's chain in turn, by node name.
func (s *Store) Audit(ctx context.Context, after int64, fn func(store.Event) error) error {
	if err := s.open(); err != nil {
		return err
	}
	const page = 1000
	node, seq := "", int64(-1)
	for {
		rows, err := s.pool.Query(ctx, `SELECT node, seq, at, kind, product, instance_id, actor, code, detail, prev, hash FROM licensor_audit
			WHERE seq > $1 AND (node, seq) > ($2, $3) ORDER BY node, seq LIMIT $4`, after, node, seq, page)
		if err != nil {
			return err
		}
		var events []store.Event
		for rows.Next() {
			var e store.Event
			if err := rows.Scan(&e.Node, &e.Seq, &e.Time, &e.Kind, &e.Product, &e.InstanceID, &e.Actor, &e.Code, &e.Detail, &e.Prev, &e.Hash); err != nil {
				rows.Close()
				return err
			}
			e.Time = e.Time.UTC()
			events = append(events, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range events {
			if err := fn(e); err != nil {
				return err
			}
			node, seq = e.Node, e.Seq
		}
		if len(events) < page {
			return nil
		}
	}
}

func (s *Store) open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	return s.nameLost()
}

// Close finishes the requests in flight and closes the connections.
func (s *Store) Close() error {
	s.gate.Lock() // no send is in flight past this
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.gate.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.gate.Unlock()
	close(s.stop)
	s.done.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	s.writeHigh(ctx)
	cancel()
	s.releaseName()
	s.pool.Close()
	s.lazy.Close()
	return nil
}

var _ store.Store = (*Store)(nil)

// retryable reports whether a transaction that did not commit failed
// only because it lost a race (a deadlock or a serialization failure), or
// on a connection that had died (the pool keeps connections made before
// the database went away and came back), and may run again. A timeout is
// not retried: the database is not answering.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001"
	}
	return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
}
