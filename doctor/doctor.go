// Package doctor diagnoses every authorization failure an operator can
// meet: it runs checks in order — name resolution, TCP, TLS, the server's
// certificate chain, the client's certificate and whether the server
// accepts its CA, clock skew, the license, a hardware token (its PKCS#11
// module, a token present, the license's key on it signing: DiagnoseHWTokens),
// a real authorization round trip through the SDK, and recent error lines
// in the server log — and reports
// each as pass, warn, fail or skip, with its code, what it found, and the
// fix. A failed check skips only the checks that depend on it.
//
// 'licensor doctor cert' (ExplainChain) and 'licensor doctor token'
// (ExplainToken) explain a certificate chain and a JWT offline.
package doctor

import (
	"fmt"

	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/license"
)

// Status is a check's outcome.
type Status string

// The outcomes.
const (
	Pass Status = "pass"
	Warn Status = "warn"
	Fail Status = "fail"
	Skip Status = "skip" // a check that depends on a failed one, or has nothing to check
)

// Result is one check's outcome.
type Result struct {
	Name    string   `json:"name"` // kebab-case
	Status  Status   `json:"status"`
	Code    int      `json:"code"`              // 0 when it passed
	Found   string   `json:"found"`             // one line: what was found
	Details []string `json:"details,omitempty"` // indented lines under it
	Fix     string   `json:"fix,omitempty"`
	// Stages are the license's or key file's verification stage by stage,
	// for the license and key-file checks: what 'licensor license verify',
	// 'licensor keyfile verify' and the SDK report.
	Stages []license.Stage `json:"stages,omitempty"`
	// blocks, set on a result that did not fail, still skips the checks
	// that need this one (a warning about a connection that broke).
	blocks bool
}

// pass, warn, fail and skip build Results.
func pass(name, format string, args ...any) Result {
	return Result{Name: name, Status: Pass, Found: fmt.Sprintf(format, args...)}
}

func skip(name, why string) Result { return Result{Name: name, Status: Skip, Found: why} }

// fail makes a failed Result from a coded error.
func fail(name string, err error) Result {
	e := codes.As(err)
	return Result{Name: name, Status: Fail, Code: int(e.Code), Found: e.Detail(), Fix: e.FixText()}
}

// warn makes a warning with a code.
func warn(name string, c codes.Code, found, fix string) Result {
	if fix == "" {
		in, _ := c.Info()
		fix = in.Fix
	}
	return Result{Name: name, Status: Warn, Code: int(c), Found: found, Fix: fix}
}

// Report is a whole run.
type Report struct {
	Checks []Result `json:"checks"`
	// OK is false when any check failed.
	OK bool `json:"ok"`
}
