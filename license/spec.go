package license

import (
	"strconv"
	"strings"
	"time"

	"github.com/licensor/licensor/codes"
)

// MaxSpecLen bounds a product spec.
const MaxSpecLen = 4096

// ParseProductSpec reads a product as the vendor writes it on the command
// line:
//
//	SUBJECT:instances=N,qps=Q,not-before=DATE,not-after=DATE,functions=a|b
//
// DATE is YYYY-MM-DD (UTC) or RFC 3339. A date-only not-before starts at
// 00:00:00 that day, a date-only not-after ends at 23:59:59 that day.
// Instead of not-after, days=N makes the product valid for N days from
// not-before. instances defaults to 1, qps to 0 (no QPS control),
// not-before to now. Failures are codes.InvalidArgument naming the part
// at fault.
func ParseProductSpec(spec string, now time.Time) (Product, error) {
	bad := func(format string, args ...any) (Product, error) {
		return Product{}, codes.Errorf(codes.InvalidArgument, "product %q: "+format, append([]any{truncate(spec)}, args...)...)
	}
	if len(spec) > MaxSpecLen {
		return bad("longer than %d bytes", MaxSpecLen)
	}
	subject, rest, _ := strings.Cut(spec, ":")
	p := Product{Subject: subject, InstanceSize: 1, QPS: 0, Functions: []string{}}
	if !ValidName(subject) {
		return bad("name it with 1 to 64 letters, digits, '.', '_' or '-' before the ':'")
	}
	seen := map[string]bool{}
	days := 0
	for _, kv := range strings.Split(rest, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok {
			return bad("%q is not key=value", kv)
		}
		if seen[k] {
			return bad("%s is given twice", k)
		}
		seen[k] = true
		var err error
		switch k {
		case "instances":
			p.InstanceSize, err = strconv.Atoi(v)
		case "qps":
			p.QPS, err = strconv.Atoi(v)
		case "days":
			days, err = strconv.Atoi(v)
			if err == nil && (days < 1 || days > 100*366) {
				return bad("days=%d is out of range 1..36600", days)
			}
		case "not-before":
			p.NotBefore, err = parseDate(v, false)
		case "not-after":
			p.NotAfter, err = parseDate(v, true)
		case "functions":
			if v != "" {
				p.Functions = strings.Split(v, "|")
			}
		default:
			return bad("unknown key %q (known: instances, qps, not-before, not-after, days, functions)", k)
		}
		if err != nil {
			return bad("%s=%q: %v", k, v, err)
		}
	}
	if p.NotBefore.IsZero() {
		p.NotBefore = now.UTC().Truncate(time.Second)
	}
	switch {
	case seen["days"] && seen["not-after"]:
		return bad("give not-after or days, not both")
	case seen["days"]:
		p.NotAfter = p.NotBefore.AddDate(0, 0, days)
	case !seen["not-after"]:
		return bad("not-after=DATE (or days=N) is required")
	}
	if err := p.Validate(); err != nil {
		return Product{}, err
	}
	return p, nil
}

func parseDate(v string, endOfDay bool) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		if endOfDay {
			t = t.Add(24*time.Hour - time.Second)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errDate
	}
	return t.UTC(), nil
}

type dateError struct{}

func (dateError) Error() string { return "want YYYY-MM-DD or RFC 3339 (2027-01-31T00:00:00Z)" }

var errDate error = dateError{}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
