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

func TestUnwrap(t *testing.T) {
	const begin, end = "-----BEGIN X-----", "-----END X-----"
	for _, tt := range []struct {
		name, in, want string
		fault          Fault
	}{
		{"armored", "notes\n" + begin + "\naa.bb\n.cc\n" + end + "\n", "aa.bb.cc", OK},
		{"crlf", begin + "\r\naa.bb\r\n.cc\r\n" + end + "\r\n", "aa.bb.cc", OK},
		{"bare", "  aa.bb.cc\n", "aa.bb.cc", OK},
		{"empty", " \n\t", "", Empty},
		{"bare with a space", "aa.b b.cc", "", NoBegin},
		{"bare with two parts", "aa.bb", "", NoBegin},
		{"truncated", begin + "\naa.bb.cc\n", "", Truncated},
		{"several", begin + "\na.b.c\n" + end + "\n" + begin + "\na.b.c\n" + end, "", Several},
		{"empty block", begin + "\n\n" + end, "", EmptyBlock},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, fault := Unwrap([]byte(tt.in), begin, end)
			if got != tt.want || fault != tt.fault {
				t.Fatalf("Unwrap = %q, %d; want %q, %d", got, fault, tt.want, tt.fault)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	const begin, end = "-----BEGIN X-----", "-----END X-----"
	for f, want := range map[Fault]string{
		OK:         "",
		Empty:      "the file is empty",
		NoBegin:    "not a licensor key file: no -----BEGIN X----- line",
		Truncated:  "the key file is truncated: no -----END X----- line",
		Several:    "the file holds more than one key file",
		EmptyBlock: "the signed block is empty",
	} {
		if got := f.Describe("key file", begin, end); got != want {
			t.Errorf("Describe(%d) = %q, want %q", f, got, want)
		}
	}
}
