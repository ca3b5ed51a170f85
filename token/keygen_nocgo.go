//go:build !cgo

package token

import "context"

// GenerateKey answers codes.HWUnsupported.
func (m *Module) GenerateKey(ctx context.Context, sel Selector, pin []byte, alg, label string, id []byte) (Token, Key, error) {
	return Token{}, Key{}, unsupported()
}
