//go:build cgo

package token

import (
	"context"
	"testing"

	"github.com/licensor/licensor/internal/softhsmtest"
)

// BenchmarkProve is one presence proof on SoftHSM2: list the slots, open
// a session, log in, sign a fresh challenge, read the key back, verify.
func BenchmarkProve(b *testing.B) {
	h := softhsmtest.New(b)
	a := h.InitToken("alpha")
	want := thumb(b, h.GenerateECDSA(a, "sign", []byte{1}))
	m := open(b, h)
	ctx := context.Background()
	pin := []byte(a.PIN)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Prove(ctx, Selector{}, pin, want); err != nil {
			b.Fatal(err)
		}
	}
}
