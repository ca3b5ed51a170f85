// Package cli is the licensor command: one file per subcommand, each run
// with an Env so that tests drive it without a process.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/licensor/licensor/clock"
	"github.com/licensor/licensor/codes"
	"github.com/licensor/licensor/fingerprint"
)

// Env is what a command reads and writes besides its arguments.
type Env struct {
	Stdout, Stderr io.Writer
	Clock          clock.Clock
	// Fingerprint computes this host's machine code.
	Fingerprint func() (*fingerprint.Fingerprint, error)
	Hostname    func() (string, error)
	// Executable is the path of the running licensor, for the commands
	// it prints (os.Executable when nil).
	Executable func() (string, error)
}

// DefaultEnv is the process's environment.
func DefaultEnv() *Env {
	return &Env{
		Stdout: os.Stdout, Stderr: os.Stderr, Clock: clock.System,
		Fingerprint: fingerprint.Collect, Hostname: os.Hostname, Executable: os.Executable,
	}
}

// Run runs the licensor command line args (without the program name).
func Run(ctx context.Context, args []string) error {
	return DefaultEnv().Run(ctx, args)
}

// Run runs args in e.
func (e *Env) Run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		e.printOverview(e.Stderr)
		return usageErrorf("no command given")
	}
	switch args[0] {
	case "-h", "-help", "--help":
		e.printOverview(e.Stdout)
		return nil
	case "help":
		return e.help(args[1:])
	case "-version", "--version":
		args = append([]string{"version"}, args[1:]...)
	}
	cmd, rest := find(args)
	if cmd == nil {
		if g := group(args[0]); len(g) > 0 {
			if len(args) == 2 && isHelpFlag(args[1]) {
				e.printGroup(e.Stdout, args[0], g)
				return nil
			}
			e.printGroup(e.Stderr, args[0], g)
			if len(args) == 1 {
				return usageErrorf("%q needs a subcommand", args[0])
			}
			return usageErrorf("unknown command %q", strings.Join(args[:2], " "))
		}
		return usageErrorf("unknown command %q; 'licensor help' lists the commands", args[0])
	}
	return e.invoke(ctx, cmd, rest)
}

func isHelpFlag(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (u *usageError) Error() string { return u.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// reported is a failure whose details the command already printed (as
// JSON, say); only the exit status is left to set.
type reported struct{ err error }

func (r reported) Error() string { return r.err.Error() }
func (r reported) Unwrap() error { return r.err }

// diagnosed is a diagnosis that ran and found faults, which the command
// printed (the doctor's checks): exit status 1, whatever the code of the
// first fault, even one that names a missing or malformed flag.
type diagnosed struct{ err error }

func (d diagnosed) Error() string { return d.err.Error() }
func (d diagnosed) Unwrap() error { return d.err }

// Exit status. The rule: 2 for every mistake in the command line (an
// unknown command or flag, a missing or extra argument, a flag value or
// argument that does not parse, such as a --product SPEC or an unknown
// code for explain), 1 when the operation itself fails, 0 on success.
// Report applies it in one place: a usageError and any error with code
// codes.InvalidArgument are usage errors; commands report a bad value in
// what was typed with that code, and a bad file, request or answer with
// another.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
	// ExitGrantExpired: a server in upstream mode stopped because the grant
	// from the vendor's service ran out.
	ExitGrantExpired = 3
)

// Report writes err for a person on w and returns the exit status.
func Report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(w, "licensor: %s\n", u.msg)
		return ExitUsage
	}
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	var d diagnosed
	if errors.As(err, &d) {
		return ExitFailure
	}
	var r reported
	if errors.As(err, &r) {
		return exitStatus(codes.As(r.err))
	}
	e := codes.As(err)
	writeError(w, e)
	return exitStatus(e)
}

// exitStatus is the exit status for a failure with e's code.
func exitStatus(e *codes.Error) int {
	if e == nil {
		return ExitFailure
	}
	switch e.Code {
	case codes.InvalidArgument:
		return ExitUsage
	case codes.GrantExpired:
		return ExitGrantExpired
	}
	return ExitFailure
}

func writeError(w io.Writer, e *codes.Error) {
	fmt.Fprintf(w, "%s\nfix: %s\n", e.Error(), e.FixText())
}

// errorJSON is how a failure reads in --json output.
type errorJSON struct {
	Code    int    `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

func errorObject(err error) *errorJSON {
	if err == nil {
		return nil
	}
	e := codes.As(err)
	return &errorJSON{Code: int(e.Code), Name: e.Code.Name(), Message: e.Detail(), Fix: e.FixText()}
}

func (e *Env) writeJSON(v any) error {
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// writeOutcome prints v as JSON and returns err as already reported: the
// exit status says it, the JSON carries the details.
func (e *Env) writeOutcome(v any, err error) error {
	if werr := e.writeJSON(v); werr != nil {
		return werr
	}
	if err != nil {
		return reported{err}
	}
	return nil
}
