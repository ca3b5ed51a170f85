package license

import (
	"fmt"
	"time"

	"github.com/licensor/licensor/codes"
)

// Outcome is how one stage of a verification ended.
type Outcome string

// The outcomes.
const (
	Pass Outcome = "pass"
	Warn Outcome = "warn" // passed, with something to act on soon
	Fail Outcome = "fail"
	Skip Outcome = "skip" // not run: a stage it relies on failed, or it was not asked for
)

// The stages of a verification. A license has StageFile, StageSignature,
// StageMachine and a StageProduct per product; a key file StageFile,
// StageChain, StageMachine, StageClock, StageDates and a StageProduct per
// product.
const (
	StageFile      = "file"      // the file reads and decodes
	StageSignature = "signature" // the vendor key signed the license
	StageChain     = "chain"     // vendor key → license → server key → key file
	StageMachine   = "machine"   // this host is the machine it is bound to
	StageClock     = "clock"     // the clock was not set back
	StageDates     = "dates"     // now is within the key file's dates
	StageProduct   = "product"   // the product is granted, and within its dates
)

// Stage is one step of a verification and how it ended. The same stages,
// computed once, are what the SDK, 'licensor license verify', 'licensor
// keyfile verify' and 'licensor doctor' show.
type Stage struct {
	Name    string  `json:"name"`              // a Stage… constant
	Product string  `json:"product,omitempty"` // the product, for StageProduct
	Outcome Outcome `json:"outcome"`
	// Code is the failure's code; 0 unless the stage failed.
	Code codes.Code `json:"code"`
	// Found says what the stage found: what passed, the warning, the
	// failure's message with its cause (codes.Error.Detail: for the local
	// user and logs, never the wire), or why it was skipped.
	Found string `json:"found"`
	// Fix is what to do, for a warning or a failure.
	Fix string `json:"fix,omitempty"`
	// Err is the failure, a *codes.Error.
	Err error `json:"-"`
}

// Label is the stage's name, with the product for a product stage:
// "machine", "product ocr".
func (s Stage) Label() string {
	if s.Product != "" {
		return s.Name + " " + s.Product
	}
	return s.Name
}

// Report is a verification stage by stage, in the order the stages run.
// The first stage that failed decides: Err returns its error, the one a
// plain Verify returns.
type Report struct {
	Stages []Stage `json:"stages"`
}

// Err returns the first failure, or nil when no stage failed.
func (r *Report) Err() error {
	for _, s := range r.Stages {
		if s.Outcome == Fail {
			return s.Err
		}
	}
	return nil
}

// Failed returns the first stage that failed.
func (r *Report) Failed() (Stage, bool) {
	for _, s := range r.Stages {
		if s.Outcome == Fail {
			return s, true
		}
	}
	return Stage{}, false
}

// Warned returns the first stage that warned.
func (r *Report) Warned() (Stage, bool) {
	for _, s := range r.Stages {
		if s.Outcome == Warn {
			return s, true
		}
	}
	return Stage{}, false
}

// Stage returns the stage labelled label ("dates", "product ocr").
func (r *Report) Stage(label string) (Stage, bool) {
	for _, s := range r.Stages {
		if s.Label() == label {
			return s, true
		}
	}
	return Stage{}, false
}

// Pass records a stage that passed.
func (r *Report) Pass(name, product, format string, args ...any) {
	r.Stages = append(r.Stages, Stage{Name: name, Product: product, Outcome: Pass, Found: fmt.Sprintf(format, args...)})
}

// Warn records a stage that passed with a warning.
func (r *Report) Warn(name, product, found, fix string) {
	r.Stages = append(r.Stages, Stage{Name: name, Product: product, Outcome: Warn, Found: found, Fix: fix})
}

// Skip records a stage that did not run.
func (r *Report) Skip(name, product, why string) {
	r.Stages = append(r.Stages, Stage{Name: name, Product: product, Outcome: Skip, Found: why})
}

// Record records a stage: failed with err, or passed with what found
// says.
func (r *Report) Record(name, product string, err error, found func() string) {
	if err == nil {
		r.Pass(name, product, "%s", found())
		return
	}
	e := codes.As(err)
	r.Stages = append(r.Stages, Stage{Name: name, Product: product, Outcome: Fail, Code: e.Code, Found: e.Detail(), Fix: e.FixText(), Err: e})
}

// SkipRest records the given stages as not run because after failed.
func (r *Report) SkipRest(after string, names ...string) {
	for _, n := range names {
		r.Skip(n, "", "not checked: "+after+" failed")
	}
}

// DaysLeft says how long d is the way a person reads it, in its two
// largest units, rounded at the smaller: "7 days", "4 days 13 hours",
// "23 hours 5 minutes", "1 minute 30 seconds", "less than a second". A
// key file issued for 7 days reads "7 days" a moment later, not "6 days":
// 6 days 23 hours 59 minutes rounds to the hour. Its sign is ignored: the
// caller says "left", "ago" or "in". Every span licensor prints for a
// person goes through it.
func DaysLeft(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	units := []struct {
		size time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}}
	for i := 0; i < len(units)-1; i++ {
		big, small := units[i], units[i+1]
		r := d.Round(small.size)
		if r < big.size {
			continue
		}
		s := plural(int64(r/big.size), big.name)
		if rest := int64(r % big.size / small.size); rest > 0 {
			s += " " + plural(rest, small.name)
		}
		return s
	}
	if r := d.Round(time.Second); r >= time.Second {
		return plural(int64(r/time.Second), "second")
	}
	return "less than a second"
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// WholeDays is d in days, rounded to the nearest whole day (half a day
// away from zero): the count a JSON field such as daysLeft carries, read
// as DaysLeft reads it; negative once past.
func WholeDays(d time.Duration) int {
	const day = 24 * time.Hour
	if d < 0 {
		return -int((-d + day/2) / day)
	}
	return int((d + day/2) / day)
}
