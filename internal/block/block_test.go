package block

import (
	"strings"
	"testing"
)

func TestJoin(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"ab\ncd\n", "abcd"},
		{"\r\n ab\r\ncd \t\nef", "abcdef"},
		{"\n\n\n", ""},
	} {
		if got := Join([]byte(tt.in)); got != tt.want {
			t.Errorf("Join(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzJoin(f *testing.F) {
	f.Add("ab\ncd\n")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Join([]byte(s)), strings.NewReplacer(" ", "", "\t", "", "\r", "", "\n", "").Replace(s); got != want {
			t.Fatalf("Join(%q) = %q, want %q", s, got, want)
		}
	})
}
