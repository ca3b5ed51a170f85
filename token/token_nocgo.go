//go:build !cgo

package token

import (
	"context"
	"time"

	"github.com/licensor/licensor/codes"
)

// Supported reports whether this binary can load PKCS#11 modules: false
// in a binary built with CGO_ENABLED=0, where every call answers
// codes.HWUnsupported.
const Supported = false

// Module is one loaded PKCS#11 module. Without cgo there is none.
type Module struct{}

// Open answers codes.HWUnsupported: this binary was built without cgo.
func Open(ctx context.Context, path string, timeout time.Duration) (*Module, error) {
	return nil, unsupported()
}

// Close does nothing.
func (m *Module) Close() error { return nil }

// Info is empty.
func (m *Module) Info() ModuleInfo { return ModuleInfo{} }

// Rescan answers codes.HWUnsupported.
func (m *Module) Rescan(ctx context.Context) error { return unsupported() }

// Tokens answers codes.HWUnsupported.
func (m *Module) Tokens(ctx context.Context) ([]Token, error) { return nil, unsupported() }

// Find answers codes.HWUnsupported.
func (m *Module) Find(ctx context.Context, sel Selector) (Token, Key, error) {
	return Token{}, Key{}, unsupported()
}

// Prove answers codes.HWUnsupported.
func (m *Module) Prove(ctx context.Context, sel Selector, pin []byte, want string) (Proof, error) {
	return Proof{}, unsupported()
}

// unsupported is the error of every call in a binary without cgo.
func unsupported() error {
	return codes.Errorf(codes.HWUnsupported, "this licensor binary was built without hardware token support (CGO_ENABLED=0)")
}
