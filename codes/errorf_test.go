package codes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// pathErr is an error of a type of its own, for errors.As.
type pathErr struct{ path string }

func (p *pathErr) Error() string { return "open " + p.path + ": permission denied" }

func TestErrorfKeepsTheCauseOffTheMessage(t *testing.T) {
	sqlErr := errors.New("SQL logic error: no such table: leases (1)")
	diskErr := errors.New("disk I/O error")
	var nilErr error
	var nilPath *pathErr
	coded := Errorf(KeyMalformed, "private key does not decode: %w", errors.New("illegal base64 data at input byte 4"))
	for _, tc := range []struct {
		name   string
		format string
		args   []any
		msg    string // Msg: what a server sends
		detail string // Detail: the message and its cause
		causes []error
	}{
		{"no-verb", "the store is read-only", nil, "the store is read-only", "the store is read-only", nil},
		{"no-w", "instance %q of %q", []any{"i-1", "ocr"}, `instance "i-1" of "ocr"`, `instance "i-1" of "ocr"`, nil},
		{"error-with-v-is-public", "refused: %v", []any{diskErr}, "refused: disk I/O error", "refused: disk I/O error", nil},
		{"w-at-the-end", "the store failed: %w", []any{sqlErr}, "the store failed",
			"the store failed: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-alone", "%w", []any{sqlErr}, "The server cannot read or write its store (disk full, file permissions, database down).",
			"The server cannot read or write its store (disk full, file permissions, database down).: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-first", "%w: while granting %q", []any{sqlErr, "ocr"}, `while granting "ocr"`,
			`while granting "ocr": SQL logic error: no such table: leases (1)`, []error{sqlErr}},
		{"w-mid-sentence", "writing %w failed for %s", []any{sqlErr, "ocr"}, "writing failed for ocr",
			"writing failed for ocr: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-between-separators", "cannot grant: %w; the seat is free", []any{sqlErr}, "cannot grant; the seat is free",
			"cannot grant; the seat is free: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-between-colons", "%s: %w: try again", []any{"https://a:8443", diskErr}, "https://a:8443: try again",
			"https://a:8443: try again: disk I/O error", []error{diskErr}},
		{"w-in-brackets", "cannot write the audit log (%w), retrying", []any{diskErr}, "cannot write the audit log, retrying",
			"cannot write the audit log, retrying: disk I/O error", []error{diskErr}},
		{"w-in-brackets-at-the-end", "cannot write the audit log (%w)", []any{diskErr}, "cannot write the audit log",
			"cannot write the audit log: disk I/O error", []error{diskErr}},
		{"w-in-quotes", `the store said "%w".`, []any{diskErr}, "the store said.", "the store said.: disk I/O error", []error{diskErr}},
		{"w-with-more-in-brackets", "refused (store: %w)", []any{diskErr}, "refused (store)", "refused (store): disk I/O error", []error{diskErr}},
		{"several-w", "%s: %w: %w", []any{"reload", sqlErr, diskErr}, "reload",
			"reload: SQL logic error: no such table: leases (1): disk I/O error", []error{sqlErr, diskErr}},
		{"several-w-apart", "read: %w; write: %w", []any{sqlErr, diskErr}, "read; write",
			"read; write: SQL logic error: no such table: leases (1): disk I/O error", []error{sqlErr, diskErr}},
		{"w-with-flags", "the store failed: %+w", []any{sqlErr}, "the store failed", "the store failed: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-with-width", "the store failed: %-20w|", []any{sqlErr}, "the store failed |", "the store failed |: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-explicit-index", "%[2]s: %[1]w", []any{sqlErr, "reload"}, "reload", "reload: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"w-and-v-of-one-error", "%v: %[1]w", []any{sqlErr}, "The server cannot read or write its store (disk full, file permissions, database down).",
			"The server cannot read or write its store (disk full, file permissions, database down).: SQL logic error: no such table: leases (1)", []error{sqlErr}},
		{"width-from-argument", "%*d items: %w", []any{4, 7, diskErr}, "   7 items", "   7 items: disk I/O error", []error{diskErr}},
		{"escaped-percent-w", "100%%w done: %w", []any{diskErr}, "100%w done", "100%w done: disk I/O error", []error{diskErr}},
		{"escaped-percent-w-only", "say %%w to %s", []any{"fmt"}, "say %w to fmt", "say %w to fmt", nil},
		{"nil-w", "the store failed: %w", []any{nilErr}, "the store failed", "the store failed", nil},
		{"typed-nil-w", "the store failed: %w", []any{nilPath}, "the store failed", "the store failed", nil},
		{"non-error-w", "count: %w", []any{3}, "count: %!w(int=3)", "count: %!w(int=3)", nil},
		{"coded-cause", "the server key %s: %w", []any{"/data/server.key", coded}, "the server key /data/server.key",
			"the server key /data/server.key: private key does not decode: illegal base64 data at input byte 4", []error{coded}},
		{"argument-text-looks-like-a-mark", "instance %q: %w", []any{"a\x00b", diskErr}, `instance "a\x00b"`, `instance "a\x00b": disk I/O error`, []error{diskErr}},
		{"argument-with-control-bytes", "id %s: %w", []any{"a\x00\x01b", diskErr}, "id a\x00\x01b", "id a\x00\x01b: disk I/O error", []error{diskErr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Errorf(StoreUnavailable, tc.format, tc.args...)
			if e.Msg != tc.msg {
				t.Errorf("Msg = %q, want %q", e.Msg, tc.msg)
			}
			if got := e.Detail(); got != tc.detail {
				t.Errorf("Detail() = %q, want %q", got, tc.detail)
			}
			if got, want := e.Error(), "code=701 store_unavailable: "+tc.detail; got != want {
				t.Errorf("Error() = %q, want %q", got, want)
			}
			for _, c := range tc.causes {
				if !errors.Is(e, c) {
					t.Errorf("errors.Is(e, %q) = false", c)
				}
				if strings.Contains(e.Msg, causeText(c)) {
					t.Errorf("Msg %q carries the cause %q", e.Msg, causeText(c))
				}
			}
			if len(tc.causes) == 0 && e.Err != nil {
				t.Errorf("Err = %v, want none", e.Err)
			}
		})
	}
}

func TestErrorfCausesStayReachable(t *testing.T) {
	pe := &pathErr{"/var/lib/licensor/licensor.db"}
	inner := Errorf(FileMissing, "cannot read the license file: %w", &fs.PathError{Op: "open", Path: "/etc/site.lic", Err: os.ErrNotExist})
	e := Errorf(StoreUnavailable, "cannot open the store: %w; and %w", pe, inner)
	wrapped := fmt.Errorf("starting: %w", e)

	var gotPath *pathErr
	if !errors.As(wrapped, &gotPath) || gotPath != pe {
		t.Errorf("errors.As(*pathErr) = %v", gotPath)
	}
	if !errors.Is(wrapped, os.ErrNotExist) {
		t.Error("errors.Is(os.ErrNotExist) through two Errorfs = false")
	}
	var fsErr *fs.PathError
	if !errors.As(wrapped, &fsErr) || fsErr.Path != "/etc/site.lic" {
		t.Errorf("errors.As(*fs.PathError) = %v", fsErr)
	}
	if !errors.Is(wrapped, &Error{Code: StoreUnavailable}) || !errors.Is(wrapped, &Error{Code: FileMissing}) {
		t.Error("errors.Is by code misses the outer or the inner code")
	}
	if got := Of(wrapped); got != StoreUnavailable {
		t.Errorf("Of = %v, want the outer code", got)
	}
	if e.Msg != "cannot open the store; and" {
		t.Errorf("Msg = %q", e.Msg)
	}
	want := "cannot open the store; and: open /var/lib/licensor/licensor.db: permission denied: cannot read the license file: open /etc/site.lic: file does not exist"
	if got := e.Detail(); got != want {
		t.Errorf("Detail() = %q,\nwant %q", got, want)
	}
}

func TestDetail(t *testing.T) {
	plain := errors.New("connection refused")
	for _, tc := range []struct {
		name string
		e    *Error
		want string
	}{
		{"no-cause", &Error{Code: Connect, Msg: "cannot connect"}, "cannot connect"},
		{"cause", &Error{Code: Connect, Msg: "cannot connect", Err: plain}, "cannot connect: connection refused"},
		{"cause-already-in-the-message", As(plain), "connection refused"},
		{"no-message", &Error{Code: Connect, Err: plain}, "connection refused"},
		{"coded-cause-without-its-prefix", &Error{Code: AllServersDown, Msg: "every server failed",
			Err: Errorf(Connect, "https://a:8443: cannot connect: %w", plain)},
			"every server failed: https://a:8443: cannot connect: connection refused"},
		{"joined-causes-the-message-names", &Error{Code: AllServersDown,
			Msg: "every server failed: https://a: cannot connect: connection refused; https://b: timed out",
			Err: errors.Join(Errorf(Connect, "https://a: cannot connect: %w", plain), errors.New("https://b: timed out"))},
			"every server failed: https://a: cannot connect: connection refused; https://b: timed out"},
		{"joined-causes-one-new", &Error{Code: AllServersDown, Msg: "every server failed: https://a: timed out",
			Err: errors.Join(errors.New("https://a: timed out"), plain)},
			"every server failed: https://a: timed out: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Detail(); got != tc.want {
				t.Errorf("Detail() = %q, want %q", got, tc.want)
			}
		})
	}
}

// Whatever the format, the message never carries the text of a %w
// operand, the cause stays reachable, and a format without %w reads as
// fmt reads it.
func FuzzErrorf(f *testing.F) {
	for _, s := range []string{
		"the store failed: %w", "%w", "%s: %w: %w", "(%w)", "%%w %w", "%[2]s %[1]w", "%*d %w",
		"%-10w|", "%.3s: %w", "%!w", "%", "%[9]w", "%d %s %v", "a %w b %[1]v c", `"%w"`, "%[1]*w",
	} {
		f.Add(s)
	}
	const secret = "SECRET-CAUSE"
	f.Fuzz(func(t *testing.T, format string) {
		cause := errors.New(secret)
		args := []any{"ocr", cause, 7, 3.5}
		e := Errorf(StoreUnavailable, format, args...)
		std := fmt.Errorf(format, args...)
		wrapped := errors.Is(std, cause) // the only error among args
		if got := errors.Is(e, cause); got != wrapped {
			t.Fatalf("errors.Is(Errorf(%q), cause) = %v, fmt.Errorf says %v", format, got, wrapped)
		}
		if wrapped && strings.Contains(e.Msg, secret) {
			t.Fatalf("Errorf(%q).Msg = %q carries the cause", format, e.Msg)
		}
		if wrapped && !strings.Contains(e.Error(), secret) {
			t.Fatalf("Errorf(%q).Error() = %q lacks the cause", format, e.Error())
		}
		if !wrapped && e.Msg != std.Error() {
			t.Fatalf("Errorf(%q).Msg = %q, fmt says %q", format, e.Msg, std.Error())
		}
	})
}
