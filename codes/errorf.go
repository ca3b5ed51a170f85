package codes

import (
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Errorf returns an *Error with a formatted message. The operands of %w
// verbs are the internal cause: they are kept in Err, in order, and left
// out of Msg, along with the separator that introduced them, so that
//
//	Errorf(StoreUnavailable, "the store failed: %w", err)
//
// has the Msg "the store failed" and the Err err. Error and Detail carry
// both. A %w operand that is nil is left out and wraps nothing; when
// nothing is left of the message, Msg is the code's meaning.
func Errorf(c Code, format string, args ...any) *Error {
	wrapped := wrappedArgs(format, args)
	if len(wrapped) == 0 {
		// fmt.Errorf, not Sprintf, so that vet checks callers' formats
		// as Errorf's, %w included.
		return &Error{Code: c, Msg: fmt.Errorf(format, args...).Error()}
	}
	e := &Error{Code: c, Msg: publicText(format, args, wrapped)}
	var errs causes
	for _, i := range wrapped {
		if err, _ := args[i].(error); !isNil(err) {
			errs = append(errs, err)
		}
	}
	switch len(errs) {
	case 0:
	case 1:
		e.Err = errs[0]
	default:
		e.Err = errs
	}
	if strings.TrimSpace(e.Msg) == "" {
		in, _ := c.Info()
		e.Msg = in.Meaning
	}
	return e
}

// causes are the operands of several %w verbs.
type causes []error

func (cs causes) Error() string {
	parts := make([]string, 0, len(cs))
	for _, err := range cs {
		if s := causeText(err); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ": ")
}

func (cs causes) Unwrap() []error { return cs }

// probe stands for argument i while fmt finds which arguments %w wraps.
type probe int

func (probe) Error() string          { return "" }
func (probe) Format(fmt.State, rune) {}

// wrappedArgs returns the indexes of the arguments that %w verbs of format
// wrap, in order, as fmt.Errorf finds them: fmt itself parses format, so
// flags, widths, explicit indexes and %% read as they always do. Any error
// argument, and any nil one, may be a %w operand; no other can.
func wrappedArgs(format string, args []any) []int {
	if !strings.Contains(format, "%") {
		return nil
	}
	probed := make([]any, len(args))
	some := false
	for i, a := range args {
		if _, ok := a.(error); ok || a == nil {
			probed[i] = probe(i)
			some = true
		} else {
			probed[i] = a
		}
	}
	if !some {
		return nil
	}
	var out []int
	switch u := fmt.Errorf(format, probed...).(type) {
	case interface{ Unwrap() error }:
		if p, ok := u.Unwrap().(probe); ok {
			out = append(out, int(p))
		}
	case interface{ Unwrap() []error }:
		for _, err := range u.Unwrap() {
			if p, ok := err.(probe); ok {
				out = append(out, int(p))
			}
		}
	}
	return out
}

// hole prints in place of a %w operand: mark, or nothing.
type hole struct{ mark string }

func (h hole) Error() string              { return h.mark }
func (h hole) Format(s fmt.State, _ rune) { fmt.Fprint(s, h.mark) }

// publicText formats format with the wrapped arguments left out, then
// mends the text around each of them.
func publicText(format string, args []any, wrapped []int) string {
	holed := func(mark string) string {
		a := append([]any(nil), args...)
		for _, i := range wrapped {
			a[i] = hole{mark}
		}
		return fmt.Errorf(format, a...).Error()
	}
	bare := holed("")
	mark, ok := absentByte(bare)
	if !ok {
		return bare
	}
	marked := holed(mark)
	if strings.ReplaceAll(marked, mark, "") != bare {
		// An argument formats differently each time: no mending.
		return bare
	}
	parts := strings.Split(marked, mark)
	msg := parts[0]
	for _, p := range parts[1:] {
		msg = mend(msg, p)
	}
	return msg
}

// absentByte returns a one-byte string that s does not contain, control
// characters first.
func absentByte(s string) (string, bool) {
	var seen [256]bool
	for i := 0; i < len(s); i++ {
		seen[s[i]] = true
	}
	for _, b := range []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 127} {
		if !seen[b] {
			return string([]byte{b}), true
		}
	}
	for b := utf8.RuneSelf; b < 256; b++ {
		if !seen[b] {
			return string([]byte{byte(b)}), true
		}
	}
	return "", false
}

const (
	spaces     = " \t\r\n"
	separators = ":;,=-–—"
)

// mend joins the text left and right of a removed %w operand: an empty
// pair of brackets or quotes around it goes, and so does the separator
// that introduced it ("failed: %w" is "failed"), while one that introduces
// what follows stays ("a: %w; b" is "a; b").
func mend(left, right string) string {
	l := strings.TrimRight(left, spaces)
	r := strings.TrimLeft(right, spaces)
	spaced := len(l) < len(left) || len(r) < len(right)
	for _, pair := range []string{"()", "[]", "{}", `""`, "''", "``"} {
		if strings.HasSuffix(l, pair[:1]) && strings.HasPrefix(r, pair[1:]) {
			l, r = strings.TrimRight(l[:len(l)-1], spaces), r[1:]
			spaced = true
			break
		}
	}
	lcore := strings.TrimRight(l, separators+spaces)
	rcore := strings.TrimLeft(r, separators+spaces)
	rsep := r[:len(r)-len(rcore)]
	switch {
	case lcore == "":
		return rcore
	case rcore == "":
		return lcore
	case strings.ContainsAny(rcore[:1], ".!?)]}"):
		return lcore + rcore
	case strings.Trim(rsep, spaces) != "":
		return lcore + rsep + rcore
	case spaced || len(lcore) < len(l):
		return lcore + " " + rcore
	}
	return lcore + rcore
}

// isNil reports whether err is nil or a nil pointer, map, slice, func or
// channel in an error interface.
func isNil(err error) bool {
	if err == nil {
		return true
	}
	switch v := reflect.ValueOf(err); v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return v.IsNil()
	}
	return false
}
