package jsonconfig

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/licensor/licensor/codes"
)

func TestStripComments(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"none", `{"a": 1}`, `{"a": 1}`},
		{"line", "// top\n{\"a\": 1}", "      \n{\"a\": 1}"},
		{"trailing", "{\"a\": 1} // one\n", "{\"a\": 1}       \n"},
		{"url-in-string", `{"u": "https://vendor:9443"} // x`, `{"u": "https://vendor:9443"}     `},
		{"escaped-quote", `{"s": "a\"//b"} //c`, `{"s": "a\"//b"}    `},
		{"escaped-backslash", `{"s": "a\\"} //c`, `{"s": "a\\"}    `},
		{"commented-key", "{\n  // \"log_file\": \"x\",\n  \"a\": 1\n}", "{\n  " + strings.Repeat(" ", len(`// "log_file": "x",`)) + "\n  \"a\": 1\n}"},
		{"single-slash", `{"a": 1} / 2`, `{"a": 1} / 2`},
		{"crlf", "{} // x\r\n", "{}      \n"},
		{"at-end", "{}//", "{}  "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := []byte(tt.in)
			got := StripComments(in)
			if string(got) != tt.want {
				t.Errorf("StripComments(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if string(in) != tt.in {
				t.Errorf("the input was modified: %q", in)
			}
		})
	}
}

type sample struct {
	Listen string   `json:"listen"`
	TTL    Duration `json:"ttl"`
}

func TestDecodeComments(t *testing.T) {
	var s sample
	in := "// the example\n{\n  \"listen\": \"https://a:1\", // where\n  // \"ttl\": \"oops\",\n  \"ttl\": \"90s\"\n}\n"
	if err := Decode(strings.NewReader(in), &s, func() any { return &sample{} }, "listen, ttl"); err != nil {
		t.Fatal(err)
	}
	if s.Listen != "https://a:1" || time.Duration(s.TTL) != 90*time.Second {
		t.Fatalf("decoded %+v", s)
	}
	// An error's line number is the file's, comments counted.
	err := Decode(strings.NewReader("// one\n// two\n{\n\"listen\": \"x\",\n}"), &s, func() any { return &sample{} }, "listen, ttl")
	if codes.Of(err) != codes.ConfigInvalid || !strings.Contains(err.Error(), "line 5") {
		t.Fatalf("err = %v, want config_invalid at line 5", err)
	}
	// A bad value under a comment is still named.
	err = Decode(strings.NewReader("{\"ttl\": \"soon\" // later\n}"), &s, func() any { return &sample{} }, "listen, ttl")
	if !strings.Contains(fmtErr(err), `field "ttl"`) {
		t.Fatalf("err = %v, want the field named", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzStripComments: the result is as long as the input, has its newlines
// where they were, changes bytes only to spaces, leaves JSON without "//"
// alone, and never turns JSON that does not decode into JSON that does
// by blanking inside a string.
func FuzzStripComments(f *testing.F) {
	for _, s := range []string{`{"a": 1}`, "// x\n{}", `{"u": "https://h"} // c`, `{"s": "a\"//b"}`, "{}//", `"\\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := StripComments([]byte(in))
		if len(got) != len(in) {
			t.Fatalf("length %d, want %d", len(got), len(in))
		}
		for i := range got {
			if got[i] != in[i] && (got[i] != ' ' || in[i] == '\n') {
				t.Fatalf("byte %d: %q became %q", i, in[i], got[i])
			}
		}
		if !strings.Contains(in, "//") && string(got) != in {
			t.Fatalf("changed input without a comment: %q", got)
		}
		// Valid JSON keeps its meaning: a "//" in valid JSON is inside a string.
		var a, b any
		if json.Unmarshal([]byte(in), &a) == nil {
			if err := json.Unmarshal(got, &b); err != nil || !bytes.Equal(mustJSON(a), mustJSON(b)) {
				t.Fatalf("valid JSON %q changed meaning: %q (%v)", in, got, err)
			}
		}
	})
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }
