package codes

import (
	"errors"
	"fmt"
)

// Error is a failure with its code. Msg is safe to show to a user or put on
// the wire; Err is the internal cause, for logs only. Fix, when set,
// replaces the table's generic fix with one specific to this failure.
type Error struct {
	Code Code
	Msg  string
	Fix  string
	Err  error
}

// Errorf returns an *Error with a formatted message. A %w verb in format
// wraps its operand as the internal cause.
func Errorf(c Code, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Code: c, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

// WithFix returns e with a specific fix.
func (e *Error) WithFix(fix string) *Error {
	e.Fix = fix
	return e
}

// Error returns "code=509 fingerprint: msg".
func (e *Error) Error() string {
	return fmt.Sprintf("code=%d %s: %s", int(e.Code), e.Code.Name(), e.Msg)
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &codes.Error{Code: codes.Expired}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Msg == "" && t.Err == nil
}

// FixText returns the specific fix if there is one, else the table's.
func (e *Error) FixText() string {
	if e.Fix != "" {
		return e.Fix
	}
	in, _ := e.Code.Info()
	return in.Fix
}

// Of returns the code carried by err: OK for nil, Unknown for an error
// without one.
func Of(err error) Code {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Unknown
}

// As returns err as an *Error, wrapping an error without a code as Unknown.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: Unknown, Msg: err.Error(), Err: err}
}
