// Package block holds what licensor's text files (licenses, key files)
// share in their signed block: a compact JWS wrapped in lines.
package block

import (
	"bytes"
	"fmt"
	"strings"
)

// Join returns the block with its line breaks and other whitespace
// removed: the compact JWS the lines carry.
func Join(block []byte) string {
	// Lines broken by newlines alone, as licensor writes them, are found
	// with a vectorized search for the newline.
	next := func(b []byte) int { return bytes.IndexByte(b, '\n') }
	if bytes.IndexByte(block, ' ') >= 0 || bytes.IndexByte(block, '\t') >= 0 || bytes.IndexByte(block, '\r') >= 0 {
		next = func(b []byte) int { return bytes.IndexAny(b, " \t\r\n") }
	}
	var b strings.Builder
	b.Grow(len(block))
	for len(block) > 0 {
		i := next(block)
		if i < 0 {
			b.Write(block)
			break
		}
		b.Write(block[:i])
		block = block[i+1:]
	}
	return b.String()
}

// Fault is why Unwrap found no signed block; the caller words it, with its
// own code and its own name for the file.
type Fault int

// Unwrap's faults.
const (
	OK         Fault = iota
	Empty            // nothing but whitespace
	NoBegin          // no begin line, and not a bare compact JWS either
	Truncated        // a begin line without its end line
	Several          // more than one block
	EmptyBlock       // the lines between begin and end are empty
)

// Describe words f for a file of the kind noun ("license", "key file")
// whose signed block lies between the lines begin and end.
func (f Fault) Describe(noun, begin, end string) string {
	switch f {
	case OK:
		return ""
	case Empty:
		return "the file is empty"
	case NoBegin:
		return fmt.Sprintf("not a licensor %s: no %s line", noun, begin)
	case Truncated:
		return fmt.Sprintf("the %s is truncated: no %s line", noun, end)
	case Several:
		return "the file holds more than one " + noun
	}
	return "the signed block is empty"
}

// Unwrap returns the compact JWS of a text file: the lines between its
// begin and end lines joined, or the whole file when it is a bare compact
// JWS (one line of three dot-separated parts).
func Unwrap(data []byte, begin, end string) (string, Fault) {
	i := bytes.Index(data, []byte(begin))
	if i < 0 {
		t := bytes.TrimSpace(data)
		switch {
		case len(t) == 0:
			return "", Empty
		case bytes.Count(t, []byte{'.'}) == 2 && !bytes.ContainsAny(t, " \t\r\n"):
			return string(t), OK
		}
		return "", NoBegin
	}
	body := data[i+len(begin):]
	j := bytes.Index(body, []byte(end))
	switch {
	case j < 0:
		return "", Truncated
	case bytes.Contains(body[j+len(end):], []byte(begin)):
		return "", Several
	}
	compact := Join(body[:j])
	if compact == "" {
		return "", EmptyBlock
	}
	return compact, OK
}
