// Package sqlite is the embedded store: one SQLite file in WAL mode (pure
// Go, no cgo), written by a single connection so that "database is locked"
// cannot happen inside the server.
//
// The backend keeps the pool in memory and decides from it; each change is
// appended to the current batch, and one writer goroutine commits batches
// in single transactions (group commit). A caller returns only after the
// batch holding its change is committed, so an answer the server gives is
// on disk. With synchronous=NORMAL in WAL mode a commit survives the
// process being killed; a power cut may lose the last few milliseconds of
// commits, never leave the file inconsistent. If a commit fails the memory
// image is reloaded from the file and every caller in the batch gets the
// error.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // the database/sql driver "sqlite"

	"github.com/licensor/licensor/internal/cohort"
	"github.com/licensor/licensor/store"
)

const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (
	product     TEXT NOT NULL,
	instance_id TEXT NOT NULL,
	holder      TEXT NOT NULL,
	since       INTEGER NOT NULL,
	renewed     INTEGER NOT NULL,
	expires     INTEGER NOT NULL,
	kind        TEXT NOT NULL DEFAULT 'instance',
	revoked     INTEGER NOT NULL DEFAULT 0,
	revoked_by  TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (product, instance_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS audit (
	seq         INTEGER PRIMARY KEY,
	at          INTEGER NOT NULL,
	kind        TEXT NOT NULL,
	product     TEXT NOT NULL,
	instance_id TEXT NOT NULL,
	actor       TEXT NOT NULL,
	code        INTEGER NOT NULL,
	detail      TEXT NOT NULL,
	prev        BLOB,
	hash        BLOB NOT NULL
);
` + reportSchema

// reportSchema is what usage reports add (package report): an index of
// the audit log by time, the rate samples, the hourly summaries and where
// they end.
const reportSchema = `CREATE INDEX IF NOT EXISTS audit_at ON audit (at);
CREATE TABLE IF NOT EXISTS usage_samples (
	at      INTEGER NOT NULL,
	node    TEXT NOT NULL,
	product TEXT NOT NULL,
	rate    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS usage_samples_at ON usage_samples (at);
CREATE TABLE IF NOT EXISTS report_hours (
	hour    INTEGER NOT NULL,
	product TEXT NOT NULL,
	data    BLOB NOT NULL,
	sets    BLOB NOT NULL DEFAULT x'',
	PRIMARY KEY (hour, product)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS report_state (
	one  INTEGER PRIMARY KEY CHECK (one = 1),
	at   INTEGER NOT NULL,
	data BLOB NOT NULL
);
INSERT OR IGNORE INTO report_state (one, at, data) VALUES (1, 0, x'');
`

const highWaterKey = "time_high_water"

// schemaVersion is the layout this code writes, kept in meta under
// schemaKey: 1 had no seat kinds, 2 adds kind, revoked and revoked_by to
// leases, 3 adds what usage reports keep (reportSchema). A file of a
// later version is refused rather than misread.
const (
	schemaKey     = "schema_version"
	schemaVersion = 3
)

// migrations bring a file of version i+1 to version i+2.
var migrations = []string{
	`ALTER TABLE leases ADD COLUMN kind TEXT NOT NULL DEFAULT 'instance';
	ALTER TABLE leases ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE leases ADD COLUMN revoked_by TEXT NOT NULL DEFAULT '';
	UPDATE leases SET kind = 'keyfile' WHERE instance_id LIKE 'keyfile:%';`,
	reportSchema,
}

// Store is the SQLite backend.
type Store struct {
	db    *sql.DB   // readers
	wconn *sql.Conn // the one writer's connection
	stmts statements

	mu     sync.Mutex
	pool   *pool
	high   time.Time
	last   *store.Event  // the audit chain's head
	reaped []store.Lease // lapsed leases removed since the last Expire
	cur    *batch
	closed bool
	unread error // a failed commit left memory unlike the file, which could not be read back

	ckptMu        sync.Mutex   // one checkpoint at a time
	walFrames     atomic.Int64 // the WAL's length at the last checkpoint
	restartFrames int64
	ckptDone      chan struct{}

	kick chan struct{} // a caller waits for the current batch
	lazy chan struct{} // the current batch holds changes nobody waits for
	stop chan struct{}
	done chan struct{}
}

// lazyDelay is how long changes nobody waits for (renewals, the time mark)
// may gather before they are committed.
const lazyDelay = 10 * time.Millisecond

// groupWindow spaces commits when they come back to back. A transaction's
// fixed cost (locks, the WAL frames of the pages it touches, the commit)
// is most of what it costs, so under load the writer lets the next batch
// gather for what remains of groupWindow since the last commit began:
// callers wait at most that much longer, and the writer commits at most
// 1/groupWindow transactions a second, each carrying many changes. A
// commit after a quiet spell starts at once, and so does one that as many
// callers wait for as waited for the largest of the recent batches (see
// internal/cohort): 10,756–10,871 register+release cycles/s with 16
// clients, against 9,958–10,120 with the window alone (paired runs).

// Checkpoints copy the WAL into the database file. checkpointInterval
// spaces the checkpointer's passive runs, on a reader connection beside
// the writer. A passive checkpoint never waits for the writer, so under
// steady writes it rarely catches up with the WAL's end, and only a
// checkpoint that does lets the next transaction start the WAL over; when
// the WAL holds more than restartFrames frames, the writer runs one itself
// between two batches (a short one: the checkpointer has copied most
// pages already).
const (
	checkpointInterval = 250 * time.Millisecond
	restartFrames      = 4096 // 16 MiB of 4 KiB pages
)
const groupWindow = 300 * time.Microsecond

// statements are prepared on the writer's connection: the fixed ones
// once, at Open; each rows statement for a number of rows the first time
// a batch has that many.
type statements struct {
	begin, commit, rollback *sql.Stmt
	meta                    *sql.Stmt
	upsert, remove, audit   rows
	args                    []any // the writer's, reused batch after batch
}

func (st *statements) prepare(db *sql.Conn) error {
	st.upsert = rows{conn: db, perRow: 9,
		head: `INSERT INTO leases (product, instance_id, holder, since, renewed, expires, kind, revoked, revoked_by) VALUES `,
		tail: ` ON CONFLICT (product, instance_id) DO UPDATE SET holder = excluded.holder, since = excluded.since, renewed = excluded.renewed, expires = excluded.expires,
			kind = excluded.kind, revoked = excluded.revoked, revoked_by = excluded.revoked_by`}
	st.remove = rows{conn: db, perRow: 2, head: `DELETE FROM leases WHERE (product, instance_id) IN (VALUES `, tail: `)`}
	st.audit = rows{conn: db, perRow: 10, head: `INSERT INTO audit (seq, at, kind, product, instance_id, actor, code, detail, prev, hash) VALUES `}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&st.meta, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`},
		{&st.begin, `BEGIN IMMEDIATE`},
		{&st.commit, `COMMIT`},
		{&st.rollback, `ROLLBACK`},
	} {
		var err error
		if *p.stmt, err = db.PrepareContext(context.Background(), p.sql); err != nil {
			return err
		}
	}
	return nil
}

// maxRows bounds the rows one statement writes; a larger batch takes
// several.
const maxRows = 16

// rows is a statement that writes many rows at once: head, then one
// parenthesised group of perRow parameters a row, then tail. A batch's
// rows go in as few statements as maxRows allows, since each statement
// costs about as much again as the row it writes (database/sql's and the
// driver's calls, SQLite's locks, its program's start and end): batches
// of 4 and 8 register+release pairs took 13–18% less CPU so, batches of 2
// the same (paired runs of a fixed-batch benchmark).
type rows struct {
	conn       *sql.Conn
	head, tail string
	perRow     int
	stmts      [maxRows + 1]*sql.Stmt // by the rows they write
}

// exec writes the rows whose parameters args holds, perRow each.
func (r *rows) exec(args []any) error {
	for len(args) > 0 {
		n := min(len(args)/r.perRow, maxRows)
		st, err := r.stmt(n)
		if err != nil {
			return err
		}
		if _, err := st.Exec(args[:n*r.perRow]...); err != nil {
			return err
		}
		args = args[n*r.perRow:]
	}
	return nil
}

// stmt is the statement for n rows, prepared the first time it is needed.
func (r *rows) stmt(n int) (*sql.Stmt, error) {
	if st := r.stmts[n]; st != nil {
		return st, nil
	}
	group := "(?" + strings.Repeat(", ?", r.perRow-1) + ")"
	st, err := r.conn.PrepareContext(context.Background(), r.head+group+strings.Repeat(", "+group, n-1)+r.tail)
	if err != nil {
		return nil, err
	}
	r.stmts[n] = st
	return st, nil
}

// batch is the changes committed in one transaction.
type batch struct {
	leases map[key]*store.Lease // nil value: delete
	order  []key
	events []store.Event
	high   time.Time
	report reportBatch
	done   chan struct{}
	err    error
	// waiters counts the callers waiting for the batch to commit;
	// guarded by Store.mu.
	waiters int
}

func newBatch() *batch {
	return &batch{leases: map[key]*store.Lease{}, done: make(chan struct{})}
}

func (b *batch) empty() bool {
	return len(b.order) == 0 && len(b.events) == 0 && b.high.IsZero() && b.report.empty()
}

// setLease records k's lease as l (nil: deleted). The batch keeps l
// itself, as the pool does: a lease in the pool is never changed in
// place, only replaced by a changed copy.
func (b *batch) setLease(k key, l *store.Lease) {
	if _, ok := b.leases[k]; !ok {
		b.order = append(b.order, k)
	}
	b.leases[k] = l
}

// Open opens (creating if absent) the store at path.
func Open(path string) (*Store, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection writes, the other reads: SQLite in WAL mode lets a
	// reader run beside the writer, and one writer never meets "database is
	// locked".
	db.SetMaxOpenConns(2)
	db.SetConnMaxIdleTime(0)
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db, cur: newBatch(), kick: make(chan struct{}, 1), lazy: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), ckptDone: make(chan struct{}), restartFrames: restartFrames}
	if s.wconn, err = db.Conn(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// The writer never checkpoints on commit: that would stall the callers
	// of the commit that crosses the threshold for as long as the copy and
	// its fsync take. A goroutine checkpoints instead (checkpointer).
	if _, err := s.wconn.ExecContext(context.Background(), "PRAGMA wal_autocheckpoint=0"); err != nil {
		s.wconn.Close()
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.stmts.prepare(s.wconn); err != nil {
		s.wconn.Close()
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	go s.writer()
	go s.checkpointer()
	return s, nil
}

// migrate makes a new file, or brings an older one to schemaVersion in
// one transaction; a file from a later licensor is refused.
func migrate(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var existed bool
	if err := tx.QueryRow(`SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'leases'`).Scan(&existed); err != nil {
		return err
	}
	if _, err := tx.Exec(schema); err != nil {
		return err
	}
	version := schemaVersion
	if existed {
		var v string
		switch err := tx.QueryRow(`SELECT value FROM meta WHERE key = ?`, schemaKey).Scan(&v); {
		case errors.Is(err, sql.ErrNoRows):
			version = 1 // written before versions were kept
		case err != nil:
			return err
		default:
			if version, err = strconv.Atoi(v); err != nil || version < 1 {
				return fmt.Errorf("schema version %q is not a number", v)
			}
		}
	}
	if version > schemaVersion {
		return &store.VersionError{Have: version, Know: schemaVersion}
	}
	for ; version < schemaVersion; version++ {
		if _, err := tx.Exec(migrations[version-1]); err != nil {
			return fmt.Errorf("migrate the schema from version %d: %w", version, err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, schemaKey, strconv.Itoa(schemaVersion)); err != nil {
		return err
	}
	return tx.Commit()
}

// load reads the file into memory. Called with s.mu held or before the
// writer starts.
func (s *Store) load() error {
	p := newPool()
	rows, err := s.db.Query(`SELECT product, instance_id, holder, since, renewed, expires, kind, revoked, revoked_by FROM leases`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var l store.Lease
		var since, renewed, expires, revoked int64
		if err := rows.Scan(&l.Product, &l.InstanceID, &l.Holder, &since, &renewed, &expires, &l.Kind, &revoked, &l.RevokedBy); err != nil {
			return err
		}
		l.Since, l.Renewed, l.Expires = fromMicros(since), fromMicros(renewed), fromMicros(expires)
		if revoked != 0 {
			l.Revoked = fromMicros(revoked)
		}
		p.put(&l)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	var high string
	switch err := s.db.QueryRow(`SELECT value FROM meta WHERE key = ?`, highWaterKey).Scan(&high); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return err
	default:
		if s.high, err = time.Parse(time.RFC3339Nano, high); err != nil {
			return fmt.Errorf("time high-water mark %q: %w", high, err)
		}
	}
	last, err := s.lastEvent()
	if err != nil {
		return err
	}
	s.pool, s.last = p, last
	return nil
}

func (s *Store) lastEvent() (*store.Event, error) {
	var e store.Event
	err := scanEvent(s.db.QueryRow(`SELECT seq, at, kind, product, instance_id, actor, code, detail, prev, hash FROM audit ORDER BY seq DESC LIMIT 1`), &e)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

type scanner interface{ Scan(...any) error }

func scanEvent(r scanner, e *store.Event) error {
	var at int64
	if err := r.Scan(&e.Seq, &at, &e.Kind, &e.Product, &e.InstanceID, &e.Actor, &e.Code, &e.Detail, &e.Prev, &e.Hash); err != nil {
		return err
	}
	e.Time = fromMicros(at)
	return nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

// optMicros is micros, with 0 for the zero time.
func optMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}
func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// writer commits batches until Close: at once when a caller waits,
// within lazyDelay otherwise, so that renewals share transactions.
func (s *Store) writer() {
	defer close(s.done)
	var seen cohort.Cohort
	timer := time.NewTimer(lazyDelay)
	timer.Stop()
	var last time.Time // when the last commit began
	for {
		select {
		case <-s.kick:
		case <-s.lazy:
			// Nobody waits yet: gather for lazyDelay, or until someone does.
			if !s.pause(timer, lazyDelay, s.kick) {
				s.flush()
				return
			}
		case <-s.stop:
			s.flush()
			return
		}
		if wait := groupWindow - time.Since(last); wait > 0 && !s.gather(timer, wait, seen.Want()) {
			s.flush()
			return
		}
		last = time.Now()
		seen.Add(s.flush())
		if s.walFrames.Load() > s.restartFrames {
			s.catchUp()
		}
	}
}

// checkpointer runs passive checkpoints until Close.
func (s *Store) checkpointer() {
	defer close(s.ckptDone)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.ckptMu.Lock()
			s.checkpoint(s.db)
			s.ckptMu.Unlock()
		case <-s.stop:
			return
		}
	}
}

// checkpoint runs a passive checkpoint on db and notes how long the WAL
// is. s.ckptMu held: the writer's catch-up and the checkpointer take
// turns.
func (s *Store) checkpoint(db interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) {
	var busy, frames, copied int64
	if err := db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err == nil {
		s.walFrames.Store(frames)
	}
}

// catchUp checkpoints the whole WAL from the writer's connection, so that
// the next transaction starts it over. Called by the writer between
// batches; it leaves the turn to a checkpoint already running rather than
// stall the next batch behind it.
func (s *Store) catchUp() {
	if !s.ckptMu.TryLock() {
		return
	}
	defer s.ckptMu.Unlock()
	s.checkpoint(s.wconn)
}

// gather waits for d while the current batch gathers, or until want
// callers wait for it (see internal/cohort); false when the store is closing.
func (s *Store) gather(t *time.Timer, d time.Duration, want int) bool {
	t.Reset(d)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := s.cur.waiters
		s.mu.Unlock()
		if n >= want {
			return true
		}
		select {
		case <-t.C:
			return true
		case <-s.kick:
		case <-s.stop:
			return false
		}
	}
}

// pause waits for d, or until early is ready (never when nil); false when
// the store is closing.
func (s *Store) pause(t *time.Timer, d time.Duration, early <-chan struct{}) bool {
	t.Reset(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-early:
	case <-s.stop:
		return false
	}
	return true
}

// flush commits the current batch, if it holds anything, and returns how
// many callers waited for it.
func (s *Store) flush() int {
	s.mu.Lock()
	b := s.cur
	if b.empty() {
		s.mu.Unlock() // nobody waits on an empty batch
		return 0
	}
	s.cur = newBatch()
	s.mu.Unlock()

	b.err = s.commit(b)
	if b.err != nil {
		// Memory may hold changes the file does not: reload, and fail the
		// callers whose changes were applied since.
		s.mu.Lock()
		if err := s.load(); err != nil {
			// The memory image is not the file's: refuse every call until
			// it can be read back (begin), rather than decide from it.
			b.err = errors.Join(b.err, err)
			s.unread = err
		}
		next := s.cur
		s.cur = newBatch()
		s.mu.Unlock()
		next.err = b.err
		close(next.done)
	}
	close(b.done)
	return b.waiters
}

func (s *Store) commit(b *batch) (err error) {
	if _, err := s.stmts.begin.Exec(); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.stmts.rollback.Exec()
		}
	}()
	// A batch holds one change a seat (its last), so its upserts and
	// deletes touch different rows and may go in either order.
	args := s.stmts.args[:0]
	defer func() {
		clear(args) // let the batch's strings go
		s.stmts.args = args[:0]
	}()
	for _, k := range b.order {
		if l := b.leases[k]; l != nil {
			args = append(args, l.Product, l.InstanceID, l.Holder, micros(l.Since), micros(l.Renewed), micros(l.Expires), string(l.Kind), optMicros(l.Revoked), l.RevokedBy)
		}
	}
	if err := s.stmts.upsert.exec(args); err != nil {
		return err
	}
	args = args[:0]
	for _, k := range b.order {
		if b.leases[k] == nil {
			args = append(args, k.product, k.instance)
		}
	}
	if err := s.stmts.remove.exec(args); err != nil {
		return err
	}
	args = args[:0]
	for _, e := range b.events {
		args = append(args, e.Seq, micros(e.Time), e.Kind, e.Product, e.InstanceID, e.Actor, e.Code, e.Detail, e.Prev, e.Hash)
	}
	if err := s.stmts.audit.exec(args); err != nil {
		return err
	}
	if !b.high.IsZero() {
		if _, err := s.stmts.meta.Exec(highWaterKey, b.high.UTC().Format(time.RFC3339Nano)); err != nil {
			return err
		}
	}
	if err := b.report.commit(s.wconn); err != nil {
		return err
	}
	_, err = s.stmts.commit.Exec()
	return err
}

// begin locks the store for a change; end unlocks it and returns the batch
// to wait for.
func (s *Store) begin() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	if s.unread != nil {
		if err := s.load(); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("the store cannot be read back after a failed commit: %w", err)
		}
		s.unread = nil
	}
	return nil
}

func (s *Store) end() {
	pending := !s.cur.empty()
	s.mu.Unlock()
	if pending {
		select {
		case s.lazy <- struct{}{}:
		default:
		}
	}
}

// endWait is end for a caller that waits for the batch to commit.
func (s *Store) endWait(ctx context.Context) error {
	return wait(ctx, s.detach())
}

// detach unlocks the store and has the writer commit the current batch;
// it returns the batch, nil when it was empty. s.mu held.
func (s *Store) detach() *batch {
	b := s.cur
	if b.empty() {
		// What the caller changed was committed with an earlier batch;
		// the writer never commits (or closes) an empty one.
		s.mu.Unlock()
		return nil
	}
	b.waiters++
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return b
}

// wait waits for b (nil: nothing to wait for) to be committed.
func wait(ctx context.Context, b *batch) error {
	if b == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		// The change is applied and will be committed; only the wait ends.
		return ctx.Err()
	}
}

// event seals an audit event onto the chain and the batch. s.mu held.
func (s *Store) event(e store.Event) {
	e.Seal(s.last)
	s.last = &e
	s.cur.events = append(s.cur.events, e)
}

// reap expires lapsed leases into the batch. s.mu held.
func (s *Store) reap(now time.Time) []*store.Lease {
	gone := s.pool.reap(now)
	for _, l := range gone {
		s.reaped = append(s.reaped, *l)
		s.cur.setLease(key{l.Product, l.InstanceID}, nil)
		s.event(store.Event{Time: now, Kind: store.KindExpire, Product: l.Product, InstanceID: l.InstanceID, Actor: "server",
			Detail: "lease lapsed at " + l.Expires.UTC().Format(time.RFC3339)})
	}
	return gone
}

func (s *Store) observe(t time.Time) {
	if t.After(s.high) {
		s.high = t
		s.cur.high = t
	}
}

// Acquire implements store.Store.
func (s *Store) Acquire(ctx context.Context, req store.AcquireRequest) (store.Grant, error) {
	kind := req.Kind
	if kind == "" {
		kind = store.SeatInstance
	}
	if err := s.begin(); err != nil {
		return store.Grant{}, err
	}
	s.reap(req.Now)
	s.observe(req.Now)
	k := key{req.Product, req.InstanceID}
	if l := s.pool.get(k); l != nil {
		if err := owns(l, kind, req.Holder); err != nil {
			s.end()
			return store.Grant{}, err
		}
		if kind == store.SeatInstance {
			g := s.renew(k, l, req.TTL, req.Now)
			s.end()
			if req.Decided != nil {
				req.Decided(g)
			}
			return g, nil
		}
		if !l.Revoked.IsZero() {
			s.end()
			return store.Grant{}, &store.RevokedError{Lease: *l}
		}
		// A key-file seat lasts as long as the last key file given: it
		// moves later, never earlier, and the answer waits for it.
		c := *l
		c.Holder, c.Renewed = req.Holder, req.Now
		if exp := req.Now.Add(req.TTL); exp.After(c.Expires) {
			c.Expires = exp
		}
		s.pool.put(&c)
		s.cur.setLease(k, &c)
		s.event(store.Event{Time: req.Now, Kind: store.KindResume, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Holder,
			Detail: "key-file seat held until " + c.Expires.UTC().Format(time.RFC3339)})
		g := store.Grant{Lease: c, Resumed: true, Held: s.pool.held(req.Product)}
		return g, s.endWait(ctx)
	}
	held := s.pool.held(req.Product)
	if held >= req.Limit {
		full := &store.FullError{Product: req.Product, Held: held, Limit: req.Limit, OldestExpires: s.pool.oldest(req.Product)}
		s.end()
		return store.Grant{}, full
	}
	l := &store.Lease{Product: req.Product, InstanceID: req.InstanceID, Kind: kind, Holder: req.Holder, Since: req.Now, Renewed: req.Now, Expires: req.Now.Add(req.TTL)}
	s.pool.put(l)
	s.cur.setLease(k, l)
	e := store.Event{Time: req.Now, Kind: store.KindGrant, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Holder}
	if kind == store.SeatKeyFile {
		e.Detail = "key-file seat held until " + l.Expires.UTC().Format(time.RFC3339)
	}
	s.event(e)
	g := store.Grant{Lease: *l, Held: held + 1}
	if req.Decided == nil {
		return g, s.endWait(ctx)
	}
	b := s.detach()
	req.Decided(g) // while the batch is committed
	return g, wait(ctx, b)
}

// owns checks that a request for a seat of kind by holder may change l.
func owns(l *store.Lease, kind store.SeatKind, holder string) error {
	return store.CheckOwner(*l, kind, holder)
}

// renew extends an instance's seat l. s.mu held.
func (s *Store) renew(k key, l *store.Lease, ttl time.Duration, now time.Time) store.Grant {
	c := *l
	c.Renewed, c.Expires = now, now.Add(ttl)
	s.pool.put(&c)
	s.cur.setLease(k, &c)
	return store.Grant{Lease: c, Resumed: true, Held: s.pool.held(k.product)}
}

// Renew implements store.Store.
func (s *Store) Renew(ctx context.Context, req store.RenewRequest) (store.Grant, error) {
	if err := s.begin(); err != nil {
		return store.Grant{}, err
	}
	s.reap(req.Now)
	s.observe(req.Now)
	k := key{req.Product, req.InstanceID}
	l := s.pool.get(k)
	if l == nil {
		s.end()
		return store.Grant{}, store.ErrNoLease
	}
	if err := owns(l, store.SeatInstance, req.Holder); err != nil {
		s.end()
		return store.Grant{}, err
	}
	g := s.renew(k, l, req.TTL, req.Now)
	s.end()
	return g, nil
}

// Release implements store.Store.
func (s *Store) Release(ctx context.Context, req store.ReleaseRequest) (store.Lease, error) {
	if err := s.begin(); err != nil {
		return store.Lease{}, err
	}
	s.reap(req.Now)
	s.observe(req.Now)
	k := key{req.Product, req.InstanceID}
	l := s.pool.get(k)
	if l == nil {
		s.end()
		return store.Lease{}, store.ErrNoLease
	}
	if req.Reason != store.KindRevoke {
		if err := owns(l, store.SeatInstance, req.Actor); err != nil {
			s.end()
			return store.Lease{}, err
		}
	}
	if l.Kind == store.SeatKeyFile {
		// Revoked: counted until its key file expires, never renewed.
		if !l.Revoked.IsZero() {
			s.end()
			return *l, nil
		}
		c := *l
		c.Revoked, c.RevokedBy = req.Now, req.Actor
		s.pool.put(&c)
		s.cur.setLease(k, &c)
		s.event(store.Event{Time: req.Now, Kind: store.KindRevoke, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Actor,
			Detail: req.EventDetail("key-file seat not renewed; counted until " + c.Expires.UTC().Format(time.RFC3339))})
		return c, s.endWait(ctx)
	}
	s.pool.remove(k)
	s.cur.setLease(k, nil)
	s.event(store.Event{Time: req.Now, Kind: req.Reason, Product: req.Product, InstanceID: req.InstanceID, Actor: req.Actor, Detail: req.EventDetail("")})
	return *l, s.endWait(ctx)
}

// Expire implements store.Store.
func (s *Store) Expire(ctx context.Context, now time.Time) ([]store.Lease, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	s.reap(now)
	s.observe(now)
	out := s.reaped
	s.reaped = nil
	if len(out) == 0 {
		s.end()
		return nil, nil
	}
	return out, s.endWait(ctx)
}

// Leases implements store.Store.
func (s *Store) Leases(ctx context.Context, product string, now time.Time) ([]store.Lease, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	s.reap(now)
	var out []store.Lease
	for name, pp := range s.pool.products {
		if product != "" && name != product {
			continue
		}
		for _, sl := range pp.leases {
			out = append(out, *sl.lease)
		}
	}
	s.end()
	store.SortLeases(out)
	return out, nil
}

// Held implements store.Store.
func (s *Store) Held(ctx context.Context, now time.Time) (map[string]int, error) {
	if err := s.begin(); err != nil {
		return nil, err
	}
	s.reap(now)
	out := map[string]int{}
	for name, pp := range s.pool.products {
		if n := len(pp.leases); n > 0 {
			out[name] = n
		}
	}
	s.end()
	return out, nil
}

// HighWater implements store.Store.
func (s *Store) HighWater(ctx context.Context) (time.Time, error) {
	if err := s.begin(); err != nil {
		return time.Time{}, err
	}
	t := s.high
	s.end()
	return t, nil
}

// ObserveTime implements store.Store. The mark is persisted with the next
// batch; ObserveTime does not wait for it.
func (s *Store) ObserveTime(ctx context.Context, t time.Time) error {
	if err := s.begin(); err != nil {
		return err
	}
	s.observe(t)
	s.end()
	return nil
}

// Record implements store.Store.
func (s *Store) Record(ctx context.Context, events ...store.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.begin(); err != nil {
		return err
	}
	for _, e := range events {
		s.event(e)
	}
	return s.endWait(ctx)
}

// Audit implements store.Store.
func (s *Store) Audit(ctx context.Context, after int64, fn func(store.Event) error) error {
	const page = 1000
	for {
		events, err := s.auditPage(ctx, fn, `SELECT seq, at, kind, product, instance_id, actor, code, detail, prev, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?`, after, page)
		if err != nil || len(events) < page {
			return err
		}
		after = events[len(events)-1].Seq
	}
}

// auditPage reads one page of audit events with query, then, the rows
// closed (so that fn may use the store), calls fn for each; it returns
// the page.
func (s *Store) auditPage(ctx context.Context, fn func(store.Event) error, query string, args ...any) ([]store.Event, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var events []store.Event
	for rows.Next() {
		var e store.Event
		if err := scanEvent(rows, &e); err != nil {
			rows.Close()
			return nil, err
		}
		events = append(events, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, e := range events {
		if err := fn(e); err != nil {
			return nil, err
		}
	}
	return events, nil
}

// Close commits what is pending and closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	<-s.ckptDone
	// Copy the WAL into the database file, so that the file alone holds
	// everything (a backup of it after a stop is complete). A passive
	// checkpoint never waits: a store closed beside a running server
	// (licensor audit verify) does not stall it.
	s.wconn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	s.wconn.Close()
	return s.db.Close()
}

var _ store.Store = (*Store)(nil)
