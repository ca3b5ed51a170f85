package server

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAll reads bodies of every size, in pieces of every shape, into
// buffers with and without room, and keeps what a failing reader gave.
func TestReadAll(t *testing.T) {
	body := strings.Repeat("licensor-", 500) // 4,500 bytes: past a buffer's first growth
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		r    func(s string) io.Reader
		dst  []byte
		err  error
	}{
		{"whole", func(s string) io.Reader { return strings.NewReader(s) }, nil, nil},
		{"one byte at a time", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }, nil, nil},
		{"half at a time", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }, make([]byte, 0, 16), nil},
		{"EOF with the data", func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) }, make([]byte, 0, 2048), nil},
		{"into a used buffer", func(s string) io.Reader { return strings.NewReader(s) }, []byte("old")[:0], nil},
		{"a failing reader", func(s string) io.Reader { return io.MultiReader(strings.NewReader(s), iotest.ErrReader(boom)) }, nil, boom},
	} {
		for _, n := range []int{0, 1, 511, 512, 2048, len(body)} {
			got, err := readAll(tc.r(body[:n]), tc.dst)
			if !errors.Is(err, tc.err) {
				t.Errorf("%s, %d bytes: error %v, want %v", tc.name, n, err, tc.err)
			}
			if !bytes.Equal(got, []byte(body[:n])) {
				t.Errorf("%s, %d bytes: read %d bytes, not the body", tc.name, n, len(got))
			}
		}
	}
}
