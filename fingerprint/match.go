package fingerprint

import (
	"fmt"
	"slices"
	"strings"

	"github.com/licensor/licensor/codes"
)

// Machine is what a license records about a machine it is bound to.
type Machine struct {
	Code       string            `json:"code"`
	Components map[string]string `json:"components,omitempty"` // name -> hash
}

// fixRequest is the fix for every mismatch: only the vendor can bind a
// license to a changed machine.
const fixRequest = "If the change was intended, run 'licensor activation-request' on this host and send it to the vendor for a new license."

// comparison is how a host compares with one licensed machine.
type comparison struct {
	matched          int
	need             int
	changed, missing []string // component names, in Order then by name
}

func compare(m Machine, min int, host *Fingerprint) comparison {
	c := comparison{need: min}
	if min <= 0 {
		c.need = len(m.Components)
	}
	have := host.Hashes()
	for _, name := range componentNames(m.Components) {
		switch h, ok := have[name]; {
		case !ok:
			c.missing = append(c.missing, name)
		case h == m.Components[name]:
			c.matched++
		default:
			c.changed = append(c.changed, name)
		}
	}
	return c
}

// componentNames returns the names of m in Order, then any others (from a
// newer licensor) sorted.
func componentNames(m map[string]string) []string {
	var known, other []string
	for _, name := range Order {
		if _, ok := m[name]; ok {
			known = append(known, name)
		}
	}
	for name := range m {
		if !slices.Contains(Order, name) {
			other = append(other, name)
		}
	}
	slices.Sort(other)
	return append(known, other...)
}

// exact reports whether host has m's code.
func exact(m Machine, host *Fingerprint) bool {
	return host != nil && ValidCode(m.Code) && m.Code == host.Code
}

// Match reports whether host may use a license bound to m. min is how many
// of m's recorded components must be equal on host; min <= 0 means all of
// them. An exact code match always passes; when m records no components,
// only an exact code passes.
//
// A failure is a *codes.Error with code codes.Fingerprint that names both
// codes, the changed and the missing components, and how many match.
func Match(m Machine, min int, host *Fingerprint) error {
	if host == nil {
		return codes.Errorf(codes.Fingerprint, "no fingerprint of this host to compare with the licensed machine %s", m.Code).
			WithFix("Run 'licensor fingerprint' on this host to see why its identity cannot be read.")
	}
	if exact(m, host) {
		return nil
	}
	if len(m.Components) == 0 {
		return codes.Errorf(codes.Fingerprint, "the license is bound to machine %s; this host is %s, and the license records no components to compare",
			m.Code, host.Code).WithFix(fixRequest)
	}
	c := compare(m, min, host)
	if c.matched >= c.need {
		return nil
	}
	return mismatch(m, host, c)
}

func mismatch(m Machine, host *Fingerprint, c comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "the license is bound to machine %s; this host is %s", m.Code, host.Code)
	if len(c.changed) > 0 {
		fmt.Fprintf(&b, "; changed: %s", strings.Join(c.changed, ", "))
	}
	if len(c.missing) > 0 {
		fmt.Fprintf(&b, "; missing on this host: %s", strings.Join(c.missing, ", "))
	}
	fmt.Fprintf(&b, "; %d of %d components match, the license needs %d", c.matched, len(m.Components), c.need)
	return codes.Errorf(codes.Fingerprint, "%s", b.String()).WithFix(fixRequest)
}

// MatchAny reports whether host matches any of machines. When none
// matches, the error is the one for the closest machine: the one with the
// most matching components, the first of those on a tie. A license bound
// to no machine matches no host.
func MatchAny(machines []Machine, min int, host *Fingerprint) error {
	if len(machines) == 0 {
		return codes.Errorf(codes.Fingerprint, "the license is bound to no machine").WithFix(fixRequest)
	}
	best, bestMatched := 0, -1
	for i, m := range machines {
		if Match(m, min, host) == nil {
			return nil
		}
		if host == nil {
			break
		}
		if n := compare(m, min, host).matched; n > bestMatched {
			best, bestMatched = i, n
		}
	}
	return Match(machines[best], min, host)
}
