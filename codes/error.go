package codes

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a failure with its code. Msg is the public message, the one a
// server puts on the wire; Err is the internal cause, which never goes
// there but stays reachable with errors.Is and errors.As, and which Error
// and Detail print after Msg for logs and for the local user. Fix, when
// set, replaces the table's generic fix with one specific to this failure.
type Error struct {
	Code Code
	Msg  string
	Fix  string
	Err  error
}

// WithFix returns e with a specific fix.
func (e *Error) WithFix(fix string) *Error {
	e.Fix = fix
	return e
}

// Error returns "code=701 store_unavailable: msg: cause", for logs and
// for the local user.
func (e *Error) Error() string {
	return fmt.Sprintf("code=%d %s: %s", int(e.Code), e.Code.Name(), e.Detail())
}

// Detail returns the message followed by the internal cause, "msg:
// cause", for whoever may read the cause: a log line, the command line,
// a product's own log. A cause the message already says is not repeated.
// It never goes on the wire: a server sends Msg.
func (e *Error) Detail() string {
	var more []string
	for _, s := range causeParts(e.Err) {
		if !strings.Contains(e.Msg, s) {
			more = append(more, s)
		}
	}
	switch {
	case len(more) == 0:
		return e.Msg
	case e.Msg == "":
		return strings.Join(more, "; ")
	}
	return e.Msg + ": " + strings.Join(more, "; ")
}

// causeParts returns the text of each error err joins (errors.Join), or
// of err alone.
func causeParts(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if _, mine := err.(causes); !mine {
			var out []string
			for _, e := range j.Unwrap() {
				out = append(out, causeParts(e)...)
			}
			return out
		}
	}
	if s := causeText(err); s != "" {
		return []string{s}
	}
	return nil
}

// causeText is err's text as a cause: a coded error's detail without its
// "code=… name: " prefix.
func causeText(err error) string {
	switch e := err.(type) {
	case nil:
		return ""
	case *Error:
		if e == nil {
			return ""
		}
		return e.Detail()
	}
	return err.Error()
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
