package jsonread

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestValues(t *testing.T) {
	for _, tt := range []struct {
		name, doc string
		read      func(d *Decoder) any
		want      any
		err       string
	}{
		{"string", `"abc"`, str, "abc", ""},
		{"escapes", `"a\"\\\/\b\f\n\r\tz"`, str, "a\"\\/\b\f\n\r\tz", ""},
		{"unicode", `"\u00e9\ud83d\ude00é"`, str, "é😀é", ""},
		{"lone high surrogate", `"\ud83d"`, str, nil, "lone UTF-16 surrogate"},
		{"lone low surrogate", `"\ude00\ud83d"`, str, nil, "lone UTF-16 surrogate"},
		{"surrogate then letter", `"\ud83d\u0041"`, str, nil, "lone UTF-16 surrogate"},
		{"bad escape", `"\x41"`, str, nil, `invalid escape \x`},
		{"bad hex", `"\u00g1"`, str, nil, `invalid \u escape`},
		{"short hex", `"\u00`, str, nil, `short \u escape`},
		{"control", "\"a\nb\"", str, nil, "control character"},
		{"control after escape", "\"\\n\tb\"", str, nil, "control character"},
		{"invalid UTF-8", "\"\xff\"", str, nil, "not valid UTF-8"},
		{"invalid UTF-8 after escape", "\"\\n\xff\"", str, nil, "not valid UTF-8"},
		{"unterminated", `"abc`, str, nil, "unterminated string"},
		{"unterminated escape", `"abc\`, str, nil, "unterminated string"},
		{"not a string", `12`, str, nil, `want '"'`},
		{"int", ` -42 `, integer, int64(-42), ""},
		{"zero", `0`, integer, int64(0), ""},
		{"minus zero", `-0`, integer, int64(0), ""},
		{"max", `9223372036854775807`, integer, int64(math.MaxInt64), ""},
		{"overflow", `9223372036854775808`, integer, nil, "does not fit"},
		{"leading zero", `012`, integer, nil, "leading zero"},
		{"fraction", `1.5`, integer, nil, "not an integer"},
		{"exponent", `1e3`, integer, nil, "not an integer"},
		{"bare minus", `-`, integer, nil, "want a digit"},
		{"not a number", `"1"`, integer, nil, "want a number"},
		{"true", ` true `, boolean, true, ""},
		{"false", `false`, boolean, false, ""},
		{"bool truncated", `tru`, boolean, nil, "want true or false"},
		{"bool as string", `"true"`, boolean, nil, "want true or false"},
		{"bool null", `null`, boolean, nil, "want true or false"},
		{"time", `"2026-11-23T12:00:00Z"`, tm, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), ""},
		{"time escaped", `"2026-11-23T12:00:00\u005a"`, tm, nil, "RFC 3339"},
		{"time not RFC 3339", `"2026-11-23 12:00:00"`, tm, nil, "RFC 3339"},
		{"strings", `["a", "b"]`, strs, "[a b]", ""},
		{"empty strings", `[]`, strs, "[]", ""},
		{"null strings", `null`, strs, "[]", ""},
		{"strings with null", `["a", null]`, strs, nil, `want '"'`},
		{"strings unclosed", `["a" "b"]`, strs, nil, "want ',' or ']'"},
		{"map", `{"a": "1", "b": "2"}`, smap, "map[a:1 b:2]", ""},
		{"map twice", `{"a": "1", "a": "2"}`, smap, nil, `"a" given twice`},
		{"map unclosed", `{"a": "1" "b"}`, smap, nil, "want ',' or '}'"},
		{"map no colon", `{"a" "1"}`, smap, nil, "want ':'"},
		{"map bad null", `nul`, smap, nil, "want null"},
		{"trailing", `"a" "b"`, str, nil, "data after the JSON value"},
		{"skip", ` {"a":[1,-2.5e+3,true,false,null,{"b":"\u0041"}],"c":{}} `, skip, "", ""},
		{"skip number forms", `[0, -0, 1.0, 2E5, 3e-1]`, skip, "", ""},
		{"skip bad literal", `[tru]`, skip, nil, "want a value"},
		{"skip bad fraction", `[1.]`, skip, nil, "want a digit"},
		{"skip bad exponent", `[1e+]`, skip, nil, "want a digit"},
		{"skip leading zero", `[00]`, skip, nil, "leading zero"},
		{"skip nothing", `[,]`, skip, nil, "want a value"},
		{"empty", ``, str, nil, "unexpected end of JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDecoder(tt.doc)
			got := tt.read(d)
			err := d.Finish()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, ok := got.(time.Time); ok {
				if !g.Equal(tt.want.(time.Time)) {
					t.Fatalf("got %v, want %v", g, tt.want)
				}
				return
			}
			if s, ok := tt.want.(string); ok {
				if g := toString(got); g != s {
					t.Fatalf("got %q, want %q", g, s)
				}
				return
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func str(d *Decoder) any     { return d.String() }
func integer(d *Decoder) any { return d.Int64() }
func boolean(d *Decoder) any { return d.Bool() }
func tm(d *Decoder) any      { return d.Time() }
func strs(d *Decoder) any    { return d.Strings() }
func smap(d *Decoder) any    { return d.StringMap() }
func skip(d *Decoder) any    { d.Skip(); return "" }

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []string:
		return "[" + strings.Join(v, " ") + "]"
	case map[string]string:
		if len(v) == 2 {
			return "map[a:" + v["a"] + " b:" + v["b"] + "]"
		}
	}
	return "?"
}

func TestObjectManyNames(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 40 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":"v"`)
	}
	doc := b.String()
	if m := decode(doc + "}"); len(m) != 40 {
		t.Fatalf("read %d names, want 40", len(m))
	}
	d := NewDecoder((doc + `,"k39":"again"}`))
	d.StringMap()
	if err := d.Finish(); err == nil || !strings.Contains(err.Error(), `"k39" given twice`) {
		t.Fatalf("a name repeated after the sixteenth: %v", err)
	}
}

func decode(doc string) map[string]string {
	d := NewDecoder(doc)
	m := d.StringMap()
	if d.Finish() != nil {
		return nil
	}
	return m
}

func TestDepth(t *testing.T) {
	doc := strings.Repeat("[", 100) + strings.Repeat("]", 100)
	d := NewDecoder(doc)
	var elem func()
	elem = func() { d.Array(elem) }
	elem()
	if err := d.Finish(); err == nil || !strings.Contains(err.Error(), "nested more than") {
		t.Fatalf("deep nesting: %v", err)
	}
}

func TestUnknown(t *testing.T) {
	d := NewDecoder(`{"a":1,"b":2}`)
	d.Object(func(name string) {
		if name == "a" {
			d.Int()
			return
		}
		d.Unknown(name)
	})
	if err := d.Finish(); err == nil || !strings.Contains(err.Error(), `unknown field "b"`) {
		t.Fatalf("unknown field: %v", err)
	}
}

// FuzzDecoder reads any input as a generic document without panicking,
// and stops at the first error.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("{\"a\":[\"\\u00e9\x7f\x1f\"]}"))
	f.Add([]byte(`{"a":["x","y"],"b":{"c":"d"},"n":-12,"t":"2026-01-02T03:04:05Z"}`))
	f.Add([]byte(`{"a":"\ud83d\ude00\n"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewDecoder(string(data))
		d.Object(func(name string) {
			switch name {
			case "a":
				d.Strings()
			case "b":
				d.StringMap()
			case "n":
				d.Int()
			case "t":
				d.Time()
			default:
				d.Skip()
			}
		})
		_ = d.Finish()
	})
}

func TestPlainASCII(t *testing.T) {
	naive := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] >= 0x80 {
				return false
			}
		}
		return true
	}
	for n := range 20 {
		for pos := range n {
			for b := range 256 {
				s := []byte(strings.Repeat("a", n))
				s[pos] = byte(b)
				if got, want := plainASCII(string(s)), naive(string(s)); got != want {
					t.Fatalf("plainASCII(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}
