package token

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/licensor/licensor/codes"
)

// PINEnv is the environment variable ReadPIN reads when given no file.
const PINEnv = "LICENSOR_TOKEN_PIN"

// MaxPINSize bounds a PIN (PKCS#11 tokens take at most 255 bytes).
const MaxPINSize = 255

// ErrNoPIN is wrapped by ReadPIN's error when neither a file nor the
// environment gives a PIN.
var ErrNoPIN = errors.New("no PIN given")

// ReadPIN reads the token's user PIN from file, or, when file is "",
// from the environment variable LICENSOR_TOKEN_PIN. The file holds the
// PIN on one line; one trailing newline (LF or CRLF) is trimmed, nothing
// else. A file that its group or others may read or write is refused, as
// ssh refuses such a private key: a PIN is a secret, and a file others
// can read leaks it (chmod 600). The PIN is never in an error message.
//
// Failures are codes.HWPINIncorrect for a PIN that no token takes (empty,
// longer than 255 bytes, several lines, a NUL byte), wrapping ErrNoPIN
// when there is none at all, and codes.FileMissing for a file that
// cannot be read or is open to others.
func ReadPIN(file string) ([]byte, error) {
	if file == "" {
		v, ok := os.LookupEnv(PINEnv)
		if !ok {
			return nil, codes.Errorf(codes.HWPINIncorrect, "no PIN given: neither a PIN file nor %s: %w", PINEnv, ErrNoPIN).
				WithFix("Write the token's user PIN in a file readable by this user alone (chmod 600) and give it with --pin-file (token_pin_file for the server), or set " + PINEnv + ".")
		}
		return parsePIN([]byte(v), PINEnv)
	}
	f, err := os.Open(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && looksLikePIN(file) {
			// The PIN itself where its file's path belongs: say so
			// without echoing it.
			return nil, codes.Errorf(codes.FileMissing, "the PIN file given does not exist, and its name looks like a PIN rather than a path (not shown)").
				WithFix("Write the PIN into a file only its owner may read (chmod 600) and give that file's path (--pin-file, token_pin_file); never the PIN itself.")
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil, codes.Errorf(codes.FileMissing, "PIN file %s does not exist", file)
		}
		return nil, codes.Errorf(codes.FileMissing, "cannot read the PIN file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, codes.Errorf(codes.FileMissing, "cannot read the PIN file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, codes.Errorf(codes.FileMissing, "PIN file %s is not a regular file", file)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, codes.Errorf(codes.FileMissing, "PIN file %s has mode %04o: its group or others may read it, so licensor does not", file, perm).
			WithFix(fmt.Sprintf("Make the PIN file readable by its owner alone: chmod 600 %s", file))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPINSize+3))
	if err != nil {
		return nil, codes.Errorf(codes.FileMissing, "cannot read the PIN file: %w", err)
	}
	return parsePIN(data, "PIN file "+file)
}

// parsePIN checks a PIN read from where (a file or the environment) and
// trims one trailing newline. Its errors never carry the PIN.
func parsePIN(data []byte, where string) ([]byte, error) {
	pin := data
	if bytes.HasSuffix(pin, []byte("\r\n")) {
		pin = pin[:len(pin)-2]
	} else if bytes.HasSuffix(pin, []byte("\n")) {
		pin = pin[:len(pin)-1]
	}
	bad := func(why string) error {
		return codes.Errorf(codes.HWPINIncorrect, "%s: %s", where, why).
			WithFix("Write the token's user PIN alone, on one line, in the PIN file (or " + PINEnv + ").")
	}
	switch {
	case len(pin) == 0:
		return nil, bad("the PIN is empty")
	case len(pin) > MaxPINSize:
		return nil, bad(fmt.Sprintf("the PIN is longer than %d bytes", MaxPINSize))
	case bytes.ContainsAny(pin, "\r\n"):
		return nil, bad("more than one line: the file must hold the PIN alone")
	case bytes.IndexByte(pin, 0) >= 0:
		return nil, bad("the PIN holds a NUL byte")
	}
	return bytes.Clone(pin), nil
}

// looksLikePIN reports whether a path that names no file is more likely
// a PIN typed in its place: no directory, no extension, at most 32
// characters, digits or letters and digits mixed.
func looksLikePIN(path string) bool {
	if len(path) == 0 || len(path) > 32 || strings.ContainsAny(path, "/.") {
		return false
	}
	digits := 0
	for _, r := range path {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	return digits > 0
}
