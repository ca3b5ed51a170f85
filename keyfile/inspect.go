package keyfile

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
	"github.com/licensor/licensor/license"
)

// Checks say what Inspect checks a key file against.
type Checks struct {
	// Host fingerprints this host. Default fingerprint.Collect.
	Host func() (*fingerprint.Fingerprint, error)
	// Product is the product to check; "" checks every product the key
	// file grants.
	Product string
	// Now is when the key file is checked.
	Now time.Time
	// StateFile is the host's high-water mark, as a Verifier keeps it.
	// Default the key file's path + ".seen". Inspect only reads it.
	StateFile string
	// Tolerance is how far the clock may go back before it counts as
	// rolled back. Default DefaultTolerance.
	Tolerance time.Duration
}

// Inspection is a key file verified stage by stage: the file, the chain,
// the machine, the clock, the dates and each product (the license.Stage…
// names), in the order Verify runs them. Once the chain verified every
// stage runs, so one report shows every fault; Err is the first, the one
// Verify or a Verifier's Check returns.
type Inspection struct {
	license.Report
	// Signed is the file decoded; nil when it is missing or does not
	// decode.
	Signed *Signed
	// Claims are the key file's claims, nil when the file does not
	// decode. Trust them only when Err is nil.
	Claims *Claims
	// License is the license the key file carries, once the chain
	// verified.
	License *license.License
}

// Inspect reads the key file at path and checks it stage by stage as a
// Verifier would, with the high-water mark the Verifiers on this host
// keep. It writes nothing.
func Inspect(path string, vendor ed25519.PublicKey, o Checks) *Inspection {
	if o.Host == nil {
		o.Host = fingerprint.Collect
	}
	if o.StateFile == "" {
		o.StateFile = path + ".seen"
	}
	if o.Tolerance <= 0 {
		o.Tolerance = DefaultTolerance
	}
	seen, serr := readSeenFile(o.StateFile)
	mark := mark{at: seen, path: o.StateFile, err: serr}
	_, data, err := readID(path)
	var s *Signed
	if err != nil {
		err = missing(path, err)
	} else {
		s, err = Parse(data)
	}
	in := &Inspection{}
	in.inspect(path, s, err, vendor, o.Host, o.Product, timeNanos(o.Now), int64(o.Tolerance), mark)
	return in
}

// Inspect checks the key file stage by stage as Check does now: the same
// file, host, product, tolerance and high-water mark. It re-verifies the
// signatures, so it is for diagnosis, not for every call.
func (v *Verifier) Inspect() *Inspection {
	v.Check() // refresh the state as the next Check would
	st := v.state.Load()
	in := &Inspection{}
	host := func() (*fingerprint.Fingerprint, error) { return v.host, nil }
	in.inspect(v.o.Path, st.signed, st.err, v.o.Vendor, host, v.o.Product, v.o.Clock.Now().UnixNano(), v.tol, mark{at: st.seen, path: v.o.StateFile})
	return in
}

// mark is the high-water mark a verification uses.
type mark struct {
	at   int64 // nanoseconds, or noMark
	path string
	err  error // why the file at path was not used
}

// inspect fills in the stages. s is the decoded file, or nil with fileErr
// saying why there is none; now, tol are nanoseconds.
func (in *Inspection) inspect(path string, s *Signed, fileErr error, vendor ed25519.PublicKey, hostOf func() (*fingerprint.Fingerprint, error),
	product string, now, tol int64, seen mark) {
	r := &in.Report
	if s == nil {
		r.Record(license.StageFile, "", fileErr, nil)
		r.SkipRest(license.StageFile, license.StageChain, license.StageMachine, license.StageClock, license.StageDates, license.StageProduct)
		return
	}
	in.Signed, in.Claims = s, s.Unverified()
	c := &s.claims
	r.Pass(license.StageFile, "", "%s: key file %s", path, c.ID)

	l, err := s.verifyChain(vendor)
	r.Record(license.StageChain, "", err, func() string {
		return fmt.Sprintf("vendor key %s → license %s → server key %s", s.license.KeyID, l.ID, s.KeyID)
	})
	if err != nil {
		r.SkipRest(license.StageChain, license.StageMachine, license.StageClock, license.StageDates, license.StageProduct)
		return
	}
	in.License = l

	if host, err := hostOf(); err != nil {
		r.Record(license.StageMachine, "", codes.Errorf(codes.Unknown, "cannot compute this host's machine code: %v", err), nil)
	} else {
		r.Record(license.StageMachine, "", checkMachine(c, host), func() string { return machineFound(c, host) })
	}

	r.Record(license.StageClock, "", c.checkClock(now, tol, seen), func() string { return clockFound(c, now, seen) })

	if err := c.checkDates(now, tol); err != nil {
		r.Record(license.StageDates, "", err, nil)
	} else {
		exp := secNanos(c.Expires)
		if left := time.Duration(exp - now); left < WarnWithin {
			r.Warn(license.StageDates, "", fmt.Sprintf("valid until %s UTC, only %s left: the daily renewal has been failing", nanoTime(exp), license.DaysLeft(left)),
				"Check the renew timer and that this host reaches a site server ('licensor check --server URL --keyfile'), then run 'licensor renew' by hand and read what it says.")
		} else {
			r.Pass(license.StageDates, "", "valid until %s UTC (%s left)", nanoTime(exp), license.DaysLeft(left))
		}
	}

	products := c.Subjects()
	if product != "" {
		products = []string{product}
	}
	for _, p := range products {
		g := grantOf(c, l, p)
		r.Record(license.StageProduct, p, g.check(c, p, now), func() string { return "granted, " + Terms(g.kf) })
	}
}

// Terms describes what a key file grants of a product: its functions and
// the key file's cap, if any.
func Terms(p Product) string {
	s := "functions=-"
	if len(p.Functions) > 0 {
		s = "functions=" + strings.Join(p.Functions, "|")
	}
	if p.NotAfter > 0 {
		s += ", until " + license.FormatTime(time.Unix(p.NotAfter, 0)) + " UTC"
	}
	return s
}

func machineFound(c *Claims, host *fingerprint.Fingerprint) string {
	if host.Code == c.Machine {
		return "this host " + host.Code + " is the key file's machine"
	}
	return fmt.Sprintf("this host %s matches the key file's machine %s closely enough (at least %d components)", host.Code, c.Machine, c.MatchMin)
}

func clockFound(c *Claims, now int64, seen mark) string {
	s := fmt.Sprintf("it is %s UTC, not before the issue time %s UTC", nanoTime(now), nanoTime(secNanos(c.IssuedAt)))
	switch {
	case seen.err != nil:
		return s + "; " + seen.err.Error()
	case seen.at == noMark:
		return s + "; no time seen on this host yet (" + seen.path + ")"
	}
	return s + " nor the latest time seen on this host, " + nanoTime(seen.at) + " UTC (" + seen.path + ")"
}

// seenState is the high-water mark file.
type seenState struct {
	Version int    `json:"v"`
	Seen    int64  `json:"seen"` // Unix seconds
	Time    string `json:"time"` // the same, for reading
}

// errSeenUndecodable is a high-water mark file that does not decode.
var errSeenUndecodable = errors.New("does not decode")

// readSeenFile returns the mark in path in nanoseconds, or noMark when
// there is none. A file that does not decode counts as none, and so does
// one that cannot be read (the error says which): deleting the file has
// the same effect, and the key file's issue time still bounds a rollback.
func readSeenFile(path string) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return noMark, nil
	}
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, 4<<10))
		f.Close()
	}
	if err != nil {
		return noMark, fmt.Errorf("the high-water mark %s cannot be read, so it is ignored: %v", path, err)
	}
	var s seenState
	// A mark past 2262 does not fit in nanoseconds; none is that late.
	if err := json.Unmarshal(data, &s); err != nil || s.Seen <= 0 || s.Seen > math.MaxInt64/int64(time.Second)-3600 {
		return noMark, fmt.Errorf("the high-water mark %s %w, so it is ignored", path, errSeenUndecodable)
	}
	return secNanos(s.Seen), nil
}
