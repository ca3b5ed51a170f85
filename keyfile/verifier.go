package keyfile

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/internal/atomicfile"
)

// Options configure a Verifier.
type Options struct {
	// Path is the key file.
	Path string
	// Vendor is the vendor's public key, the root of the chain.
	Vendor ed25519.PublicKey
	// Product is the product this process runs.
	Product string
	// Host fingerprints this host; called once. Default fingerprint.Collect.
	Host func() (*fingerprint.Fingerprint, error)
	// Clock tells the time. Default clock.System.
	Clock clock.Clock
	// StateFile keeps the latest time seen on this host (the high-water
	// mark), so that a clock set back is caught across restarts. Default
	// Path + ".seen"; it must be writable, or rollbacks are caught only
	// within one process's life (a warning is logged).
	StateFile string
	// Tolerance is how far the clock may go back before it counts as
	// rolled back. Default DefaultTolerance.
	Tolerance time.Duration
	// OnExpiring is called, at most once a day, when the key file has
	// fewer than WarnWithin left: the renewals have been failing. It runs
	// on the goroutine calling Check, outside any lock.
	OnExpiring func(left time.Duration)
	// Logger receives key file loads, failures and warnings. Default
	// slog.Default().
	Logger *slog.Logger
}

// Verifier checks a key file over a product's life. Check is cheap: it
// answers from the state verified last, stats the file at most once a
// second (by Options.Clock) and re-reads and re-verifies it only when its
// size, modification time or inode changed. It is safe for concurrent use.
type Verifier struct {
	o    Options
	host *fingerprint.Fingerprint
	tol  int64

	state atomic.Pointer[state]

	mu           sync.Mutex // serializes refresh; the warm path takes no lock
	seenWriteErr bool       // a failed state file write was logged
}

// state is immutable once stored: the warm path reads it without a lock.
type state struct {
	statAt int64 // clock time of the last stat, nanoseconds

	exists bool
	id     fileID
	vf     *verified // nil when err is set
	err    error     // a failure whatever the time: missing, tampered, machine

	seen        int64 // the high-water mark, nanoseconds
	from, until int64 // check passes for times in [from, until]
	warned      int64 // when OnExpiring last fired; math.MinInt64 for never

	// signed is the file decoded, for Inspect; nil when it is missing or
	// does not decode. Last, so the warm path's fields keep their place.
	signed *Signed
}

// staleAfter is how long a stat of the key file is trusted.
const staleAfter = int64(time.Second)

// seenStep is how far the observed time must advance before the
// high-water mark is written again.
const seenStep = int64(time.Minute)

// NewVerifier loads the key file and the high-water mark. A missing or
// invalid key file is not an error here: Check reports it, and picks up a
// good file once the renew client writes one. Bad options are
// codes.InvalidArgument; a host that cannot be fingerprinted is the
// error Host returns.
func NewVerifier(o Options) (*Verifier, error) {
	switch {
	case o.Path == "":
		return nil, codes.Errorf(codes.InvalidArgument, "keyfile: Options.Path (the key file) is empty")
	case len(o.Vendor) != ed25519.PublicKeySize:
		return nil, codes.Errorf(codes.InvalidArgument, "keyfile: Options.Vendor is not an Ed25519 public key")
	case o.Product == "":
		return nil, codes.Errorf(codes.InvalidArgument, "keyfile: Options.Product is empty")
	case o.Tolerance < 0:
		return nil, codes.Errorf(codes.InvalidArgument, "keyfile: Options.Tolerance %s is negative", o.Tolerance)
	}
	if o.Host == nil {
		o.Host = fingerprint.Collect
	}
	if o.Clock == nil {
		o.Clock = clock.System
	}
	if o.StateFile == "" {
		o.StateFile = o.Path + ".seen"
	}
	if o.Tolerance == 0 {
		o.Tolerance = DefaultTolerance
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	host, err := o.Host()
	if err != nil {
		return nil, err
	}
	v := &Verifier{o: o, host: host, tol: int64(o.Tolerance)}
	now := o.Clock.Now().UnixNano()
	// A state whose stat is stale by construction: the first refresh loads
	// the file.
	v.state.Store(&state{statAt: now - staleAfter, seen: v.readSeen(), err: errNotLoaded, warned: math.MinInt64})
	v.refresh(now)
	return v, nil
}

var errNotLoaded = codes.Errorf(codes.KeyFileMissing, "the key file has not been read yet")

// Check reports whether the product may run now: nil, or a *codes.Error
// with codes.KeyFileMissing, KeyFileExpired, KeyFileNotYetValid,
// KeyFileTampered, KeyFileMachine, WrongVendorKey, ClockRollback,
// ProductUnlicensed, NotYetValid or Expired.
func (v *Verifier) Check() error {
	now := v.o.Clock.Now().UnixNano()
	st := v.state.Load()
	// One unsigned comparison covers both a stale stat and a clock that
	// went back past the last one.
	if uint64(now-st.statAt) >= uint64(staleAfter) {
		st = v.refresh(now)
	}
	if st.err == nil && now >= st.from && now <= st.until {
		return nil
	}
	return v.fail(st, now)
}

func (v *Verifier) fail(st *state, now int64) error {
	if st.err != nil {
		return st.err
	}
	return st.vf.check(now, v.tol, mark{at: st.seen, path: v.o.StateFile})
}

// Info returns the verified claims (nil when no key file verifies), the
// time left until the key file expires, and Check's answer.
func (v *Verifier) Info() (*Claims, time.Duration, error) {
	err := v.Check()
	st := v.state.Load()
	if st.vf == nil {
		return nil, 0, err
	}
	left := time.Duration(secNanos(st.vf.claims.Expires) - v.o.Clock.Now().UnixNano())
	return st.vf.claims.clone(), left, err
}

// refresh stats the key file (re-reading it if it changed), advances the
// high-water mark and fires OnExpiring, then publishes the new state.
func (v *Verifier) refresh(now int64) *state {
	v.mu.Lock()
	cur := v.state.Load()
	if uint64(now-cur.statAt) < uint64(staleAfter) {
		v.mu.Unlock()
		return cur // another goroutine refreshed meanwhile
	}
	next := *cur
	next.statAt = now
	v.reload(&next)

	ok := next.err == nil && now >= next.from && now <= next.until
	// Only a time at which the key file is valid raises the mark: a clock
	// set far ahead by mistake finds the file expired and leaves no mark
	// that would lock the host out once the clock is right again.
	if ok && now > next.seen+seenStep {
		next.seen = v.writeSeen(now)
		next.from, next.until = next.vf.window(v.tol, next.seen)
	}
	var left time.Duration
	warn := false
	if ok {
		left = time.Duration(secNanos(next.vf.claims.Expires) - now)
		if left < WarnWithin && (next.warned == math.MinInt64 || now-next.warned >= int64(24*time.Hour)) {
			next.warned, warn = now, true
		}
	}
	v.state.Store(&next)
	v.mu.Unlock()

	if warn {
		v.o.Logger.Warn("licensor key file expires soon: the renewals are failing",
			"path", v.o.Path, "id", next.vf.claims.ID, "left", left.Round(time.Minute),
			"fix", "check the renew timer and that this host reaches a site server ('licensor check --server URL --keyfile'), then run 'licensor renew' by hand")
		if v.o.OnExpiring != nil {
			v.o.OnExpiring(left)
		}
	}
	return &next
}

// reload stats the key file and, when it changed, reads and verifies it.
func (v *Verifier) reload(st *state) {
	fi, err := os.Stat(v.o.Path)
	if err != nil {
		if st.exists || st.err == errNotLoaded {
			v.o.Logger.Warn("licensor key file is missing", "path", v.o.Path, "err", err)
		}
		st.exists, st.id, st.signed, st.vf = false, fileID{}, nil, nil
		st.err = missing(v.o.Path, err)
		return
	}
	if st.exists && idOf(fi) == st.id {
		return
	}
	// Read through one descriptor and identify the file by that
	// descriptor's stat, so a renewal racing the read is seen next time.
	id, data, err := readID(v.o.Path)
	if err != nil {
		st.exists, st.id, st.signed, st.vf, st.err = false, fileID{}, nil, nil, missing(v.o.Path, err)
		v.o.Logger.Warn("licensor key file cannot be read", "path", v.o.Path, "err", err)
		return
	}
	st.exists, st.id = true, id
	st.signed, st.vf, st.err = nil, nil, nil
	s, err := Parse(data)
	if err == nil {
		st.signed = s
		st.vf, err = s.verifyStatic(v.o.Vendor, v.host, v.o.Product)
	}
	if err != nil {
		st.err = codes.As(err)
		e := codes.As(err)
		v.o.Logger.Warn("licensor key file does not verify", "path", v.o.Path, "code", e.Code.String(), "err", e.Msg)
		return
	}
	st.from, st.until = st.vf.window(v.tol, st.seen)
	c := st.vf.claims
	issued, _, expires := c.Times()
	v.o.Logger.Info("licensor key file loaded", "path", v.o.Path, "id", c.ID, "issued", issued, "expires", expires, "product", v.o.Product)
}

func missing(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return codes.Errorf(codes.KeyFileMissing, "the key file %s does not exist", path)
	}
	return codes.Errorf(codes.KeyFileMissing, "cannot read the key file %s: %w", path, err)
}

func readID(path string) (fileID, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileID{}, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileID{}, nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return fileID{}, nil, err
	}
	return idOf(fi), data, nil
}

// readSeen returns the state file's mark in nanoseconds, or noMark when
// there is none (readSeenFile).
func (v *Verifier) readSeen() int64 {
	mark, err := readSeenFile(v.o.StateFile)
	if errors.Is(err, errSeenUndecodable) {
		v.o.Logger.Warn("licensor key file state does not decode; ignoring it", "path", v.o.StateFile)
	}
	return mark
}

// writeSeen records now as the high-water mark, keeping a later mark that
// another process on this host wrote meanwhile, and returns the mark.
func (v *Verifier) writeSeen(now int64) int64 {
	mark := max(now, v.readSeen())
	sec := mark / int64(time.Second)
	data, _ := json.Marshal(seenState{Version: 1, Seen: sec, Time: time.Unix(sec, 0).UTC().Format(time.RFC3339)})
	if err := atomicfile.WriteFile(v.o.StateFile, append(data, '\n'), 0o644); err != nil {
		if !v.seenWriteErr {
			v.seenWriteErr = true
			v.o.Logger.Warn("licensor cannot write the key file state; a clock set back is caught only while this process runs",
				"path", v.o.StateFile, "err", err)
		}
	} else {
		v.seenWriteErr = false
	}
	return mark
}
