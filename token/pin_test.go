package token

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

func TestReadPIN(t *testing.T) {
	const secret = "s3cret-PIN"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
		code    codes.Code
	}{
		{"plain", secret, 0o600, secret, 0},
		{"newline", secret + "\n", 0o600, secret, 0},
		{"crlf", secret + "\r\n", 0o400, secret, 0},
		{"spaces-kept", " " + secret + " \n", 0o600, " " + secret + " ", 0},
		{"empty", "", 0o600, "", codes.HWPINIncorrect},
		{"only-newline", "\n", 0o600, "", codes.HWPINIncorrect},
		{"two-lines", secret + "\n" + secret + "\n", 0o600, "", codes.HWPINIncorrect},
		{"two-newlines", secret + "\n\n", 0o600, "", codes.HWPINIncorrect},
		{"nul", secret + "\x00", 0o600, "", codes.HWPINIncorrect},
		{"too-long", strings.Repeat("9", MaxPINSize+1), 0o600, "", codes.HWPINIncorrect},
		{"longest", strings.Repeat("9", MaxPINSize), 0o600, strings.Repeat("9", MaxPINSize), 0},
		{"group-readable", secret, 0o640, "", codes.FileMissing},
		{"world-readable", secret, 0o604, "", codes.FileMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pin")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			pin, err := ReadPIN(path)
			if tt.code != 0 {
				if codes.Of(err) != tt.code {
					t.Fatalf("got %q, %v; want code %d", pin, err, tt.code)
				}
				if strings.Contains(err.Error(), secret) || strings.Contains(codes.As(err).FixText(), secret) {
					t.Errorf("the error carries the PIN: %v", err)
				}
				return
			}
			if err != nil || string(pin) != tt.want {
				t.Fatalf("got %q, %v; want %q", pin, err, tt.want)
			}
		})
	}
}

// TestReadPINLooksLikePIN: a PIN given where the file's path belongs is
// not echoed in the error.
func TestReadPINLooksLikePIN(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, pin := range []string{"1234", "s3cret42", "0000-1111"} {
		_, err := ReadPIN(pin)
		if codes.Of(err) != codes.FileMissing || strings.Contains(err.Error(), pin) || !strings.Contains(err.Error(), "looks like a PIN") {
			t.Errorf("ReadPIN(%q) = %v", pin, err)
		}
	}
	for _, path := range []string{"token.pin", "pins/site", "pin"} {
		if _, err := ReadPIN(path); codes.Of(err) != codes.FileMissing || !strings.Contains(err.Error(), path) {
			t.Errorf("ReadPIN(%q) = %v, want the path named", path, err)
		}
	}
}

func TestReadPINMissingFile(t *testing.T) {
	_, err := ReadPIN(filepath.Join(t.TempDir(), "none"))
	if codes.Of(err) != codes.FileMissing || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("got %v", err)
	}
	_, err = ReadPIN(t.TempDir())
	if codes.Of(err) != codes.FileMissing {
		t.Fatalf("a directory: got %v", err)
	}
}

func TestReadPINEnvironment(t *testing.T) {
	t.Setenv(PINEnv, "4321")
	pin, err := ReadPIN("")
	if err != nil || string(pin) != "4321" {
		t.Fatalf("got %q, %v", pin, err)
	}
	t.Setenv(PINEnv, "")
	if _, err := ReadPIN(""); codes.Of(err) != codes.HWPINIncorrect || errors.Is(err, ErrNoPIN) {
		t.Fatalf("an empty %s: got %v, want an empty PIN, not a missing one", PINEnv, err)
	}
	os.Unsetenv(PINEnv)
	_, err = ReadPIN("")
	if codes.Of(err) != codes.HWPINIncorrect || !errors.Is(err, ErrNoPIN) || !strings.Contains(err.Error(), PINEnv) {
		t.Fatalf("no PIN at all: got %v", err)
	}
}

func FuzzParsePIN(f *testing.F) {
	for _, s := range []string{"1234", "1234\n", "1234\r\n", "", "\n", "a\nb", "\x00", strings.Repeat("x", 300)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pin, err := parsePIN(data, "PIN file")
		if err != nil {
			if codes.Of(err) != codes.HWPINIncorrect {
				t.Fatalf("code %d", codes.Of(err))
			}
			if len(data) >= 4 && bytes.Contains([]byte(err.Error()), data) {
				t.Fatalf("the error carries the input: %v", err)
			}
			return
		}
		if len(pin) == 0 || len(pin) > MaxPINSize || bytes.ContainsAny(pin, "\r\n\x00") || !bytes.HasPrefix(data, pin) {
			t.Fatalf("parsePIN(%q) = %q", data, pin)
		}
	})
}
