package jsonwrite

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestString(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{`q"b\`, `"q\"b\\"`},
		{"\n\r\t\x00\x1f", `"\n\r\t\u0000\u001f"`},
		{"<&>", `"<&>"`},
		{"é😀", `"é😀"`},
		{"a\xffb", `"a\ufffdb"`},
		{"\u2028\u2029", `"\u2028\u2029"`},
	} {
		if got := string(String(nil, tt.in)); got != tt.want {
			t.Errorf("String(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFloat(t *testing.T) {
	for _, f := range []float64{0, math.Copysign(0, -1), 1, -1, 30, -30, 2.0, 999999999999999, -999999999999999, 1e15, 1e15 + 1, 0.5, 1.0 / 3, 100, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, -2.5e-9, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		want, _ := json.Marshal(f)
		if got := string(Float(nil, f)); got != string(want) {
			t.Errorf("Float(%v) = %s, want %s", f, got, want)
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if got := string(Float(nil, f)); got != "0" {
			t.Errorf("Float(%v) = %s, want 0", f, got)
		}
	}
}

func TestComposite(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 5, time.UTC)
	b := append([]byte(nil), '{')
	b = Key(b, "a")
	b = Int(b, -7)
	b = Key(b, "b")
	b = Bool(b, true)
	b = Key(b, "c")
	b = Strings(b, []string{"x", "y\""})
	b = Key(b, "d")
	b = Strings(b, nil)
	b = Key(b, "e")
	b = Time(b, t0)
	b = append(b, '}')
	want := `{"a":-7,"b":true,"c":["x","y\""],"d":null,"e":"2026-11-23T12:00:00.000000005Z"}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	var v struct {
		E time.Time `json:"e"`
	}
	if err := json.Unmarshal(b, &v); err != nil || !v.E.Equal(t0) {
		t.Fatalf("Unmarshal = %v, %v", v.E, err)
	}
}

// FuzzString holds String to encoding/json: valid JSON that decodes to
// what encoding/json's own encoding of s decodes to.
func FuzzString(f *testing.F) {
	f.Add("a\"b\\c\n\x00\xff\u2028é")
	f.Fuzz(func(t *testing.T, s string) {
		out := String(nil, s)
		if !json.Valid(out) {
			t.Fatalf("String(%q) = %s: not JSON", s, out)
		}
		var got, want string
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("String(%q) decodes to %q; encoding/json's to %q", s, got, want)
		}
	})
}

// FuzzFloat holds Float to encoding/json's bytes.
func FuzzFloat(f *testing.F) {
	f.Add(0.1)
	f.Add(1e-7)
	f.Add(1e21)
	f.Fuzz(func(t *testing.T, x float64) {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		want, _ := json.Marshal(x)
		if got := Float(nil, x); string(got) != string(want) {
			t.Fatalf("Float(%v) = %s, want %s", x, got, want)
		}
	})
}
