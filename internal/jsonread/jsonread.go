// Package jsonread decodes the small JSON documents a product checks
// offline — key file claims, licenses — faster than encoding/json and more
// strictly: member names match exactly, a name appears once per object,
// strings are valid UTF-8 with no lone surrogates, numbers are integers
// that fit, and nothing follows the document. What it accepts,
// encoding/json accepts with the same meaning (the fuzz tests of its
// users hold it to that); what it refuses is a document licensor never
// writes.
//
// A Decoder is read by the caller in the document's shape: Object with a
// function per member, and String, Int, Bool, Time, Strings or StringMap for
// values. The first error sticks; Finish reports it.
package jsonread

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting; licensor's documents are three levels deep.
const maxDepth = 16

// A Decoder reads one JSON document from a string. The strings it returns
// share the document's memory where they have no escapes.
type Decoder struct {
	data  string
	pos   int
	depth int
	err   error
}

// NewDecoder returns a Decoder reading data.
func NewDecoder(data string) *Decoder { return &Decoder{data: data} }

// Err returns the first error met so far.
func (d *Decoder) Err() error { return d.err }

// Finish returns the first error, or an error if anything but whitespace
// follows the document.
func (d *Decoder) Finish() error {
	if d.err != nil {
		return d.err
	}
	d.space()
	if d.pos < len(d.data) {
		d.fail("data after the JSON value")
	}
	return d.err
}

// Fail records err, naming where it happened, unless an error is recorded
// already; callers use it for values of the right type but out of range.
func (d *Decoder) Fail(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("offset %d: %w", d.pos, err)
	}
}

// Unknown records that the member name is not one the document has.
func (d *Decoder) Unknown(name string) {
	d.Fail(fmt.Errorf("unknown field %q", name))
}

func (d *Decoder) fail(format string, args ...any) {
	d.Fail(fmt.Errorf(format, args...))
}

func (d *Decoder) space() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

// peek skips whitespace and returns the next byte, 0 at the end.
func (d *Decoder) peek() byte {
	d.space()
	if d.pos >= len(d.data) {
		return 0
	}
	return d.data[d.pos]
}

// expect consumes c after whitespace.
func (d *Decoder) expect(c byte) bool {
	if d.err != nil {
		return false
	}
	if d.peek() != c {
		d.unexpected(fmt.Sprintf("%q", c))
		return false
	}
	d.pos++
	return true
}

func (d *Decoder) unexpected(want string) {
	if d.pos >= len(d.data) {
		d.fail("unexpected end of JSON, want %s", want)
		return
	}
	d.fail("unexpected %q, want %s", d.data[d.pos], want)
}

// Null consumes a null if one comes next and reports whether it did.
func (d *Decoder) Null() bool {
	if d.err != nil || d.peek() != 'n' {
		return false
	}
	if !strings.HasPrefix(d.data[d.pos:], "null") {
		d.unexpected("null")
		return false
	}
	d.pos += 4
	return true
}

// Object reads an object, calling member with each name; member reads the
// value (or calls Unknown). A name given twice is an error.
func (d *Decoder) Object(member func(name string)) {
	if !d.expect('{') {
		return
	}
	if d.depth++; d.depth > maxDepth {
		d.fail("nested more than %d deep", maxDepth)
		return
	}
	defer func() { d.depth-- }()
	var small [16]string
	names := small[:0]
	var many map[string]bool
	if d.peek() == '}' {
		d.pos++
		return
	}
	for d.err == nil {
		name := d.String()
		if d.err != nil {
			return
		}
		if many == nil && len(names) < len(small) {
			for _, n := range names {
				if n == name {
					d.fail("field %q given twice", name)
					return
				}
			}
			names = append(names, name)
		} else {
			if many == nil {
				many = make(map[string]bool, 2*len(small))
				for _, n := range names {
					many[n] = true
				}
			}
			if many[name] {
				d.fail("field %q given twice", name)
				return
			}
			many[name] = true
		}
		if !d.expect(':') {
			return
		}
		member(name)
		if d.err != nil {
			return
		}
		switch d.peek() {
		case ',':
			d.pos++
		case '}':
			d.pos++
			return
		default:
			d.unexpected("',' or '}'")
		}
	}
}

// Array reads an array, calling elem once per element; elem reads it.
func (d *Decoder) Array(elem func()) {
	if !d.expect('[') {
		return
	}
	if d.depth++; d.depth > maxDepth {
		d.fail("nested more than %d deep", maxDepth)
		return
	}
	defer func() { d.depth-- }()
	if d.peek() == ']' {
		d.pos++
		return
	}
	for d.err == nil {
		elem()
		if d.err != nil {
			return
		}
		switch d.peek() {
		case ',':
			d.pos++
		case ']':
			d.pos++
			return
		default:
			d.unexpected("',' or ']'")
		}
	}
}

// String reads a string.
func (d *Decoder) String() string {
	s, _ := d.str()
	return s
}

// str reads a string and reports whether it had escapes.
func (d *Decoder) str() (string, bool) {
	if !d.expect('"') {
		return "", false
	}
	start := d.pos
	q := strings.IndexByte(d.data[start:], '"')
	if q < 0 {
		q = len(d.data) - start
	}
	if seg := d.data[start : start+q]; strings.IndexByte(seg, '\\') < 0 && plainASCII(seg) {
		if q == len(d.data)-start {
			d.pos = len(d.data)
			d.fail("unterminated string")
			return "", false
		}
		d.pos = start + q + 1
		return seg, false
	}
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			s := d.data[start:i]
			d.pos = i + 1
			if !utf8.ValidString(s) {
				d.fail("string is not valid UTF-8")
				return "", false
			}
			return s, false
		case c == '\\':
			return d.escaped(start), true
		case c < 0x20:
			d.pos = i
			d.fail("control character in a string")
			return "", false
		}
	}
	d.pos = len(d.data)
	d.fail("unterminated string")
	return "", false
}

// plainASCII reports whether s is printable ASCII and space (0x20..0x7f),
// eight bytes at a time: the common case, which needs no further check.
func plainASCII(s string) bool {
	const highs, lows = 0x8080808080808080, 0x2020202020202020
	for len(s) >= 8 {
		x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
		// A byte ≥ 0x80, or one below 0x20: with every byte below 0x80,
		// subtracting 0x20 from each sets the high bit of those below it.
		if x&highs != 0 || (x-lows)&^x&highs != 0 {
			return false
		}
		s = s[8:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// escaped reads the rest of a string that has escapes, from start (just
// after the opening quote).
func (d *Decoder) escaped(start int) string {
	buf := make([]byte, 0, 64)
	i := start
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			if !utf8.Valid(buf) {
				d.fail("string is not valid UTF-8")
				return ""
			}
			return string(buf)
		case c < 0x20:
			d.pos = i
			d.fail("control character in a string")
			return ""
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			break
		}
		i += 2
		switch e := d.data[i-1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := d.hex4(i)
			if !ok {
				return ""
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(0), false
				if i+6 <= len(d.data) && d.data[i] == '\\' && d.data[i+1] == 'u' {
					r2, ok = d.hex4(i + 2)
				}
				if !ok || utf16.DecodeRune(r, r2) == utf8.RuneError {
					d.pos = i
					d.fail("lone UTF-16 surrogate in a string")
					return ""
				}
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
		default:
			d.pos = i - 2
			d.fail("invalid escape \\%c in a string", e)
			return ""
		}
	}
	d.pos = len(d.data)
	d.fail("unterminated string")
	return ""
}

func (d *Decoder) hex4(i int) (rune, bool) {
	if i+4 > len(d.data) {
		d.pos = i
		d.fail("short \\u escape in a string")
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		c := d.data[j]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			d.pos = i
			d.fail("invalid \\u escape in a string")
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// Int64 reads an integer.
func (d *Decoder) Int64() int64 {
	if d.err != nil {
		return 0
	}
	c := d.peek()
	if c != '-' && (c < '0' || c > '9') {
		d.unexpected("a number")
		return 0
	}
	start := d.pos
	if c == '-' {
		d.pos++
	}
	digits := d.pos
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
	}
	switch {
	case d.pos == digits:
		d.unexpected("a digit")
		return 0
	case d.data[digits] == '0' && d.pos-digits > 1:
		d.pos = digits
		d.fail("number with a leading zero")
		return 0
	case d.pos < len(d.data) && (d.data[d.pos] == '.' || d.data[d.pos] == 'e' || d.data[d.pos] == 'E'):
		d.fail("number is not an integer")
		return 0
	}
	n, err := strconv.ParseInt(d.data[start:d.pos], 10, 64)
	if err != nil {
		d.fail("number %s does not fit in 64 bits", d.data[start:d.pos])
		return 0
	}
	return n
}

// Bool reads true or false.
func (d *Decoder) Bool() bool {
	if d.err != nil {
		return false
	}
	d.space()
	switch rest := d.data[d.pos:]; {
	case strings.HasPrefix(rest, "true"):
		d.pos += 4
		return true
	case strings.HasPrefix(rest, "false"):
		d.pos += 5
		return false
	}
	d.unexpected("true or false")
	return false
}

// Int reads an integer that fits an int.
func (d *Decoder) Int() int {
	n := d.Int64()
	if n < math.MinInt || n > math.MaxInt {
		d.fail("number %d does not fit an int", n)
		return 0
	}
	return int(n)
}

// Time reads an RFC 3339 time, as time.Time's JSON form: a string without
// escapes.
func (d *Decoder) Time() time.Time {
	s, escaped := d.str()
	var t time.Time
	if d.err != nil {
		return t
	}
	if escaped || t.UnmarshalText([]byte(s)) != nil {
		d.Fail(errors.New("time is not an RFC 3339 string"))
	}
	return t
}

// Skip reads any value and discards it, for members a reader may ignore.
func (d *Decoder) Skip() {
	switch c := d.peek(); {
	case d.err != nil:
	case c == '{':
		d.Object(func(string) { d.Skip() })
	case c == '[':
		d.Array(d.Skip)
	case c == '"':
		d.str()
	case c == 'n':
		d.Null()
	case c == 't', c == 'f':
		for _, lit := range []string{"true", "false"} {
			if strings.HasPrefix(d.data[d.pos:], lit) {
				d.pos += len(lit)
				return
			}
		}
		d.unexpected("a value")
	case c == '-', '0' <= c && c <= '9':
		d.number()
	default:
		d.unexpected("a value")
	}
}

// number reads any JSON number.
func (d *Decoder) number() {
	if d.pos < len(d.data) && d.data[d.pos] == '-' {
		d.pos++
	}
	digits := func() int {
		n := 0
		for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
			d.pos++
			n++
		}
		return n
	}
	intStart := d.pos
	switch n := digits(); {
	case n == 0:
		d.unexpected("a digit")
		return
	case n > 1 && d.data[intStart] == '0':
		d.pos = intStart
		d.fail("number with a leading zero")
		return
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if digits() == 0 {
			d.unexpected("a digit")
			return
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if digits() == 0 {
			d.unexpected("a digit")
			return
		}
	}
}

// Strings reads an array of strings; null is a nil slice.
func (d *Decoder) Strings() []string {
	if d.Null() {
		return nil
	}
	out := []string{}
	d.Array(func() { out = append(out, d.String()) })
	return out
}

// StringMap reads an object of strings; null is a nil map.
func (d *Decoder) StringMap() map[string]string {
	if d.Null() {
		return nil
	}
	out := map[string]string{}
	d.Object(func(name string) { out[name] = d.String() })
	return out
}
