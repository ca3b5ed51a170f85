package token

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/licensor/licensor/codes"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestParseKeyID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"01", "01"},
		{"0A:1b", "0a1b"},
		{"0x0a1b", "0a1b"},
		{strings.Repeat("ab", 64), strings.Repeat("ab", 64)},
		{"", ""},
		{"1", ""},
		{"zz", ""},
		{"0x", ""},
		{":", ""},
		{strings.Repeat("ab", 65), ""},
	}
	for _, tt := range tests {
		got, err := ParseKeyID(tt.in)
		if tt.want == "" {
			if codes.Of(err) != codes.InvalidArgument {
				t.Errorf("ParseKeyID(%q) = %q, %v; want code %d", tt.in, got, err, codes.InvalidArgument)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseKeyID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestValidThumbprint(t *testing.T) {
	good := b64(make([]byte, 32))
	for s, want := range map[string]bool{good: true, good + "A": false, good[:42]: false, strings.Repeat("!", 43): false, "": false} {
		if ValidThumbprint(s) != want {
			t.Errorf("ValidThumbprint(%q) = %v", s, !want)
		}
	}
}

func FuzzParseKeyID(f *testing.F) {
	for _, s := range []string{"01", "0a:1b", "0x01", "", "zz", strings.Repeat("f", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseKeyID(s)
		if err != nil {
			if codes.Of(err) != codes.InvalidArgument {
				t.Fatalf("code %d", codes.Of(err))
			}
			return
		}
		again, err := ParseKeyID(id)
		if err != nil || again != id || len(id) == 0 || len(id) > 128 {
			t.Fatalf("ParseKeyID(%q) = %q, then %q, %v", s, id, again, err)
		}
	})
}
