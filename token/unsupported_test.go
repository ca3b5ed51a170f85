//go:build !cgo

package token

import (
	"context"
	"testing"

	"github.com/licensor/licensor/codes"
)

// TestUnsupported runs in a CGO_ENABLED=0 build: every call answers
// codes.HWUnsupported (TestBuildWithoutCgo runs it).
func TestUnsupported(t *testing.T) {
	if Supported {
		t.Fatal("Supported is true without cgo")
	}
	ctx := context.Background()
	_, err := Open(ctx, "/usr/lib/softhsm/libsofthsm2.so", 0)
	var m *Module
	_, terr := m.Tokens(ctx)
	_, _, ferr := m.Find(ctx, Selector{})
	_, perr := m.Prove(ctx, Selector{}, []byte("1234"), "x")
	for _, e := range []error{err, terr, ferr, perr, m.Rescan(ctx)} {
		if codes.Of(e) != codes.HWUnsupported {
			t.Errorf("got %v, want code %d", e, codes.HWUnsupported)
		}
	}
}
